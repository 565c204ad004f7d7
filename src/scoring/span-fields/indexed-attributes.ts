import { parseAttributeValue } from './attribute-value.js';
import { buildDottedKeyTree, isIndex } from './dotted-key-tree.js';
import { MAX_INDEXED_ELEMENTS, MAX_INDEXED_FIELDS } from './extraction-limits.js';
import { scanPrefixes, type PrefixSink } from './prefix-scan.js';

/** One attribute under an index: `gen_ai.prompt.3.tool_calls.0.name` is (3, `tool_calls.0.name`). */
interface IndexedField {
  index: number;
  rest: string;
  text: string;
}

export interface IndexedListLimits {
  elements: number;
  fields: number;
}

/**
 * Reads a list that an instrumentation flattened into indexed attributes, as OpenLLMetry does
 * for the older GenAI conventions: `gen_ai.prompt.0.role = user`, `gen_ai.prompt.0.content = hi`,
 * `gen_ai.prompt.1.role = assistant`, … becomes `[{ role: 'user', content: 'hi' }, { role: 'assistant', … }]`.
 *
 * Every field under an index is kept (not only role/content: `finish_reason`, `tool_calls.0.name`
 * nest the same way), each value parsed like any attribute. Elements are ordered by index and
 * gaps are closed (indices 0 and 2 give a two-element list). At most `limits.elements` elements
 * and `limits.fields` attributes are read, the lowest indices first (within an index, in
 * attribute order), so a span with a million indexed keys costs a bounded list, not a million.
 *
 * A sink for scanPrefixes: it sees only the keys under `key.` (callers read several fields
 * from one pass over the attributes), and holds at most twice the field limit at any time.
 */
export class IndexedListCollector implements PrefixSink {
  readonly prefix: string;
  readonly #limits: IndexedListLimits;
  #fields: IndexedField[] = [];
  /**
   * Fields at or above this index cannot make the list any more: once a compaction dropped a
   * field, every later one at its index or above ranks after it (same index, later in the
   * attributes; or a higher index), so it would be dropped as well.
   */
  #below = Number.POSITIVE_INFINITY;

  constructor(key: string, limits: IndexedListLimits = { elements: MAX_INDEXED_ELEMENTS, fields: MAX_INDEXED_FIELDS }) {
    this.prefix = `${key}.`;
    this.#limits = limits;
  }

  take(key: string, text: string): void {
    const start = this.prefix.length;
    const dot = key.indexOf('.', start);
    // `gen_ai.prompt.3` alone names no field of element 3; `gen_ai.prompt.model` no element.
    if (dot === -1) return;
    const segment = key.slice(start, dot);
    if (!isIndex(segment)) return;
    const index = Number(segment);
    if (index >= this.#below) return;
    this.#fields.push({ index, rest: key.slice(dot + 1), text });
    if (this.#fields.length >= 2 * this.#limits.fields) this.#compact();
  }

  /** The list, or undefined when no indexed attribute was seen (the caller tries its next key). */
  result(): unknown[] | undefined {
    if (this.#fields.length === 0) return undefined;
    this.#compact();
    const list: unknown[] = [];
    let start = 0;
    while (start < this.#fields.length) {
      const index = this.#fields[start]!.index;
      let end = start;
      while (end < this.#fields.length && this.#fields[end]!.index === index) end++;
      const element = this.#fields.slice(start, end).map((field) => ({ path: field.rest.split('.'), value: parseAttributeValue(field.text) }));
      list.push(buildDottedKeyTree(element));
      start = end;
    }
    return list;
  }

  /** Sorts by index (stable: attribute order within one) and keeps what fits the limits. */
  #compact(): void {
    const fields = this.#fields;
    fields.sort((a, b) => a.index - b.index);
    let kept = 0;
    let elements = 0;
    while (kept < fields.length && kept < this.#limits.fields) {
      if (kept === 0 || fields[kept]!.index !== fields[kept - 1]!.index) {
        if (elements === this.#limits.elements) break;
        elements++;
      }
      kept++;
    }
    if (kept === fields.length) return;
    this.#below = Math.min(this.#below, fields[kept]!.index);
    fields.length = kept;
  }
}

/** The indexed list under `key` (see IndexedListCollector), or undefined when there is none. */
export function readIndexedList(attributes: Record<string, string>, key: string): unknown[] | undefined {
  const collector = new IndexedListCollector(key);
  scanPrefixes(attributes, [collector]);
  return collector.result();
}
