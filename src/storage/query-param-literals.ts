/**
 * Query parameters written into the statement as literals, for statements with more
 * parameters than ClickHouse's HTTP interface takes.
 *
 * @clickhouse/client sends parameters as `param_<name>` fields of the URL (or, if asked, of a
 * multipart body), and ClickHouse reads those as an HTML form: it refuses more than 1000
 * fields ("Too many form fields"), a field over 128 KiB ("Field value too long") and a URL over
 * 1 MiB ("URI too long"), whatever the statement. A compiled filter has a parameter per
 * literal, so a filter of 20,000 ORs or a 50,000-item IN list cannot be sent that way at all.
 * The statement itself is the request body, which has no such limits (its parse limits are
 * raised to fit it: statement-limits.ts), so past a modest count the values go there.
 *
 * Only what can be written exactly is inlined: String values as string literals, numbers as a
 * CAST of their text (what ClickHouse does with a bound parameter: the literal alone would be
 * typed by its value, `1` a UInt8), non-empty string arrays as array literals. Anything else
 * stays a parameter; few ever are. The embedded engine binds in-process, without these limits,
 * but gets the same statement so that both modes run the same SQL.
 */

/** A statement and the parameters it still refers to. */
export interface BoundStatement {
  sql: string;
  params: Record<string, unknown> | undefined;
}

/** Parameters sent as such up to here (the client adds its own fields: database, settings, query id). */
const MAX_SENT_PARAMS = 200;
/** And up to this much text in all: far below the 128 KiB one field may hold. */
const MAX_SENT_PARAM_CHARS = 32 * 1024;

const NUMERIC_TYPE = /^(?:U?Int(?:8|16|32|64|128|256)|Float(?:32|64))$/;
const NUMBER_TEXT = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
/** `{name:Type}` as ClickHouse writes a parameter; the type may hold parentheses and commas, never braces. */
const PLACEHOLDER = /\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}/y;

/** `sql` and `params` as they are when the parameters are few, else with them inlined. */
export function inlineLargeParams(sql: string, params: Record<string, unknown> | undefined): BoundStatement {
  if (params === undefined || fitsAsParams(params)) return { sql, params };
  return inlineParams(sql, params);
}

function fitsAsParams(params: Record<string, unknown>): boolean {
  let count = 0;
  let chars = 0;
  // for-in: stops at the first parameters over, where Object.entries would list all 50,000 first.
  for (const name in params) {
    if (++count > MAX_SENT_PARAMS) return false;
    chars += name.length + textLength(params[name]);
    if (chars > MAX_SENT_PARAM_CHARS) return false;
  }
  return true;
}

function textLength(value: unknown): number {
  if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + textLength(item) + 3, 2);
  return typeof value === 'string' ? value.length : String(value).length;
}

/**
 * Every placeholder of an inlinable parameter replaced by its literal, in one pass over the
 * text that skips quoted strings, quoted identifiers and comments as ClickHouse's parser does
 * (it binds placeholders in the syntax tree, so `'{x:String}'` is text, not a parameter).
 */
export function inlineParams(sql: string, params: Record<string, unknown>): BoundStatement {
  let out = '';
  let copied = 0;
  const kept = new Set<string>();
  const inlined = new Set<string>();
  for (let i = 0; i < sql.length; ) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      i = endOfQuoted(sql, i, c);
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else if (c === '{') {
      PLACEHOLDER.lastIndex = i;
      const match = PLACEHOLDER.exec(sql);
      if (match === null) {
        i++;
        continue;
      }
      const [text, name, type] = match as unknown as [string, string, string];
      const literal = Object.hasOwn(params, name) ? literalOf(type.replace(/\s+/g, ''), params[name]) : undefined;
      if (literal === undefined) {
        kept.add(name);
      } else {
        out += sql.slice(copied, i) + literal;
        copied = i + text.length;
        inlined.add(name);
      }
      i += text.length;
    } else {
      i++;
    }
  }
  out += sql.slice(copied);
  const rest = Object.fromEntries(Object.entries(params).filter(([name]) => kept.has(name) || !inlined.has(name)));
  return { sql: out, params: Object.keys(rest).length === 0 ? undefined : rest };
}

/** The literal standing for `value` as a parameter of `type`, or undefined when it is not one this module writes. */
function literalOf(type: string, value: unknown): string | undefined {
  if (type === 'String') return typeof value === 'string' ? stringLiteral(value) : undefined;
  if (NUMERIC_TYPE.test(type)) {
    const text = typeof value === 'number' || typeof value === 'bigint' ? String(value) : value;
    // The text, as a bound parameter's, is what ClickHouse parses: `-0`, `1e21` and 2^63-1 stay exact.
    return typeof text === 'string' && NUMBER_TEXT.test(text) ? `CAST('${text}', '${type}')` : undefined;
  }
  if (type === 'Array(String)' && Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string')) {
    return `[${value.map(stringLiteral).join(', ')}]`;
  }
  return undefined;
}

/**
 * A ClickHouse string literal holding exactly `text`: backslash and quote escaped, control
 * characters as `\xHH` (so no byte of the value can end the literal or the line it is on).
 */
export function stringLiteral(text: string): string {
  return `'${text.replace(/[\\'\u0000-\u001f\u007f]/g, (ch) => (ch === '\\' || ch === "'" ? `\\${ch}` : `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`))}'`;
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
