/**
 * `apply_to.span_names`: exact names, or globs where `*` stands for any run of characters
 * (`chat *` selects `chat gpt-4o` and `chat claude`, as the instrumentations name their LLM
 * spans after the model). Everything else is literal. The same patterns are matched in the
 * pipeline (`matches`) and in ClickHouse for rules tests, backfills and recovery (`toSql`),
 * so that both select the same spans.
 */
export class SpanNamePatterns {
  readonly #exact: ReadonlySet<string>;
  readonly #globs: readonly string[];
  readonly #regexps: readonly RegExp[];

  constructor(names: readonly string[]) {
    this.#exact = new Set(names.filter((name) => !name.includes('*')));
    this.#globs = names.filter((name) => name.includes('*'));
    // `s`: a star also spans line breaks, as `%` does in LIKE.
    this.#regexps = this.#globs.map((glob) => new RegExp(`^${glob.split('*').map(escapeRegExp).join('.*')}$`, 's'));
  }

  get empty(): boolean {
    return this.#exact.size === 0 && this.#globs.length === 0;
  }

  matches(name: string): boolean {
    return this.#exact.has(name) || this.#regexps.some((regexp) => regexp.test(name));
  }

  /** `SpanName` against the patterns in ClickHouse SQL (`'0'` when there are none); values go into `params` under `prefix`. */
  toSql(params: Record<string, unknown>, prefix: string): string {
    const alternatives: string[] = [];
    if (this.#exact.size > 0) {
      alternatives.push(`SpanName IN {${prefix}:Array(String)}`);
      params[prefix] = [...this.#exact];
    }
    this.#globs.forEach((glob, index) => {
      alternatives.push(`SpanName LIKE {${prefix}_like${index}:String}`);
      params[`${prefix}_like${index}`] = globToLike(glob);
    });
    return alternatives.length === 0 ? '0' : alternatives.join(' OR ');
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `*` becomes `%`; LIKE's own `%`, `_` and `\` are escaped so that they match themselves. */
function globToLike(glob: string): string {
  return glob
    .split('*')
    .map((part) => part.replace(/[\\%_]/g, '\\$&'))
    .join('%');
}
