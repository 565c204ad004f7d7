import type { PathStep } from './filter-ast.js';
import type { FilterValue } from './filter-values.js';
import { exceedsJsonLimits } from './json-limits.js';

/** A compiled JSON path step: a string is an object key, a number an array index. */
export type JsonStep = string | number;

export function compileJsonSteps(steps: readonly PathStep[]): JsonStep[] {
  return steps.map((step) => (step.kind === 'index' ? step.index : step.key));
}

/** What a failed `JSON.parse` leaves in a memo slot. */
export const INVALID_JSON: unique symbol = Symbol('invalid JSON');
export type ParsedJson = FilterValue | typeof INVALID_JSON;

/**
 * `JSON.parse`, or `INVALID_JSON`. Any JSON text counts (scalars too), surrounded by JSON
 * whitespace only, within ClickHouse's limits (json-limits.ts) so that both back ends agree.
 */
export function parseJson(text: string): ParsedJson {
  let value: FilterValue;
  try {
    value = JSON.parse(text) as FilterValue;
  } catch {
    return INVALID_JSON;
  }
  return exceedsJsonLimits(text) ? INVALID_JSON : value;
}

/**
 * Whether a text can be a JSON object or array: its first character after JSON whitespace
 * (space, tab, LF, CR) is `{` or `[`. A path with at least one step into anything else is NULL,
 * so such texts are never parsed for a path.
 */
export function mayBeJsonContainer(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 123 || c === 91) return true;
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return false;
  }
  return false;
}

/**
 * Follows `steps` from a parsed document. A step that does not apply (a key on an array or a
 * scalar, an index on an object or a scalar, a missing key, an index out of range) gives NULL;
 * JSON `null` is NULL. Keys are own members only (`__proto__` and friends are ordinary keys).
 * Duplicate keys: `JSON.parse` keeps the LAST occurrence (documented divergence risk; ClickHouse
 * JSONExtract may keep the first).
 */
export function followJsonPath(root: ParsedJson, steps: readonly JsonStep[]): FilterValue {
  let current: unknown = root;
  for (let i = 0; i < steps.length; i++) {
    if (typeof current !== 'object' || current === null) return null;
    const step = steps[i]!;
    if (typeof step === 'number') {
      if (!Array.isArray(current) || step >= current.length) return null;
      current = current[step];
    } else {
      if (Array.isArray(current) || !Object.hasOwn(current, step)) return null;
      current = (current as Record<string, unknown>)[step];
    }
  }
  return current === undefined ? null : (current as FilterValue);
}
