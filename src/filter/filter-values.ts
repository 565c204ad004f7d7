/**
 * Run-time values of the JS filter predicate and the value-level rules of
 * docs/filter-language.md: numeric strings, the comparison table, code-point string order,
 * ASCII case mapping, code-point length.
 *
 * Representation: NULL is `null`, BOOL a `boolean`, NUMBER a `number`, STRING a `string`, JSON
 * an object or array as `JSON.parse` builds it. Strings are assumed to be well-formed UTF-16
 * (lone surrogates cannot come from the stored UTF-8 text; only a JSON `\ud800` escape could
 * make one, and that is out of scope).
 */
export type JsonContainer = Record<string, unknown> | unknown[];
export type FilterValue = null | boolean | number | string | JsonContainer;

/** The doc's number-literal grammar for strings: nothing else, no spaces, no `+`, no `.5`. */
const NUMERIC_STRING = /^-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$/;

/**
 * The NUMBER a string denotes, or null. `Number()` rounds to nearest like ClickHouse's
 * `toFloat64OrNull`; out-of-range exponents give ±Infinity (`'1e999'`), kept as such.
 */
export function numericString(text: string): number | null {
  return NUMERIC_STRING.test(text) ? Number(text) : null;
}

/** Arithmetic operand: a NUMBER, or a numeric STRING converted; anything else NULL. */
export function toNumber(value: FilterValue): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return numericString(value);
  return null;
}

/** A STRING compared with a BOOL counts as one only when it is exactly `true` or `false`. */
export function booleanString(text: string): boolean | null {
  return text === 'true' ? true : text === 'false' ? false : null;
}

/**
 * Orders two strings by Unicode code point (= UTF-8 byte order), unlike JS `<` which compares
 * UTF-16 code units and puts U+10000… (surrogate pairs) before U+E000…U+FFFF.
 * Returns a negative number, 0 or a positive number.
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = a.length < b.length ? a.length : b.length;
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length - b.length;
  let ca = a.charCodeAt(i);
  let cb = b.charCodeAt(i);
  if (ca >= 0xd800 && cb >= 0xd800) {
    // Surrogates (D800–DFFF, i.e. code points ≥ U+10000) must sort after E000–FFFF: move them up.
    ca = ca >= 0xe000 ? ca - 0x800 : ca + 0x2000;
    cb = cb >= 0xe000 ? cb - 0x800 : cb + 0x2000;
  }
  return ca - cb;
}

/** Ordering of numbers as a comparison result: NaN (only from arithmetic on ±Infinity) is unordered and unequal, as in IEEE / ClickHouse. */
export function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : a === b ? 0 : NaN;
}

/**
 * The doc's comparison table: the ordering of `a` and `b` (negative, 0, positive, or NaN for
 * unordered numbers), or null when the comparison is NULL.
 */
export function compareValues(a: FilterValue, b: FilterValue): number | null {
  if (a === null || b === null) return null;
  switch (typeof a) {
    case 'number':
      if (typeof b === 'number') return compareNumbers(a, b);
      if (typeof b === 'string') {
        const nb = numericString(b);
        return nb === null ? null : compareNumbers(a, nb);
      }
      return null;
    case 'string':
      if (typeof b === 'string') return compareCodePoints(a, b);
      if (typeof b === 'number') {
        const na = numericString(a);
        return na === null ? null : compareNumbers(na, b);
      }
      if (typeof b === 'boolean') {
        const ba = booleanString(a);
        return ba === null ? null : Number(ba) - Number(b);
      }
      return null;
    case 'boolean':
      if (typeof b === 'boolean') return Number(a) - Number(b);
      if (typeof b === 'string') {
        const bb = booleanString(b);
        return bb === null ? null : Number(a) - Number(bb);
      }
      return null;
    default:
      return null;
  }
}

/** `a = b` by the comparison table (cheaper than `compareValues` for two strings). */
export function equalValues(a: FilterValue, b: FilterValue): boolean | null {
  if (typeof a === 'string' && typeof b === 'string') return a === b;
  const c = compareValues(a, b);
  return c === null ? null : c === 0;
}

export function isJsonContainer(value: FilterValue | undefined): value is JsonContainer {
  return typeof value === 'object' && value !== null;
}

const UPPER_ASCII = /[A-Z]/;
const UPPER_ASCII_RUNS = /[A-Z]+/g;
const LOWER_ASCII = /[a-z]/;
const LOWER_ASCII_RUNS = /[a-z]+/g;

/** Lower-cases ASCII letters only (`'ÀB'` → `'Àb'`), as ClickHouse's `lower`. */
export function asciiLower(text: string): string {
  return UPPER_ASCII.test(text) ? text.replace(UPPER_ASCII_RUNS, (run) => run.toLowerCase()) : text;
}

/** Upper-cases ASCII letters only (`'ßa'` → `'ßA'`), as ClickHouse's `upper`. */
export function asciiUpper(text: string): string {
  return LOWER_ASCII.test(text) ? text.replace(LOWER_ASCII_RUNS, (run) => run.toUpperCase()) : text;
}

/** Code points in a string: a surrogate pair counts once. */
export function codePointLength(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        length--;
        i++;
      }
    }
  }
  return length;
}
