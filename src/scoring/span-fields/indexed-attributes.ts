import { parseAttributeValue } from './attribute-value.js';
import { buildDottedKeyTree, isIndex, type DottedEntry } from './dotted-key-tree.js';

/**
 * Reads a list that an instrumentation flattened into indexed attributes, as OpenLLMetry does
 * for the older GenAI conventions: `gen_ai.prompt.0.role = user`, `gen_ai.prompt.0.content = hi`,
 * `gen_ai.prompt.1.role = assistant`, … becomes `[{ role: 'user', content: 'hi' }, { role: 'assistant', … }]`.
 *
 * Every field under an index is kept (not only role/content: `finish_reason`, `tool_calls.0.name`
 * nest the same way), each value parsed like any attribute. Elements are ordered by index and
 * gaps are closed (indices 0 and 2 give a two-element list). Returns undefined when `key` has no
 * indexed attributes, so the caller can move on to the next convention.
 */
export function readIndexedList(attributes: Record<string, string>, key: string): unknown[] | undefined {
  const prefix = `${key}.`;
  const fieldsByIndex = new Map<number, DottedEntry[]>();
  for (const [attributeKey, text] of Object.entries(attributes)) {
    if (!attributeKey.startsWith(prefix)) continue;
    const [index, ...path] = attributeKey.slice(prefix.length).split('.');
    if (index === undefined || !isIndex(index) || path.length === 0) continue;
    const fields = fieldsByIndex.get(Number(index)) ?? [];
    fields.push({ path, value: parseAttributeValue(text) });
    fieldsByIndex.set(Number(index), fields);
  }
  if (fieldsByIndex.size === 0) return undefined;
  return [...fieldsByIndex.entries()].sort(([a], [b]) => a - b).map(([, fields]) => buildDottedKeyTree(fields));
}
