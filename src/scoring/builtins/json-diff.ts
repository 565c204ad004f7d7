import type { BuiltinScorerFactory } from './builtin-scorer-factory.js';
import { rejectUnknownOptions } from './builtin-scorer-factory.js';
import { exactMatchScore } from './exact-match.js';
import { isJsonArrayLike, isJsonObjectLike, parsesToJsonContainer } from './json-containers.js';
import { levenshteinScore } from './levenshtein.js';
import { numericDiffScore } from './numeric-diff.js';

/** A (output, expected) → score function JSONDiff applies to leaves. */
export type LeafScorer = (output: unknown, expected: unknown) => number;

/**
 * The leaf scorers a config may name. autoevals takes scorer functions; a YAML config can
 * only name them, so we accept the names of the pairwise built-ins.
 */
const LEAF_SCORERS: Record<string, LeafScorer> = {
  Levenshtein: levenshteinScore,
  ExactMatch: exactMatchScore,
  NumericDiff: numericDiffScore,
};

export interface JsonDiffOptions {
  stringScorer: LeafScorer;
  numberScorer: LeafScorer;
  preserveStrings: boolean;
}

/**
 * autoevals' `jsonDiff` (js/json.ts, autoevals 0.3.0), synchronous because our leaf scorers are.
 *
 * - Unless `preserveStrings`, a string that parses to an object/array is parsed first
 *   (so `'{"a":1}'` compares as `{a: 1}`; `'5'` stays a string).
 * - object vs object: two empty objects → 1; otherwise the mean over the union of keys
 *   (output's keys first, then expected's new ones) of the recursive score, a missing key
 *   scoring 0 against a present non-null value.
 * - array vs array: two empty arrays → 1; otherwise the sum over the first min(len) positions
 *   divided by max(len), so extra/missing elements count as 0.
 * - string vs string → stringScorer; number vs number → numberScorer.
 * - null/undefined vs null/undefined → 1; one side null/undefined → 0.
 * - anything else (mixed types, booleans) → stringScorer over `JSON.stringify` with keys sorted.
 * Scores are summed left to right in that order so float rounding matches autoevals'.
 */
export function jsonDiffScore(output: unknown, expected: unknown, options: JsonDiffOptions): number {
  let o1 = output;
  let o2 = expected;
  if (!options.preserveStrings) {
    if (typeof o1 === 'string' && parsesToJsonContainer(o1)) o1 = JSON.parse(o1);
    if (typeof o2 === 'string' && parsesToJsonContainer(o2)) o2 = JSON.parse(o2);
  }

  if (isJsonObjectLike(o1) && isJsonObjectLike(o2)) {
    const keys1 = Object.keys(o1);
    const keys2 = Object.keys(o2);
    if (keys1.length === 0 && keys2.length === 0) return 1;
    // Deduplicated through an object, as autoevals does: integer-like keys come first in
    // ascending order, which fixes the summation order (and so the last bits of the mean).
    const allKeys = Object.keys(Object.fromEntries([...keys1, ...keys2].map((key) => [key, true])));
    // Plain property reads (not own-property checks), as autoevals does: results must match.
    const scores = allKeys.map((key) => jsonDiffScore(o1[key], o2[key], options));
    return sumInOrder(scores) / scores.length;
  }
  if (isJsonArrayLike(o1) && isJsonArrayLike(o2)) {
    if (o1.length === 0 && o2.length === 0) return 1;
    const paired = Math.min(o1.length, o2.length);
    const scores: number[] = [];
    for (let i = 0; i < paired; i++) scores.push(jsonDiffScore(o1[i], o2[i], options));
    return sumInOrder(scores) / Math.max(o1.length, o2.length);
  }
  if (typeof o1 === 'string' && typeof o2 === 'string') return options.stringScorer(o1, o2);
  if (typeof o1 === 'number' && typeof o2 === 'number') return options.numberScorer(o1, o2);
  const missing1 = o1 === null || o1 === undefined;
  const missing2 = o2 === null || o2 === undefined;
  if (missing1 && missing2) return 1;
  if (missing1 || missing2) return 0;
  return options.stringScorer(JSON.stringify(o1, sortKeysReplacer), JSON.stringify(o2, sortKeysReplacer));
}

function sumInOrder(scores: number[]): number {
  return scores.reduce((acc, score) => acc + score, 0);
}

/** Serialises objects with their keys sorted, so `{a, b}` and `{b, a}` stringify the same. */
function sortKeysReplacer(_key: string, value: unknown): unknown {
  if (!isJsonObjectLike(value)) return value;
  return Object.keys(value)
    .sort()
    .reduce<Record<string, unknown>>((sorted, key) => {
      sorted[key] = value[key];
      return sorted;
    }, {});
}

function leafScorerOption(value: unknown, optionName: string, fallback: LeafScorer): LeafScorer {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && Object.hasOwn(LEAF_SCORERS, value)) return LEAF_SCORERS[value]!;
  throw new Error(
    `JSONDiff: option ${optionName} must be one of ${Object.keys(LEAF_SCORERS).join(', ')}, got ${JSON.stringify(value)}`,
  );
}

/**
 * Options: `stringScorer` (default `Levenshtein`), `numberScorer` (default `NumericDiff`), both by
 * built-in name; `preserveStrings` (default false). Never throws on a missing `expected`:
 * like autoevals it scores 0 against a present output (1 if output is missing too).
 */
export const jsonDiff: BuiltinScorerFactory = (options) => {
  rejectUnknownOptions('JSONDiff', options, ['stringScorer', 'numberScorer', 'preserveStrings']);
  const { preserveStrings = false } = options;
  if (typeof preserveStrings !== 'boolean') {
    throw new Error(`JSONDiff: option preserveStrings must be a boolean, got ${JSON.stringify(preserveStrings)}`);
  }
  const resolved: JsonDiffOptions = {
    stringScorer: leafScorerOption(options.stringScorer, 'stringScorer', levenshteinScore),
    numberScorer: leafScorerOption(options.numberScorer, 'numberScorer', numericDiffScore),
    preserveStrings,
  };
  return ({ output, expected }) => ({ name: 'JSONDiff', score: jsonDiffScore(output, expected, resolved) });
};
