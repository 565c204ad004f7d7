import { parseAttributeValue } from './attribute-value.js';
import { buildDottedKeyTree, type DottedEntry } from './dotted-key-tree.js';
import { MAX_METADATA_KEYS } from './extraction-limits.js';
import { isPlainRecord, setOwnProperty } from './own-property.js';
import { scanPrefixes, type PrefixSink } from './prefix-scan.js';

/**
 * A span's metadata for scorers, from two sources:
 * - the JSON-object attribute `metadataAttribute` (OpenInference's `metadata`), the base;
 * - every attribute under `metadataPrefix` (`metadata.user.tier = gold` → `{ user: { tier: 'gold' } }`),
 *   which overrides the base key by key, merging into nested objects (the prefixed attributes
 *   are the more specific, per-key statement, so they win over a bulk JSON blob).
 * A metadata attribute that is not a JSON object (an array, plain text) has no keys to merge and is
 * ignored; scorers still see it in `span.attributes`. An empty prefix/attribute name disables that source.
 * At most MAX_METADATA_KEYS prefixed attributes are read, the first in attribute order.
 *
 * A sink for scanPrefixes, so that metadata is read in the same pass over the attributes as
 * the other fields; `readSpanMetadata` does the pass itself.
 */
export class SpanMetadataCollector implements PrefixSink {
  readonly prefix: string;
  readonly #metadataAttribute: string;
  readonly #maxKeys: number;
  readonly #prefixed: DottedEntry[] = [];

  constructor(metadataPrefix: string, metadataAttribute: string, maxKeys = MAX_METADATA_KEYS) {
    this.prefix = metadataPrefix;
    this.#metadataAttribute = metadataAttribute;
    this.#maxKeys = maxKeys;
  }

  /** False when the prefix source is off: then the collector need not be scanned for. */
  get scans(): boolean {
    return this.prefix !== '';
  }

  take(key: string, text: string): void {
    if (key.length === this.prefix.length || this.#prefixed.length >= this.#maxKeys) return;
    this.#prefixed.push({ path: key.slice(this.prefix.length).split('.'), value: parseAttributeValue(text) });
  }

  result(attributes: Record<string, string>): Record<string, unknown> {
    const name = this.#metadataAttribute;
    const rawBase = name !== '' && Object.hasOwn(attributes, name) ? parseAttributeValue(attributes[name]!) : undefined;
    const base = isPlainRecord(rawBase) ? rawBase : {};
    return this.#prefixed.length === 0 ? base : mergeOverriding(base, buildDottedKeyTree(this.#prefixed));
  }
}

export function readSpanMetadata(attributes: Record<string, string>, metadataPrefix: string, metadataAttribute: string): Record<string, unknown> {
  const collector = new SpanMetadataCollector(metadataPrefix, metadataAttribute);
  if (collector.scans) scanPrefixes(attributes, [collector]);
  return collector.result(attributes);
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
