/**
 * Sets an own, enumerable property. Keys come from span attributes, which anyone can send:
 * plain assignment of `__proto__` would replace the prototype instead of storing a key.
 */
export function setOwnProperty(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A non-array, non-null object: the only kind of value that merges key by key. */
export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
