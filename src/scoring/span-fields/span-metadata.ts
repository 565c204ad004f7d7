import { parseAttributeValue } from './attribute-value.js';
import { buildDottedKeyTree, type DottedEntry } from './dotted-key-tree.js';
import { isPlainRecord, setOwnProperty } from './own-property.js';

/**
 * A span's metadata for scorers, from two sources:
 * - the JSON-object attribute `metadataAttribute` (OpenInference's `metadata`), the base;
 * - every attribute under `metadataPrefix` (`metadata.user.tier = gold` → `{ user: { tier: 'gold' } }`),
 *   which overrides the base key by key, merging into nested objects (the prefixed attributes
 *   are the more specific, per-key statement, so they win over a bulk JSON blob).
 * A metadata attribute that is not a JSON object (an array, plain text) has no keys to merge and is
 * ignored; scorers still see it in `span.attributes`. An empty prefix/attribute name disables that source.
 */
export function readSpanMetadata(
  attributes: Record<string, string>,
  metadataPrefix: string,
  metadataAttribute: string,
): Record<string, unknown> {
  const rawBase =
    metadataAttribute !== '' && Object.hasOwn(attributes, metadataAttribute)
      ? parseAttributeValue(attributes[metadataAttribute]!)
      : undefined;
  const base = isPlainRecord(rawBase) ? rawBase : {};
  if (metadataPrefix === '') return base;

  const prefixed: DottedEntry[] = [];
  for (const [key, text] of Object.entries(attributes)) {
    if (key.startsWith(metadataPrefix) && key.length > metadataPrefix.length) {
      prefixed.push({ path: key.slice(metadataPrefix.length).split('.'), value: parseAttributeValue(text) });
    }
  }
  return prefixed.length === 0 ? base : mergeOverriding(base, buildDottedKeyTree(prefixed));
}

/** Deep merge of records; on any other clash `override`'s value wins. Neither input is modified. */
function mergeOverriding(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const key of Object.keys(base)) setOwnProperty(merged, key, base[key]);
  for (const key of Object.keys(override)) {
    const baseValue = Object.hasOwn(merged, key) ? merged[key] : undefined;
    const overrideValue = override[key];
    const value =
      isPlainRecord(baseValue) && isPlainRecord(overrideValue) ? mergeOverriding(baseValue, overrideValue) : overrideValue;
    setOwnProperty(merged, key, value);
  }
  return merged;
}
