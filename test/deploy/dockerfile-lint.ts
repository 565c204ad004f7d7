import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A hadolint stand-in for deploy/Dockerfile. hadolint itself cannot be installed here (it is
 * not packaged by Debian and its npm wrapper downloads a binary at install time), so the rules
 * that matter for this image are written out; `hadolint` names the rule each one mirrors.
 * Syntax (unknown flags, bad durations, JSON in single quotes) is left to dockerfile-utils.
 *
 * Deliberately not mirrored: DL3008 (pin apt package versions). Debian drops a superseded
 * version from its archive with each security update, so a pinned `tini=...` would break
 * rebuilds; the base image's version tag fixes the Debian release instead.
 */

export interface Instruction {
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

export interface Stage {
  /** `FROM` image as written, and with global ARG defaults substituted. */
  image: string;
  resolvedImage: string;
  name: string | undefined;
  /** Line of the FROM. */
  line: number;
  instructions: Instruction[];
}

export interface Finding {
  rule: string;
  /** The hadolint rule this one mirrors, if any. */
  hadolint?: string;
  line: number;
  message: string;
}

export interface LintOptions {
  /** Check COPY sources against this directory (the build context) and its .dockerignore text. */
  context?: { dir: string; dockerignore: string };
}

export function parseDockerfile(text: string): { globalArgs: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!.trim();
    if (first === '' || first.startsWith('#')) continue;
    const line = i + 1;
    let joined = lines[i]!;
    // A trailing backslash continues the instruction; comment lines inside it are dropped, as Docker does.
    while (/\\\s*$/.test(joined) && i + 1 < lines.length) {
      joined = joined.replace(/\\\s*$/, ' ');
      i++;
      if (!lines[i]!.trim().startsWith('#')) joined += lines[i]!;
    }
    const match = /^\s*(\S+)\s*(.*)$/s.exec(joined)!;
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line });
  }
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const image = words[0] ?? '';
      const resolvedImage = image.replace(/\$\{?(\w+)\}?/g, (_, name: string) => globalArgs.get(name) ?? '');
      const name = words[1]?.toUpperCase() === 'AS' ? words[2] : undefined;
      stages.push({ image, resolvedImage, name, line: instruction.line, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword === 'ARG') {
        const [name, value = ''] = instruction.args.split('=', 2);
        globalArgs.set(name!.trim(), value.trim().replace(/^"(.*)"$/, '$1'));
      }
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

/** `--name=value` flags of COPY/ADD/RUN, and the words after them. */
function flagsAndWords(args: string): { flags: Map<string, string>; words: string[] } {
  const flags = new Map<string, string>();
  const words = args.split(/\s+/).filter(Boolean);
  while (words[0]?.startsWith('--')) {
    const [name, value = ''] = words.shift()!.slice(2).split('=', 2);
    flags.set(name!, value);
  }
  return { flags, words };
}

/** The exec (JSON) form as an array, or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) && parsed.every((p) => typeof p === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Shell commands of a RUN, split at && ; || so each can be checked alone. */
function commands(run: string): string[] {
  return run.split(/&&|\|\||;/).map((c) => c.trim()).filter(Boolean);
}

const ROOT_USERS = new Set(['root', '0']);

/** Every finding of the rules above; empty for a Dockerfile that passes them all. */
export function lintDockerfile(text: string, options: LintOptions = {}): Finding[] {
  const findings: Finding[] = [];
  const add = (rule: string, hadolint: string | undefined, line: number, message: string) =>
    findings.push({ rule, ...(hadolint && { hadolint }), line, message });
  const { stages } = parseDockerfile(text);
  if (stages.length === 0) {
    add('from-present', undefined, 1, 'no FROM instruction');
    return findings;
  }
  const stageNames = new Set<string>();
  const npmCiByStage = new Map<string, { words: string[]; line: number }>();

  stages.forEach((stage, index) => {
    const fromLine = stage.line;
    // `FROM build` continues an earlier stage: no registry image, nothing to pin.
    if (!stageNames.has(stage.resolvedImage)) {
      const ref = stage.resolvedImage;
      const tag = ref.includes('@') ? undefined : /:([^/:]+)$/.exec(ref)?.[1];
      if (!ref.includes('@') && tag === undefined) add('base-image-tagged', 'DL3006', fromLine, `base image "${ref}" has no tag: pin a version`);
      if (tag === 'latest') add('base-image-not-latest', 'DL3007', fromLine, `base image "${ref}" uses the "latest" tag: pin a version`);
    }
    if (stage.name !== undefined && stageNames.has(stage.name)) add('stage-names-unique', 'DL3024', fromLine, `stage name "${stage.name}" is used twice`);

    for (const instruction of stage.instructions) {
      const { keyword, args, line } = instruction;
      if (keyword === 'ADD') add('copy-not-add', 'DL3020', line, 'use COPY, not ADD (ADD also fetches URLs and unpacks archives)');
      if (keyword === 'MAINTAINER') add('no-maintainer', 'DL4000', line, 'MAINTAINER is deprecated: use a LABEL');
      if (keyword === 'WORKDIR' && !args.startsWith('/') && !args.startsWith('$')) add('workdir-absolute', 'DL3000', line, `WORKDIR ${args} is relative`);
      if ((keyword === 'ENTRYPOINT' || keyword === 'CMD') && execForm(args) === undefined) {
        add('exec-form', 'DL3025', line, `${keyword} in shell form: /bin/sh becomes the process and swallows SIGTERM; use the JSON (exec) form`);
      }
      if (keyword === 'COPY') {
        const from = flagsAndWords(args).flags.get('from');
        if (from !== undefined && !/^\d+$/.test(from) && !stageNames.has(from)) {
          const self = from === stage.name;
          add(self ? 'copy-from-not-self' : 'copy-from-defined-stage', self ? 'DL3023' : 'DL3022', line, `COPY --from=${from} names ${self ? 'its own stage' : 'no earlier stage'}`);
        }
      }
      if (keyword === 'RUN') {
        for (const command of commands(args)) {
          if (/^apt\s/.test(command)) add('apt-get-not-apt', 'DL3027', line, 'use apt-get, not apt (apt has no stable CLI for scripts)');
          if (/^apt-get\s+(.*\s)?install\b/.test(command)) {
            if (!/\s--no-install-recommends\b/.test(command)) add('apt-no-recommends', 'DL3015', line, 'apt-get install without --no-install-recommends');
            if (!/\s(-y|--yes|-qq?y|--assume-yes)\b/.test(command)) add('apt-assume-yes', 'DL3014', line, 'apt-get install without -y');
            if (!/rm\s+-(rf|fr|r)\s+\/var\/lib\/apt\/lists/.test(args)) add('apt-lists-removed', 'DL3009', line, 'the same RUN must delete /var/lib/apt/lists/* after apt-get install');
          }
          if (/^npm\s+(install|i)\b/.test(command)) add('npm-ci', 'DL3016', line, 'npm install resolves versions at build time; use npm ci (the lockfile)');
          if (/^npm\s+ci\b/.test(command) && stage.name !== undefined) npmCiByStage.set(stage.name, { words: command.split(/\s+/), line });
        }
      }
    }
    if (stage.name !== undefined) stageNames.add(stage.name);
    if (index === stages.length - 1) lintRuntimeStage(stage, npmCiByStage, add);
  });

  for (const [stage, { words, line }] of npmCiByStage) {
    if (words.includes('--omit=dev') && !words.includes('--ignore-scripts')) {
      add('prod-install-ignores-scripts', undefined, line, `stage ${stage}: npm ci --omit=dev runs the package's "prepare" (tsc, a dev dependency) unless --ignore-scripts`);
    }
  }
  if (options.context) lintContext(stages, options.context, add);
  return findings;
}

type Add = (rule: string, hadolint: string | undefined, line: number, message: string) => void;

function lintRuntimeStage(stage: Stage, npmCi: Map<string, { words: string[] }>, add: Add): void {
  const lastLine = stage.instructions.at(-1)?.line ?? 0;
  const users = stage.instructions.filter((i) => i.keyword === 'USER');
  const user = users.at(-1);
  if (user === undefined) add('non-root-user', 'DL3002', lastLine, 'the runtime stage has no USER, so it runs as root');
  else {
    const name = user.args.split(':')[0]!;
    if (ROOT_USERS.has(name)) add('non-root-user', 'DL3002', user.line, 'the last USER is root');
    else if (!/^\d+$/.test(name)) add('numeric-user', undefined, user.line, `USER ${name}: use a numeric uid so Kubernetes runAsNonRoot can verify it`);
  }
  if (!stage.instructions.some((i) => i.keyword === 'HEALTHCHECK' && !/^NONE\b/i.test(i.args))) {
    add('healthcheck', 'DL3057', lastLine, 'the runtime stage has no HEALTHCHECK');
  }
  const entrypoint = execForm(stage.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)?.args ?? '');
  if (!entrypoint || !/(^|\/)tini$/.test(entrypoint[0]!) || entrypoint[1] !== '--') {
    add('tini-pid1', undefined, lastLine, 'ENTRYPOINT must start with ["/usr/bin/tini", "--", ...] so that tini is PID 1 and forwards SIGTERM to node');
  } else if (!stage.instructions.some((i) => i.keyword === 'RUN' && /apt-get\s+(.*\s)?install\b.*\btini\b/.test(i.args)) && !stage.instructions.some((i) => i.keyword === 'COPY' && /tini/.test(i.args))) {
    add('tini-pid1', undefined, lastLine, 'ENTRYPOINT runs tini, but the runtime stage does not install it');
  }
  for (const instruction of stage.instructions) {
    const { keyword, args, line } = instruction;
    if (keyword === 'RUN' && /\bnpm\s+(ci|install|i)\b/.test(args)) {
      add('runtime-no-npm-install', undefined, line, 'install modules in a separate stage and copy them: the runtime stage must not run npm');
    }
    if (keyword !== 'COPY') continue;
    const { flags, words } = flagsAndWords(args);
    const sources = words.slice(0, -1);
    if (sources.some((s) => /(^|\/)node_modules(\/|$)/.test(s))) {
      const from = flags.get('from');
      const install = from === undefined ? undefined : npmCi.get(from)?.words;
      if (from === undefined) add('runtime-prod-deps-only', undefined, line, 'node_modules copied from the build context: dev dependencies and chdb would come along');
      else if (!install || !install.includes('--omit=dev') || !install.includes('--omit=optional')) {
        add('runtime-prod-deps-only', undefined, line, `node_modules copied from stage ${from}, whose npm ci lacks --omit=dev and --omit=optional (dev dependencies, chdb's 540 MB engine)`);
      }
    }
    if (sources.some((s) => /chdb/.test(s))) add('runtime-no-chdb', undefined, line, 'the server image must not carry chdb');
  }
}

/** Docker's .dockerignore matching, enough for plain paths and `*` / `**` globs: the last matching pattern wins. */
export function ignoredByDockerignore(path: string, dockerignore: string): boolean {
  const patterns = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const candidates = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const regex = new RegExp(`^${pattern.split('**').map((part) => part.split('*').map(escapeRegex).join('[^/]*')).join('.*')}$`);
    // A pattern that matches a parent directory covers everything under it.
    if (candidates.some((c) => regex.test(c))) ignored = !negated;
  }
  return ignored;
}

function escapeRegex(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

function lintContext(stages: Stage[], context: NonNullable<LintOptions['context']>, add: Add): void {
  for (const stage of stages) {
    for (const { keyword, args, line } of stage.instructions) {
      if (keyword !== 'COPY') continue;
      const { flags, words } = flagsAndWords(args);
      if (flags.has('from')) continue;
      for (const source of words.slice(0, -1)) {
        const path = source.replace(/^\.\//, '').replace(/\/$/, '');
        if (!existsSync(join(context.dir, path))) add('copy-source-exists', undefined, line, `COPY source ${source} is not in the build context`);
        else if (ignoredByDockerignore(path, context.dockerignore)) add('copy-source-not-ignored', undefined, line, `COPY source ${source} is excluded by .dockerignore`);
      }
    }
  }
}
