import type { BuiltinScorerFactory } from './builtin-scorer-factory.js';
import { exactMatch } from './exact-match.js';
import { jsonDiff } from './json-diff.js';
import { levenshtein } from './levenshtein.js';
import { listContains } from './list-contains.js';
import { numericDiff } from './numeric-diff.js';
import { validJson } from './valid-json.js';

export type { BuiltinScorerFactory } from './builtin-scorer-factory.js';
export { exactMatchScore } from './exact-match.js';
export { jsonDiffScore, type JsonDiffOptions, type LeafScorer } from './json-diff.js';
export { levenshteinScore } from './levenshtein.js';
export { listContainsScore, type ListContainsPair, type ListContainsResult } from './list-contains.js';
export { numericDiffScore } from './numeric-diff.js';
export { validJsonScore, compileJsonSchema } from './valid-json.js';

/**
 * The scorers a config can name without writing code, under autoevals' names (the names are
 * what users look up in autoevals' docs, and what `scores.Scorer` shows by default).
 */
export const builtinScorers: Record<string, BuiltinScorerFactory> = Object.freeze(
  // Null prototype: callers test names with `name in builtinScorers`, and a config naming
  // `toString` or `constructor` must not find an inherited "scorer".
  Object.assign(Object.create(null) as Record<string, BuiltinScorerFactory>, {
    ExactMatch: exactMatch,
    Levenshtein: levenshtein,
    NumericDiff: numericDiff,
    JSONDiff: jsonDiff,
    ValidJSON: validJson,
    ListContains: listContains,
  }),
);
