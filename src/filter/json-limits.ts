/**
 * The limits ClickHouse's JSON parser (simdjson) puts on texts that `JSON.parse` accepts. The
 * filter language defines "valid JSON" with these limits (docs/filter-language.md), so that
 * `json_valid` and JSON paths mean the same in the daemon and in ClickHouse:
 * - an integer written without fraction or exponent lies in [-2^63, 2^64 - 1];
 * - any other number is finite once rounded to a double;
 * - `\u` escapes form well-paired UTF-16 (no lone surrogate);
 * - no value is nested deeper than 1024 (the top-level value is at depth 1).
 *
 * Most texts cannot break a limit, and a cheap scan proves it: each limit needs a tell-tale
 * (19 digits in a row, an exponent of three digits, `\uD`, or a text long enough to nest 1025
 * deep). Only texts with one are tokenised exactly.
 */

export const MAX_JSON_DEPTH = 1024;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
const SUSPECT = /\d{19}|[eE][+-]?\d{3}|\\u[dD]/;
/** The shortest text nesting a value at depth 1025: 1024 openers, a scalar, 1024 closers. */
const SHORTEST_TOO_DEEP = 2 * MAX_JSON_DEPTH + 1;

/** Whether a text that `JSON.parse` accepted breaks one of ClickHouse's limits. */
export function exceedsJsonLimits(text: string): boolean {
  if (text.length < SHORTEST_TOO_DEEP && !SUSPECT.test(text)) return false;
  return !withinLimits(text);
}

/** Tokenises a syntactically valid JSON text, checking numbers, escapes and depth. */
function withinLimits(text: string): boolean {
  let open = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      if (open >= MAX_JSON_DEPTH) return false;
      i = endOfString(text, i + 1);
      if (i < 0) return false;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (open >= MAX_JSON_DEPTH) return false;
      open++;
      i++;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      open--;
      i++;
    } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      if (open >= MAX_JSON_DEPTH) return false;
      let j = i + 1;
      let integer = true;
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (d >= 48 && d <= 57) continue;
        if (d === 46 /* . */ || d === 101 /* e */ || d === 69 /* E */ || d === 43 /* + */ || d === 45 /* - */) integer = false;
        else break;
      }
      if (!numberWithinLimits(text.slice(i, j), integer)) return false;
      i = j;
    } else if (c === 116 /* t */ || c === 102 /* f */ || c === 110 /* n */) {
      if (open >= MAX_JSON_DEPTH) return false;
      while (i < n && text.charCodeAt(i) >= 97 && text.charCodeAt(i) <= 122) i++;
    } else {
      i++; // whitespace, ':' and ','
    }
  }
  return true;
}

function numberWithinLimits(literal: string, integer: boolean): boolean {
  if (!integer) return Number.isFinite(Number(literal));
  if (literal.length < 19) return true;
  const value = BigInt(literal);
  return value >= INT64_MIN && value <= UINT64_MAX;
}

/** The index after the closing quote of a string starting at `i`, or -1 for a lone surrogate escape. */
function endOfString(text: string, i: number): number {
  let pendingHigh = false;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) return pendingHigh ? -1 : i + 1;
    if (c !== 92 /* \ */) {
      if (pendingHigh) return -1;
      i++;
      continue;
    }
    if (text.charCodeAt(i + 1) !== 117 /* u */) {
      if (pendingHigh) return -1;
      i += 2;
      continue;
    }
    const unit = parseInt(text.slice(i + 2, i + 6), 16);
    if (unit >= 0xdc00 && unit <= 0xdfff) {
      if (!pendingHigh) return -1;
      pendingHigh = false;
    } else if (unit >= 0xd800 && unit <= 0xdbff) {
      if (pendingHigh) return -1;
      pendingHigh = true;
    } else if (pendingHigh) {
      return -1;
    }
    i += 6;
  }
}
