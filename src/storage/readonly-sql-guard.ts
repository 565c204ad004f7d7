/**
 * The one write that `readonly = 1` does not stop in the embedded engine: chdb runs
 * clickhouse-local, where `SELECT ... INTO OUTFILE 'path'` writes a file on this host even
 * in readonly mode (a ClickHouse server refuses INTO OUTFILE over HTTP). Everything else
 * (INSERT, DDL, SYSTEM, OPTIMIZE, table functions such as file() or url(), SET) is refused
 * by ClickHouse itself.
 *
 * @throws Error when `sql` contains INTO OUTFILE outside string literals, quoted
 * identifiers and comments.
 */
export function refuseFileOutput(sql: string): void {
  if (/\bINTO\s+OUTFILE\b/i.test(withoutLiteralsAndComments(sql))) {
    throw new Error('readonly queries cannot write files: remove INTO OUTFILE and redirect the output instead');
  }
}

/** `sql` with string literals, quoted identifiers and comments blanked out. */
function withoutLiteralsAndComments(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === '`') {
      i = endOfQuoted(sql, i, c);
      out += ' ';
    } else if (c === '-' && sql[i + 1] === '-') {
      // `#` comments are left alone on purpose: blanking too little can only refuse a
      // harmless query, blanking too much could let a file write through.
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
      out += ' ';
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
      out += ' ';
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Index just past the quoted text starting at `start` (backslash escapes and doubled quotes). */
function endOfQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === '\\') {
      i += 2;
    } else if (sql[i] === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i += 2;
    } else {
      i++;
    }
  }
  return sql.length;
}
