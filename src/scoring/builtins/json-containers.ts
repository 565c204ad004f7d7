/**
 * The object/array tests autoevals' JSON scorers use (js/json.ts, autoevals 0.3.0). They are
 * `instanceof` checks, not "plain object" checks, and we keep them that way so results match:
 * a Date or Map counts as an object, a null-prototype object does not.
 */
export function isJsonObjectLike(value: unknown): value is Record<string, unknown> {
  return value instanceof Object && !(value instanceof Array);
}

export function isJsonArrayLike(value: unknown): value is unknown[] {
  return value instanceof Array;
}

/** autoevals' `validJSON(text)` without a schema: the text parses to an object or an array. */
export function parsesToJsonContainer(text: string): boolean {
  try {
    const parsed: unknown = JSON.parse(text);
    return isJsonObjectLike(parsed) || isJsonArrayLike(parsed);
  } catch {
    return false;
  }
}
