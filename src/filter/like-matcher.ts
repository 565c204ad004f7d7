import { asciiLower } from './filter-values.js';

/**
 * LIKE patterns compiled to a matcher once, without a RegExp: a pattern is a sequence of
 * segments separated by `%`, each matching a fixed number of code points (literal characters
 * and `_`), so leftmost-first search of each middle segment is exact and the match is linear
 * in practice, with no backtracking blow-up on patterns like `%a%a%a%b`.
 *
 * Escapes (ClickHouse's, which the string literal decoding preserves): `\%`, `\_`, `\\` are a
 * literal `%`, `_`, `\`. Decisions where the doc is silent, following ClickHouse's
 * `likePatternToRegexp`: a backslash before any other character is a literal backslash and the
 * next character keeps its own meaning (`\a` matches `\a`, `\%` ≠ `\` + `%`… but `\x%` is `\x`
 * then any run). A trailing lone backslash is a literal backslash (ClickHouse throws there;
 * the ClickHouse compiler must escape it).
 */
export type LikeMatcher = (text: string) => boolean;

/** A literal run (`string`) or a run of `n` single-code-point wildcards (`number`). */
type Part = string | number;

interface Segment {
  readonly parts: readonly Part[];
  /** The whole segment when it has no `_`, for the indexOf / startsWith fast paths. */
  readonly literal: string | undefined;
  /** Length in code points. */
  readonly codePoints: number;
}

export function compileLike(pattern: string, caseInsensitive: boolean): LikeMatcher {
  const source = caseInsensitive ? asciiLower(pattern) : pattern;
  const matcher = buildMatcher(splitSegments(source));
  return caseInsensitive ? (text) => matcher(asciiLower(text)) : matcher;
}

/** Splits a pattern at its unescaped `%`; consecutive `%` give empty middle segments, which are dropped. */
function splitSegments(pattern: string): Segment[] {
  const segments: Segment[] = [];
  let parts: Part[] = [];
  let literal = '';
  let wildcards = 0;
  let codePoints = 0;
  const flushLiteral = () => {
    if (literal !== '') parts.push(literal);
    literal = '';
  };
  const flushWildcards = () => {
    if (wildcards > 0) parts.push(wildcards);
    wildcards = 0;
  };
  const endSegment = () => {
    flushLiteral();
    flushWildcards();
    const onlyLiteral = parts.every((part) => typeof part === 'string');
    segments.push({ parts, literal: onlyLiteral ? (parts as string[]).join('') : undefined, codePoints });
    parts = [];
    codePoints = 0;
  };
  const addChar = (ch: string) => {
    flushWildcards();
    literal += ch;
    codePoints++;
  };
  for (let i = 0; i < pattern.length; ) {
    const code = pattern.codePointAt(i)!;
    const width = code > 0xffff ? 2 : 1;
    const ch = pattern.slice(i, i + width);
    i += width;
    if (ch === '%') {
      endSegment();
    } else if (ch === '_') {
      flushLiteral();
      wildcards++;
      codePoints++;
    } else if (ch === '\\') {
      const next = pattern[i];
      if (next === '%' || next === '_' || next === '\\') {
        addChar(next);
        i++;
      } else {
        addChar('\\');
      }
    } else {
      addChar(ch);
    }
  }
  endSegment();
  return segments;
}

/** Index just past the code point at `i`. */
function nextCodePoint(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return i + 2;
  }
  return i + 1;
}

/** Index of the code point `count` code points before `end`, or -1 when there are fewer. */
function backCodePoints(text: string, end: number, count: number): number {
  let i = end;
  for (let n = 0; n < count; n++) {
    if (i <= 0) return -1;
    i--;
    const d = text.charCodeAt(i);
    if (d >= 0xdc00 && d <= 0xdfff && i > 0) {
      const c = text.charCodeAt(i - 1);
      if (c >= 0xd800 && c <= 0xdbff) i--;
    }
  }
  return i;
}

/** Where `segment` ends when it matches at `start`, or -1. */
function matchAt(segment: Segment, text: string, start: number): number {
  if (segment.literal !== undefined) return text.startsWith(segment.literal, start) ? start + segment.literal.length : -1;
  let i = start;
  for (const part of segment.parts) {
    if (typeof part === 'string') {
      if (!text.startsWith(part, i)) return -1;
      i += part.length;
    } else {
      for (let n = 0; n < part; n++) {
        if (i >= text.length) return -1;
        i = nextCodePoint(text, i);
      }
    }
  }
  return i;
}

/** The end of the leftmost match of `segment` starting in [from, limit], or -1. */
function findFrom(segment: Segment, text: string, from: number, limit: number): number {
  if (segment.literal !== undefined) {
    const at = text.indexOf(segment.literal, from);
    return at < 0 || at > limit ? -1 : at + segment.literal.length;
  }
  for (let i = from; i <= limit; i = nextCodePoint(text, i)) {
    const end = matchAt(segment, text, i);
    if (end >= 0) return end;
    if (i >= text.length) break;
  }
  return -1;
}

function buildMatcher(segments: Segment[]): LikeMatcher {
  if (segments.length === 1) {
    const only = segments[0]!;
    if (only.literal !== undefined) {
      const literal = only.literal;
      return (text) => text === literal;
    }
    return (text) => matchAt(only, text, 0) === text.length;
  }
  const first = segments[0]!;
  const last = segments[segments.length - 1]!;
  const middle = segments.slice(1, -1).filter((segment) => segment.parts.length > 0);
  if (middle.length === 0 && first.literal !== undefined && last.literal !== undefined) {
    const [prefix, suffix] = [first.literal, last.literal];
    if (prefix === '' && suffix === '') return () => true;
    if (suffix === '') return (text) => text.startsWith(prefix);
    if (prefix === '') return (text) => text.endsWith(suffix);
    return (text) => text.length >= prefix.length + suffix.length && text.startsWith(prefix) && text.endsWith(suffix);
  }
  if (middle.length === 1 && first.parts.length === 0 && last.parts.length === 0 && middle[0]!.literal !== undefined) {
    const needle = middle[0]!.literal;
    return (text) => text.includes(needle);
  }
  return (text) => {
    const start = matchAt(first, text, 0);
    if (start < 0) return false;
    const lastStart = backCodePoints(text, text.length, last.codePoints);
    if (lastStart < start || matchAt(last, text, lastStart) !== text.length) return false;
    let pos = start;
    for (const segment of middle) {
      // The segment must also end by lastStart; its start can be at most lastStart (checked again by the end test).
      const end = findFrom(segment, text, pos, lastStart);
      if (end < 0 || end > lastStart) return false;
      pos = end;
    }
    return true;
  };
}
