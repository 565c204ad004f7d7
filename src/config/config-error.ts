/** One problem in a config file, located as precisely as the file allows. */
export interface ConfigIssue {
  /** Dotted key path, e.g. `rules[0].sampling_rate`; empty for the whole file. */
  path: string;
  /** 1-based line in the file, when known. */
  line?: number;
  column?: number;
  message: string;
}

/** The config cannot be used; `issues` lists every problem found, not just the first. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${file}: ${issues.length} config error${issues.length === 1 ? '' : 's'}:\n${issues.map((i) => `  ${formatIssue(file, i)}`).join('\n')}`);
  }
}

export function formatIssue(file: string, issue: ConfigIssue): string {
  const where = issue.line !== undefined ? `${file}:${issue.line}${issue.column !== undefined ? `:${issue.column}` : ''}` : file;
  return `${where}: ${issue.path === '' ? '' : `${issue.path}: `}${issue.message}`;
}

/** `['rules', 0, 'name']` → `rules[0].name` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const step of path) {
    if (typeof step === 'number') out += `[${step}]`;
    else out += out === '' ? String(step) : `.${String(step)}`;
  }
  return out;
}
