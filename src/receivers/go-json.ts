/**
 * The pieces of Go's text formatting that the Collector's `pcommon.Value.AsString` relies
 * on, reproduced so that attribute strings stored by spanscore are byte-identical to the
 * ones the Collector's clickhouseexporter stores (dashboards compare them as strings).
 */

/**
 * pcommon's `float64AsString`: ES6 number-to-string rules (exponent below 1e-6 and from
 * 1e21 on, shortest round-trip digits), which is exactly JavaScript's `String(number)`,
 * except that Go keeps the sign of negative zero.
 */
export function formatGoFloat(value: number): string {
  if (Number.isNaN(value)) return 'json: unsupported value: NaN';
  if (value === Infinity) return 'json: unsupported value: +Inf';
  if (value === -Infinity) return 'json: unsupported value: -Inf';
  if (value === 0 && 1 / value < 0) return '-0';
  return String(value);
}

/** What `encoding/json` writes for a finite float64 (same rules as `formatGoFloat`). */
export function goJsonNumber(value: number): string {
  return value === 0 && 1 / value < 0 ? '-0' : String(value);
}

// Characters Go's encoding/json escapes by default (HTML-safe mode) or must replace.
const NEEDS_ESCAPE = /["\\<>&\u0000-\u001f\u2028\u2029\ud800-\udfff]/;
const HEX = '0123456789abcdef';

/** A JSON string literal as Go's `json.Marshal` writes it. */
export function quoteGoJsonString(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return '"' + text + '"';
  let out = '"';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let escaped: string;
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a well-formed surrogate pair is one valid code point: copied as is
        continue;
      }
      escaped = '\\ufffd'; // Go replaces invalid UTF-8; a lone surrogate is its UTF-16 equivalent
    } else if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
      escaped = escapeChar(c);
    } else {
      continue;
    }
    out += text.slice(start, i) + escaped;
    start = i + 1;
  }
  return out + text.slice(start) + '"';
}

function escapeChar(c: number): string {
  switch (c) {
    case 0x22: return '\\"';
    case 0x5c: return '\\\\';
    case 0x08: return '\\b';
    case 0x0c: return '\\f';
    case 0x0a: return '\\n';
    case 0x0d: return '\\r';
    case 0x09: return '\\t';
    default:
      return '\\u' + HEX[(c >> 12) & 0xf] + HEX[(c >> 8) & 0xf] + HEX[(c >> 4) & 0xf] + HEX[c & 0xf];
  }
}

/**
 * Go sorts map keys by their UTF-8 bytes, i.e. by code point. UTF-16 code-unit order
 * (JavaScript's default sort) differs only between surrogate pairs and U+E000..U+FFFF.
 */
export function compareByCodePoint(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) return codePointRank(ca) - codePointRank(cb);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}
