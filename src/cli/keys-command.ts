import { generateApiKey } from '../auth/api-key-generator.js';
import { PERMISSIONS, type Permission } from '../auth/api-key-spec.js';

export interface KeysCreateOptions {
  name: string;
  /** Empty = every project (`*`). */
  projects: string[];
  /** Empty = `ingest` only, the least a key can do. */
  permissions: string[];
}

/** Same rule as `auth.keys[].name` in the config schema, so the printed entry loads. */
const KEY_NAME = /^[A-Za-z0-9_.:-]+$/;
const USAGE_ERROR = 2;

/**
 * `spanscore keys create`: prints a new key and the `auth.keys` entry that admits it.
 * The key is printed once and kept nowhere; the config only ever holds its hash.
 */
export function keysCreateCommand(options: KeysCreateOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream = process.stderr): number {
  const problems = validate(options);
  if (problems.length > 0) {
    for (const problem of problems) err.write(`spanscore keys create: ${problem}\n`);
    return USAGE_ERROR;
  }
  const projects = options.projects.length === 0 ? ['*'] : [...new Set(options.projects)];
  const permissions = options.permissions.length === 0 ? ['ingest'] : [...new Set(options.permissions)];
  const { key, sha256 } = generateApiKey();
  out.write(
    [
      `API key "${options.name}" (shown only now: spanscore keeps just its hash):`,
      '',
      `  ${key}`,
      '',
      'Clients send it as the header `Authorization: Bearer <key>`.',
      // Apart from the key: pasting the entry must not copy the key into the config.
      'Paste these lines under auth.keys in the config:',
      '',
      `- name: ${options.name}`,
      `  hash: sha256:${sha256}`,
      // JSON strings are valid YAML flow scalars: any project name survives quoting.
      `  projects: [${projects.map((p) => JSON.stringify(p)).join(', ')}]`,
      `  permissions: [${permissions.join(', ')}]`,
      '',
    ].join('\n'),
  );
  return 0;
}

function validate({ name, projects, permissions }: KeysCreateOptions): string[] {
  const problems: string[] = [];
  if (!KEY_NAME.test(name)) problems.push(`--name ${JSON.stringify(name)}: use letters, digits and _ . : - only`);
  if (projects.some((project) => project === '')) problems.push('--project must not be empty');
  if (projects.includes('*') && new Set(projects).size > 1) problems.push('--project `*` already covers every project; give projects or `*`, not both');
  for (const permission of permissions) {
    if (!PERMISSIONS.includes(permission as Permission)) {
      problems.push(`--permission ${JSON.stringify(permission)}: use one of ${PERMISSIONS.join(', ')}`);
    }
  }
  return problems;
}
