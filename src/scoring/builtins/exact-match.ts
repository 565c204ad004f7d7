import type { BuiltinScorerFactory } from './builtin-scorer-factory.js';
import { rejectUnknownOptions } from './builtin-scorer-factory.js';

/**
 * autoevals' `ExactMatch` (js/value.ts, autoevals 0.3.0): 1 when output and expected are
 * equal after normalisation, else 0. Never throws on a missing `expected`.
 *
 * Normalisation, reproduced exactly because users compare our scores with autoevals':
 * - `undefined` becomes `null` first (so a missing value normalises to the text `null`);
 * - if EITHER side is `typeof 'object'` (objects, arrays, and `null`), both sides are put in
 *   JSON form: objects via `JSON.stringify` (key order matters, no sorting), strings via
 *   `JSON.stringify(JSON.parse(s))` when they parse (so `'{"a": 1}'` equals `{a: 1}` and
 *   `' 1.0 '` equals `1`), otherwise the raw string;
 * - otherwise both sides are compared as `${value}` (so `5` equals `'5'`).
 * The "is either side an object" test looks at the ORIGINAL values, before `undefined`
 * becomes `null`, exactly as autoevals does.
 */
export function exactMatchScore(output: unknown, expected: unknown): number {
  const maybeObject = needsJson(output) || needsJson(expected);
  const normalisedOutput = normaliseValue(output ?? null, maybeObject);
  const normalisedExpected = normaliseValue(expected ?? null, maybeObject);
  return normalisedOutput === normalisedExpected ? 1 : 0;
}

// `typeof null === 'object'`, so null counts as "needs JSON" — autoevals relies on that too.
function needsJson(value: unknown): boolean {
  return typeof value === 'object' || Array.isArray(value);
}

function normaliseValue(value: unknown, maybeObject: boolean): string {
  if (needsJson(value)) {
    // JSON.stringify's return type says string; for the values that reach here it is.
    return JSON.stringify(value);
  }
  if (typeof value === 'string' && maybeObject) {
    try {
      return JSON.stringify(JSON.parse(value));
    } catch {
      // Not JSON: compare the raw text, as autoevals does.
    }
  }
  return `${value as string}`;
}

export const exactMatch: BuiltinScorerFactory = (options) => {
  rejectUnknownOptions('ExactMatch', options, []);
  return ({ output, expected }) => ({ name: 'ExactMatch', score: exactMatchScore(output, expected) });
};
