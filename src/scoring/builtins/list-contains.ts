import type { linearSumAssignment as LinearSumAssignment } from 'linear-sum-assignment';
import type { BuiltinScorerFactory } from './builtin-scorer-factory.js';
import { rejectUnknownOptions } from './builtin-scorer-factory.js';
import { levenshteinScore } from './levenshtein.js';

/** One matched (output item, expected item) pair and its Levenshtein similarity. */
export interface ListContainsPair {
  output: unknown;
  expected: unknown;
  score: number;
}

export interface ListContainsResult {
  score: number;
  /** Only when an assignment was computed (both lists have items, and not both exactly one). */
  pairs?: ListContainsPair[];
}

/**
 * linear-sum-assignment brings ml-matrix with it: ~25 MB and ~140 ms per thread that imports
 * it. Every worker imports the built-ins, so it is loaded on the first ListContains call only.
 */
let solve: typeof LinearSumAssignment | undefined;
let loading: Promise<void> | undefined;

export function loadAssignmentSolver(): Promise<void> {
  loading ??= import('linear-sum-assignment').then((module) => {
    solve = module.linearSumAssignment;
  });
  return loading;
}

/**
 * autoevals' `ListContains` (js/list.ts, autoevals 0.3.0) with its default pairwise scorer,
 * Levenshtein: how well the items of `output` cover the items of `expected`.
 *
 * - `expected === undefined` throws.
 * - Emptiness is autoevals' `x.length == 0` (loose equality), so it applies to anything with a
 *   `length`, not just lists: both "empty" → 1, exactly one "empty" → 0, and that happens
 *   before anything checks that the values are lists. Hence `''` vs `[]` scores 1, and
 *   `'abc'` vs `[]` or `5` vs `[]` score 0, where one might expect an error. `null` (no
 *   `length` to read) throws, as it does in autoevals.
 * - Past that, both must be lists (autoevals calls `.map` on them, which throws otherwise).
 * - Every output item is scored against every expected item with Levenshtein, which reads
 *   non-strings as text (`null` → `'null'`, `5` → `'5'`) and throws on an `undefined` item.
 * - One item on each side: that similarity, unclamped and without pair metadata.
 * - Otherwise the maximum-weight one-to-one assignment (linear-sum-assignment, the very
 *   algorithm autoevals bundles), whose pair scores are summed in output order and divided by
 *   max(lengths) — or by expected's length with `allowExtraEntities`, so unmatched output
 *   items cost nothing — then clamped to [0, 1].
 * The order of operations is autoevals', so the float result is bit-identical, not just close.
 * Values are assumed to come from JSON (span fields): exotic array-likes such as typed arrays
 * or sparse arrays, which autoevals would mangle in its own ways, are not reproduced.
 */
export function listContainsScore(output: unknown, expected: unknown, allowExtraEntities: boolean): ListContainsResult {
  if (expected === undefined) {
    throw new Error('ListContains requires an expected value, but expected is undefined');
  }
  const outputEmpty = looselyEmpty(output, 'output');
  const expectedEmpty = looselyEmpty(expected, 'expected');
  if (outputEmpty && expectedEmpty) return { score: 1 };
  if (outputEmpty || expectedEmpty) return { score: 0 };
  const outputItems = asList(output, 'output');
  const expectedItems = asList(expected, 'expected');

  const similarities = outputItems.map((outputItem) =>
    expectedItems.map((expectedItem) => levenshteinScore(outputItem, expectedItem)),
  );
  if (similarities.length === 1 && similarities[0]!.length === 1) return { score: similarities[0]![0]! };

  if (solve === undefined) throw new Error('ListContains: call loadAssignmentSolver() first');
  const { rowAssignments } = solve(similarities, { maximaze: true });
  const pairs: ListContainsPair[] = [];
  // Row order, as autoevals builds its pairs: the sum below must add in the same order.
  rowAssignments.forEach((column, row) => {
    if (column >= 0) pairs.push({ output: outputItems[row], expected: expectedItems[column], score: similarities[row]![column]! });
  });
  const denominator = allowExtraEntities ? expectedItems.length : Math.max(outputItems.length, expectedItems.length);
  const average = pairs.reduce((sum, pair) => sum + pair.score, 0) / denominator;
  return { score: Math.min(Math.max(average, 0), 1), pairs };
}

/** autoevals' `value.length == 0`, with a readable error where autoevals hits a TypeError. */
function looselyEmpty(value: unknown, side: 'output' | 'expected'): boolean {
  if (value === null || value === undefined) {
    throw new Error(`ListContains: ${side} must be a list, got ${value === null ? 'null' : 'undefined'}`);
  }
  const { length } = value as { length?: unknown };
  // Loose on purpose: autoevals' `==` makes `'0'`, `''`, `false` and `[]` lengths count as 0.
  return length == 0;
}

function asList(value: unknown, side: 'output' | 'expected'): unknown[] {
  if (Array.isArray(value)) return value;
  const kind = typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  throw new Error(`ListContains: ${side} must be a list (or empty), got ${kind}`);
}

/**
 * Options: `allow_extra_entities` (default false): score only how well `expected` is covered,
 * so an output listing more items than expected is not penalised for the extras.
 */
export const listContains: BuiltinScorerFactory = (options) => {
  rejectUnknownOptions('ListContains', options, ['allow_extra_entities']);
  const { allow_extra_entities: allowExtraEntities = false } = options;
  if (typeof allowExtraEntities !== 'boolean') {
    throw new Error(`ListContains: option allow_extra_entities must be a boolean, got ${JSON.stringify(allowExtraEntities)}`);
  }
  return async ({ output, expected }) => {
    await loadAssignmentSolver();
    const { score, pairs } = listContainsScore(output, expected, allowExtraEntities);
    return { name: 'ListContains', score, ...(pairs && { metadata: { pairs } }) };
  };
};
