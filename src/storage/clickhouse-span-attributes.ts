import type { Span } from '@opentelemetry/api';

/**
 * Self-telemetry attributes of ClickHouse statements (`db.*`, `server.*`), kept apart from the
 * storage so that what a span may show of SQL is decided in one place.
 */
const MAX_SPAN_QUERY_TEXT = 1_000;

/**
 * What of a statement a span may carry: its first keyword and its text, truncated, with string
 * literals blanked (spanscore passes values as query_params; SQL typed into the admin API or
 * `spanscore query` may spell them out).
 */
export function setQueryAttributes(span: Span, sql: string, readonly: boolean): void {
  const text = sql.trim();
  const operation = /^[A-Za-z]+/.exec(text)?.[0];
  if (operation !== undefined) span.setAttribute('db.operation.name', operation.toUpperCase());
  span.setAttribute('db.query.text', blankStringLiterals(text, MAX_SPAN_QUERY_TEXT));
  span.setAttribute('spanscore.db.readonly', readonly);
}

/** `sql` with every '...' literal as '?', cut after `max` characters (one pass, however hostile the text). */
function blankStringLiterals(sql: string, max: number): string {
  let out = '';
  let start = 0;
  let index = 0;
  while (index < sql.length && out.length + (index - start) < max) {
    if (sql[index] !== "'") {
      index++;
      continue;
    }
    out += `${sql.slice(start, index)}'?'`;
    index++;
    // To the closing quote: backslash escapes one character, '' is a quote inside.
    while (index < sql.length) {
      if (sql[index] === '\\') index += 2;
      else if (sql[index] === "'" && sql[index + 1] === "'") index += 2;
      else if (sql[index] === "'") break;
      else index++;
    }
    index++;
    start = index;
  }
  const end = start + Math.max(0, max - out.length);
  out += sql.slice(start, end);
  return end < sql.length ? `${out}…` : out;
}

export function setServerAttributes(span: Span, url: string): void {
  try {
    const parsed = new URL(url);
    span.setAttribute('server.address', parsed.hostname);
    span.setAttribute('server.port', parsed.port !== '' ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80);
  } catch {
    // An unparsable url fails the connection itself; the span just goes without it.
  }
}
