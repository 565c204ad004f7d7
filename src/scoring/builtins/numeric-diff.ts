import type { BuiltinScorerFactory } from './builtin-scorer-factory.js';
import { rejectUnknownOptions } from './builtin-scorer-factory.js';

/**
 * autoevals' `NumericDiff` (js/number.ts, autoevals 0.3.0):
 * `1 - |expected - output| / (|expected| + |output|)`, and 1 when both are the NUMBER 0.
 *
 * Reproduced with plain JS arithmetic on purpose, so the coercions are autoevals' too:
 * - numeric strings work (`'5'` vs `'4'` → 1 - 1/9), which matters because span attributes
 *   arrive as strings;
 * - but the 0/0 guard is a strict `=== 0`, so `'0'` vs `'0'` gives `0/0` = NaN, as in autoevals;
 * - non-numeric text, an `undefined` output, or the number `0` against the string `'0'` give
 *   NaN; the score validator downstream decides what a NaN score means.
 * - `expected === undefined` throws (null does not: it coerces to 0).
 */
export function numericDiffScore(output: unknown, expected: unknown): number {
  if (expected === undefined) {
    throw new Error('NumericDiff requires an expected value, but expected is undefined');
  }
  // The casts let TypeScript accept JS's ToNumber coercion, which is exactly what autoevals relies on.
  const out = output as number;
  const exp = expected as number;
  if (out === 0 && exp === 0) return 1;
  return 1 - Math.abs(exp - out) / (Math.abs(exp) + Math.abs(out));
}

export const numericDiff: BuiltinScorerFactory = (options) => {
  rejectUnknownOptions('NumericDiff', options, []);
  return ({ output, expected }) => ({ name: 'NumericDiff', score: numericDiffScore(output, expected) });
};
