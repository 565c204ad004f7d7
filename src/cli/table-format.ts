/**
 * Text for terminals: aligned tables, shortened cells, sparklines and progress bars. Plain
 * characters and no colours, so output reads the same in a pipe, a log and a test.
 */

/**
 * Rows as an aligned text table with a header, as `clickhouse client` prints `PrettyCompact`-ish;
 * a row count under it unless `footer: false`.
 */
export function formatTable(rows: Record<string, unknown>[], options: { footer?: boolean } = {}): string {
  if (rows.length === 0) return '(0 rows)\n';
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) => columns.map((c) => cellText(row[c])));
  const widths = columns.map((c, i) => Math.max(displayWidth(c), ...cells.map((r) => displayWidth(r[i]!))));
  const line = (values: string[]) => values.map((v, i) => v + ' '.repeat(widths[i]! - displayWidth(v))).join('  ').trimEnd();
  const out = [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
  const footer = options.footer === false ? '' : `(${rows.length} row${rows.length === 1 ? '' : 's'})\n`;
  return `${out.join('\n')}\n${footer}`;
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value).replace(/\n/g, '\\n');
}

/** Code points, not UTF-16 units: the sparkline blocks are one column each. */
function displayWidth(text: string): number {
  return [...text].length;
}

/** One line of at most `max` characters, with `…` where it was cut. */
export function truncate(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const chars = [...flat];
  return chars.length <= max ? flat : `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

const SPARKS = '▁▂▃▄▅▆▇█';

/**
 * One character per value on a fixed 0..1 scale (scores are 0..1, and a fixed scale lets two
 * lines be compared); a bucket without a value is a space, so gaps in traffic show as gaps.
 */
export function sparkline(values: readonly (number | null)[]): string {
  return values
    .map((value) => {
      if (value === null || !Number.isFinite(value)) return ' ';
      const clamped = Math.min(1, Math.max(0, value));
      return SPARKS[Math.round(clamped * (SPARKS.length - 1))]!;
    })
    .join('');
}

/** `[#########.........]  45/100` */
export function progressBar(done: number, total: number, width = 30): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(done).padStart(String(total).length)}/${total}`;
}

/** A score to 3 decimals, or `-` when there is none. */
export function formatScore(score: number | null | undefined): string {
  return score === null || score === undefined ? '-' : Number(score.toFixed(3)).toString();
}

/** US dollars, with enough decimals for LLM call costs; `n/a` when unknown. */
export function formatUsd(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return 'n/a';
  if (usd === 0) return '$0';
  if (usd < 0.0001) return '<$0.0001';
  return usd >= 1 ? `$${usd.toFixed(2)}` : `$${Number(usd.toPrecision(3))}`;
}
