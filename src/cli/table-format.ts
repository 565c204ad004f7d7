/** Rows as an aligned text table with a header, as `clickhouse client` prints `PrettyCompact`-ish. */
export function formatTable(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(0 rows)\n';
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) => columns.map((c) => cellText(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
  return `${out.join('\n')}\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`;
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value).replace(/\n/g, '\\n');
}
