import { distance } from 'fastest-levenshtein';
import type { BuiltinScorerFactory } from './builtin-scorer-factory.js';
import { rejectUnknownOptions } from './builtin-scorer-factory.js';

/**
 * autoevals' `Levenshtein` (js/string.ts, autoevals 0.3.0): `1 - distance / maxLength`.
 *
 * - Both values are turned into text with a template literal (`${value}`), so `undefined`
 *   output becomes `'undefined'`, `null` becomes `'null'`, objects `'[object Object]'`,
 *   arrays their comma join — odd, but it is what autoevals scores.
 * - Two empty strings score 1 (no division by zero).
 * - `expected === undefined` throws; `expected === null` does not (it is the text `'null'`).
 *
 * Units: autoevals uses `js-levenshtein`, which walks `charCodeAt` and `.length`, i.e. UTF-16
 * code units; `fastest-levenshtein` also indexes with `charCodeAt`, and we divide by `.length`,
 * so an emoji (a surrogate pair) counts as 2 in both — the scores are identical, not just close.
 */
export function levenshteinScore(output: unknown, expected: unknown): number {
  if (expected === undefined) {
    throw new Error('Levenshtein requires an expected value, but expected is undefined');
  }
  const outputText = `${output as string}`;
  const expectedText = `${expected as string}`;
  const maxLength = Math.max(outputText.length, expectedText.length);
  if (maxLength === 0) return 1;
  return 1 - distance(outputText, expectedText) / maxLength;
}

export const levenshtein: BuiltinScorerFactory = (options) => {
  rejectUnknownOptions('Levenshtein', options, []);
  return ({ output, expected }) => ({ name: 'Levenshtein', score: levenshteinScore(output, expected) });
};
