import type { FilterPos } from './filter-ast.js';

/** Lines longer than this are shown as a window around the offending column, so one huge filter does not flood the log. */
const MAX_EXCERPT_WIDTH = 100;
const EXCERPT_CONTEXT = 40;

/**
 * A filter that cannot be parsed. `headline` is one line (`<what> at <line>:<column>[: <hint>]`)
 * for places that add their own location, such as config errors; `message` adds the offending
 * line of the filter with a caret under the column.
 */
export class FilterSyntaxError extends Error {
  override readonly name = 'FilterSyntaxError';
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  readonly headline: string;

  constructor(
    /** What is wrong, without the position. */
    readonly summary: string,
    pos: FilterPos,
    source: string,
    /** Advice on how to fix it, or `''`. */
    readonly hint = '',
  ) {
    const headline = `${summary} at ${formatPos(pos)}${hint === '' ? '' : `: ${hint}`}`;
    super(`${headline}\n${excerpt(source, pos)}`);
    this.offset = pos.offset;
    this.line = pos.line;
    this.column = pos.column;
    this.headline = headline;
  }
}

export function formatPos(pos: FilterPos): string {
  return `${pos.line}:${pos.column}`;
}

function isLineBreak(code: number): boolean {
  return code === 10 || code === 13;
}

function excerpt(source: string, pos: FilterPos): string {
  let start = Math.min(pos.offset, source.length);
  while (start > 0 && !isLineBreak(source.charCodeAt(start - 1))) start--;
  let end = Math.min(pos.offset, source.length);
  while (end < source.length && !isLineBreak(source.charCodeAt(end))) end++;
  const chars = Array.from(source.slice(start, end));
  const caret = Math.min(Math.max(pos.column - 1, 0), chars.length);

  let from = 0;
  let to = chars.length;
  if (chars.length > MAX_EXCERPT_WIDTH) {
    from = Math.max(0, caret - EXCERPT_CONTEXT);
    to = Math.min(chars.length, caret + EXCERPT_CONTEXT);
  }
  const before = from > 0 ? '…' : '';
  const after = to < chars.length ? '…' : '';
  // Tabs stay tabs under the line so the caret lines up whatever the tab width.
  const padding = chars
    .slice(from, caret)
    .map((ch) => (ch === '\t' ? '\t' : ' '))
    .join('');
  return `  ${before}${chars.slice(from, to).join('')}${after}\n  ${before === '' ? '' : ' '}${padding}^`;
}
