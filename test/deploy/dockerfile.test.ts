import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../helpers/package-root.js';
import { execForm, ignoredByDockerignore, lintDockerfile, parseDockerfile } from './dockerfile-lint.js';

const dockerfile = readFileSync(join(PACKAGE_ROOT, 'deploy/Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(PACKAGE_ROOT, '.dockerignore'), 'utf8');
const context = { dir: PACKAGE_ROOT, dockerignore };

/** The Dockerfile with one fragment replaced; throws if the fragment is gone, so no mutation silently tests nothing. */
function mutate(from: string | RegExp, to: string, text = dockerfile): string {
  const found = typeof from === 'string' ? text.includes(from) : from.test(text);
  if (!found) throw new Error(`deploy/Dockerfile no longer contains ${String(from)}: update this test`);
  return text.replace(from, to);
}

const rulesOf = (text: string, withContext = false) => lintDockerfile(text, withContext ? { context } : {}).map((f) => f.rule);
const runtime = () => parseDockerfile(dockerfile).stages.at(-1)!;

describe('deploy/Dockerfile', () => {
  it('has no diagnostics from dockerfile-utils (the VS Code Docker validator)', () => {
    expect(validate(dockerfile)).toEqual([]);
  });

  it('passes every rule of test/deploy/dockerfile-lint.ts, build context included', () => {
    expect(lintDockerfile(dockerfile, { context })).toEqual([]);
  });

  it('runs on a Debian slim Node image pinned to a version, in every stage', () => {
    const { stages } = parseDockerfile(dockerfile);
    expect(stages.map((s) => s.name)).toEqual(['build', 'prod-deps', 'runtime']);
    for (const stage of stages) expect(stage.resolvedImage).toMatch(/^node:\d+\.\d+\.\d+-(bookworm|trixie)-slim$/);
  });

  it('exposes the receivers and the admin endpoint, and defaults to the shipped server config', () => {
    const args = (keyword: string) => runtime().instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
    expect(args('EXPOSE').join(' ').split(/\s+/).sort()).toEqual(['13133', '4317', '4318']);
    expect(execForm(args('CMD').at(-1)!)).toEqual(['run', '--config', '/etc/spanscore/spanscore.yaml']);
    expect(args('COPY')).toContain('deploy/spanscore-clickhouse-server.yaml /etc/spanscore/spanscore.yaml');
  });

  it('starts the compiled CLI under tini and checks health with node on /healthz', () => {
    const entrypoint = execForm(runtime().instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args)!;
    expect(entrypoint).toEqual(['/usr/bin/tini', '--', 'node', '--max-semi-space-size=8', '/app/dist/cli/main.js']);
    // dist/cli/main.js is what tsc makes of src/cli/main.ts.
    expect(() => readFileSync(join(PACKAGE_ROOT, 'src/cli/main.ts'))).not.toThrow();
    const healthcheck = runtime().instructions.find((i) => i.keyword === 'HEALTHCHECK')!.args;
    expect(execForm(healthcheck.replace(/^.*?CMD\s+/s, ''))?.[0]).toBe('node');
    const url = runtime().instructions.find((i) => i.keyword === 'ENV' && i.args.startsWith('SPANSCORE_HEALTHCHECK_URL='))!.args;
    expect(url).toBe('SPANSCORE_HEALTHCHECK_URL=http://127.0.0.1:13133/healthz');
  });

  it('puts proto/ where the compiled receivers look for it', () => {
    // src/receivers/otlp-schema.ts finds the .proto files relative to its own compiled location.
    const source = readFileSync(join(PACKAGE_ROOT, 'src/receivers/otlp-schema.ts'), 'utf8');
    const relative = /PROTO_DIR = fileURLToPath\(new URL\('([^']+)', import\.meta\.url\)\)/.exec(source)?.[1];
    expect(relative).toBeDefined();
    const workdir = runtime().instructions.find((i) => i.keyword === 'WORKDIR')!.args;
    const protoInImage = posix.resolve(workdir, 'dist/receivers', relative!);
    const copies = runtime().instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args.split(/\s+/));
    const protoCopy = copies.find((words) => words.at(-2) === 'proto')!;
    expect(posix.resolve(workdir, protoCopy.at(-1)!)).toBe(protoInImage);
    expect(copies.some((words) => words[0] === '--from=build' && posix.resolve(workdir, words.at(-1)!) === posix.join(workdir, 'dist'))).toBe(true);
  });
});

describe('the Dockerfile checker fires on bad Dockerfiles', () => {
  const cases: [rule: string, text: () => string][] = [
    ['base-image-tagged', () => mutate('ARG NODE_IMAGE=node:22.23.3-bookworm-slim', 'ARG NODE_IMAGE=node')],
    ['base-image-not-latest', () => mutate('ARG NODE_IMAGE=node:22.23.3-bookworm-slim', 'ARG NODE_IMAGE=node:latest')],
    ['apt-no-recommends', () => mutate(' --no-install-recommends', '')],
    ['apt-assume-yes', () => mutate('install -y ', 'install ')],
    ['apt-lists-removed', () => mutate(' \\\n && rm -rf /var/lib/apt/lists/*', '')],
    ['apt-get-not-apt', () => mutate('apt-get install', 'apt install')],
    ['non-root-user', () => mutate('USER 10001:10001', 'USER root')],
    ['non-root-user', () => mutate('USER 10001:10001\n', '')],
    ['numeric-user', () => mutate('USER 10001:10001', 'USER node')],
    ['copy-not-add', () => mutate('COPY proto ./proto', 'ADD proto ./proto')],
    ['npm-ci', () => mutate('npm ci --omit=dev', 'npm install --omit=dev')],
    ['exec-form', () => mutate(/ENTRYPOINT \[.*\]/, 'ENTRYPOINT /usr/bin/tini -- node /app/dist/cli/main.js')],
    ['exec-form', () => mutate(/CMD \["run".*\]/, 'CMD run --config /etc/spanscore/spanscore.yaml')],
    ['healthcheck', () => mutate(/HEALTHCHECK [^\n]*\\\n[^\n]*\n/, '')],
    ['healthcheck', () => mutate(/HEALTHCHECK [^\n]*\\\n[^\n]*\n/, 'HEALTHCHECK NONE\n')],
    ['tini-pid1', () => mutate('"/usr/bin/tini", "--", ', '')],
    ['tini-pid1', () => mutate('--no-install-recommends tini', '--no-install-recommends ca-certificates')],
    ['runtime-prod-deps-only', () => mutate('COPY --from=prod-deps /src/node_modules', 'COPY --from=build /src/node_modules')],
    ['runtime-prod-deps-only', () => mutate('--omit=dev --omit=optional', '--omit=dev')],
    ['runtime-prod-deps-only', () => mutate('COPY --from=prod-deps /src/node_modules ./node_modules', 'COPY node_modules ./node_modules')],
    ['runtime-no-chdb', () => mutate('COPY package.json ./', 'COPY --from=build /src/node_modules/chdb ./node_modules/chdb\nCOPY package.json ./')],
    ['runtime-no-npm-install', () => mutate('WORKDIR /app\n', 'WORKDIR /app\nRUN npm ci --omit=dev --omit=optional --ignore-scripts\n')],
    ['prod-install-ignores-scripts', () => mutate('--omit=dev --omit=optional --ignore-scripts', '--omit=dev --omit=optional')],
    ['copy-from-defined-stage', () => mutate('--from=prod-deps', '--from=prod-dep')],
    ['copy-from-not-self', () => mutate('COPY --from=build /src/dist', 'COPY --from=runtime /src/dist')],
    ['stage-names-unique', () => mutate('AS prod-deps', 'AS build')],
    ['workdir-absolute', () => mutate('WORKDIR /app', 'WORKDIR app')],
    ['from-present', () => 'RUN true\n'],
  ];
  it.each(cases)('%s', (rule, text) => {
    expect(rulesOf(text())).toContain(rule);
  });

  it('reports each finding with its hadolint rule and line', () => {
    const finding = lintDockerfile(mutate('USER 10001:10001', 'USER root')).find((f) => f.rule === 'non-root-user')!;
    expect(finding.hadolint).toBe('DL3002');
    expect(dockerfile.split('\n')[finding.line - 1]).toBe('USER 10001:10001');
  });

  it('checks COPY sources against the build context and .dockerignore', () => {
    expect(rulesOf(mutate('COPY proto ./proto', 'COPY protos ./proto'), true)).toContain('copy-source-exists');
    const hidesProto = lintDockerfile(dockerfile, { context: { dir: PACKAGE_ROOT, dockerignore: `${dockerignore}\nproto\n` } });
    expect(hidesProto.map((f) => f.rule)).toEqual(['copy-source-not-ignored']);
  });

  it('leaves syntax to dockerfile-utils, which does flag it', () => {
    const codes = validate(mutate('COPY --from=build', 'COPY --frm=build')).map((d) => d.message);
    expect(codes).toContain('Unknown flag: frm');
    expect(validate(mutate('--interval=30s', '--interval=30')).length).toBeGreaterThan(0);
  });
});

describe('.dockerignore', () => {
  it('lets through only what the build copies', () => {
    for (const path of ['package.json', 'package-lock.json', 'src/cli/main.ts', 'proto/opentelemetry', 'deploy/spanscore-clickhouse-server.yaml', 'tsconfig.build.json']) {
      expect(ignoredByDockerignore(path, dockerignore), path).toBe(false);
    }
    for (const path of ['node_modules/chdb/index.js', 'dist/cli/main.js', 'data/clickhouse', '.git/HEAD', 'test/deploy/dockerfile.test.ts', 'deploy/kubernetes/base/secret.yaml']) {
      expect(ignoredByDockerignore(path, dockerignore), path).toBe(true);
    }
  });

  it('matches as Docker does: last pattern wins, a directory covers its contents, * stays within a segment', () => {
    expect(ignoredByDockerignore('a/b/c.txt', 'a\n')).toBe(true);
    expect(ignoredByDockerignore('a/b/c.txt', 'a\n!a/b\n')).toBe(false);
    expect(ignoredByDockerignore('a/b/c.txt', '*.txt\n')).toBe(false);
    expect(ignoredByDockerignore('a/b/c.txt', '**/*.txt\n')).toBe(true);
  });
});
