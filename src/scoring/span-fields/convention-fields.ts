import { parseAttributeValue } from './attribute-value.js';
import { IndexedListCollector } from './indexed-attributes.js';
import { scanPrefixes, type PrefixSink } from './prefix-scan.js';

/**
 * Several fields by their convention lists (`input`, `output`, ...), from one pass over the
 * attributes. For each list the keys are tried in order and the first PRESENT one wins
 * (present: the attribute exists, even if empty, or only its indexed form does, which is
 * read as a list of objects in place of the key). A field no key provides is `undefined`.
 *
 * Only the keys before a list's first directly present one can win through their indexed
 * form, so only those are collected; `extra` sinks (metadata) ride along in the same pass.
 */
export function readConventionFields<Field extends string>(
  attributes: Record<string, string>,
  lists: Readonly<Record<Field, readonly string[]>>,
  extra: readonly PrefixSink[] = [],
): Record<Field, unknown> {
  const collectors = new Map<string, IndexedListCollector>();
  const plans: Array<{ field: Field; indexed: IndexedListCollector[]; direct: string | undefined }> = [];
  for (const field of Object.keys(lists) as Field[]) {
    const keys = lists[field];
    const directAt = keys.findIndex((key) => Object.hasOwn(attributes, key));
    const before = directAt === -1 ? keys : keys.slice(0, directAt);
    const indexed = before.map((key) => {
      let collector = collectors.get(key);
      if (collector === undefined) collectors.set(key, (collector = new IndexedListCollector(key)));
      return collector;
    });
    plans.push({ field, indexed, direct: directAt === -1 ? undefined : keys[directAt] });
  }
  scanPrefixes(attributes, [...collectors.values(), ...extra]);

  const fields = {} as Record<Field, unknown>;
  const results = new Map<IndexedListCollector, unknown[] | undefined>();
  for (const { field, indexed, direct } of plans) {
    let value: unknown;
    for (const collector of indexed) {
      if (!results.has(collector)) results.set(collector, collector.result());
      value = results.get(collector);
      if (value !== undefined) break;
    }
    if (value === undefined && direct !== undefined) value = parseAttributeValue(attributes[direct]!);
    fields[field] = value;
  }
  return fields;
}
