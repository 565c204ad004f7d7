import { describe, expect, it } from 'vitest';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS, extractScorerArgs, readConventionField } from '../../src/scoring/span-fields.js';
import { MAX_INDEXED_ELEMENTS, MAX_INDEXED_FIELDS, MAX_METADATA_KEYS } from '../../src/scoring/span-fields/extraction-limits.js';
import { IndexedListCollector, readIndexedList } from '../../src/scoring/span-fields/indexed-attributes.js';
import { scanPrefixes } from '../../src/scoring/span-fields/prefix-scan.js';
import { extractThread } from '../../src/scoring/trace-rules/thread-messages.js';
import { spanRow } from '../storage/storage-fixtures.js';

/**
 * Scorer arguments from a span with a million attribute keys (17 MB), as one client sent: the
 * extraction must be linear in the attributes and bounded in what it keeps. No timings are
 * asserted (shared machines); the generous timeouts only catch the quadratic-ish, GB-hungry
 * behaviour this replaced (seconds per field, GBs of garbage, per span).
 */

const MILLION = 1_000_000;
const SLOW = 120_000;

function attributesOf(count: number, entry: (i: number) => [string, string], base: Record<string, string> = {}): Record<string, string> {
  const attributes: Record<string, string> = { ...base };
  for (let i = 0; i < count; i++) {
    const [key, value] = entry(i);
    attributes[key] = value;
  }
  return attributes;
}

const root = (attributes: Record<string, string>): SpanRow => spanRow({ ParentSpanId: '', SpanAttributes: attributes, Events: [], Links: [] });

describe('indexed lists of a million attributes', () => {
  it('keeps the lowest MAX_INDEXED_ELEMENTS elements of a million-element list, whatever the attribute order', () => {
    // Descending: every new index is lower than all before it, the worst case for keeping the lowest.
    const attributes = attributesOf(MILLION, (i) => [`gen_ai.prompt.${MILLION - 1 - i}.content`, `m${MILLION - 1 - i}`]);
    const list = readIndexedList(attributes, 'gen_ai.prompt')!;
    expect(list).toHaveLength(MAX_INDEXED_ELEMENTS);
    expect(list.slice(0, 3)).toEqual([{ content: 'm0' }, { content: 'm1' }, { content: 'm2' }]);
    expect(list.at(-1)).toEqual({ content: `m${MAX_INDEXED_ELEMENTS - 1}` });
  }, SLOW);

  it('reads a million-element list as a scorer input, and the fields after it normally', () => {
    const attributes = attributesOf(MILLION, (i) => [`gen_ai.prompt.${i}.role`, i % 2 === 0 ? 'user' : 'assistant'], { 'gen_ai.completion': 'done', expected: 'done' });
    const args = extractScorerArgs(root(attributes), DEFAULT_FIELD_CONVENTIONS);
    expect(args.input).toHaveLength(MAX_INDEXED_ELEMENTS);
    expect((args.input as unknown[]).slice(0, 2)).toEqual([{ role: 'user' }, { role: 'assistant' }]);
    expect(args.output).toBe('done');
    expect(args.expected).toBe('done');
    expect(args.metadata).toEqual({});
  }, SLOW);

  it('bounds one element with a million fields to MAX_INDEXED_FIELDS, the first in attribute order', () => {
    const attributes = attributesOf(MILLION, (i) => [`gen_ai.completion.0.f${i}`, String(i)], { 'gen_ai.completion.1.content': 'second' });
    const list = readConventionField(attributes, DEFAULT_FIELD_CONVENTIONS.output) as Array<Record<string, unknown>>;
    expect(list).toHaveLength(1);
    const fields = Object.keys(list[0]!);
    expect(fields).toHaveLength(MAX_INDEXED_FIELDS);
    expect(fields.slice(0, 2)).toEqual(['f0', 'f1']);
    expect(list[0]!.f9).toBe('9');
  }, SLOW);

  it('bounds deeply dotted fields the same way', () => {
    const attributes = attributesOf(MILLION, (i) => [`gen_ai.prompt.${i % 3}.${'a.'.repeat(i % 40)}x${i}`, 'v']);
    const list = readIndexedList(attributes, 'gen_ai.prompt')!;
    expect(list).toHaveLength(1);
    // Element 0 alone holds more than the field limit, so elements 1 and 2 cannot fit.
    expect(JSON.stringify(list[0]).match(/"x\d+"/g)).toHaveLength(MAX_INDEXED_FIELDS);
  }, SLOW);
});

describe('a span with a million attributes', () => {
  it('finds input, output and expected among a million unrelated keys, in one pass', () => {
    const attributes = attributesOf(MILLION, (i) => [`k${i}`, 'x'], { 'input.value': '{"q":"hi"}', 'output.value': 'hello', 'spanscore.expected': 'hello' });
    const args = extractScorerArgs(root(attributes), DEFAULT_FIELD_CONVENTIONS);
    expect(args.input).toEqual({ q: 'hi' });
    expect(args.output).toBe('hello');
    expect(args.expected).toBe('hello');
    expect(args.metadata).toEqual({});
    expect(Object.keys(args.span.attributes)).toHaveLength(MILLION + 3);
  }, SLOW);

  it('reads at most MAX_METADATA_KEYS prefixed metadata keys, the first in attribute order', () => {
    const attributes = attributesOf(MILLION, (i) => [`metadata.k${i}`, String(i)], { metadata: '{"base":"kept"}', output: 'o' });
    const args = extractScorerArgs(root(attributes), DEFAULT_FIELD_CONVENTIONS);
    expect(Object.keys(args.metadata)).toHaveLength(MAX_METADATA_KEYS + 1);
    expect(args.metadata).toMatchObject({ base: 'kept', k0: '0', [`k${MAX_METADATA_KEYS - 1}`]: String(MAX_METADATA_KEYS - 1) });
    expect(args.metadata).not.toHaveProperty(`k${MAX_METADATA_KEYS}`);
    expect(args.output).toBe('o');
  }, SLOW);

  it('gives a trace rule a bounded thread from a million indexed input messages', () => {
    const attributes = attributesOf(MILLION, (i) => [`llm.input_messages.${i}.message.content`, `m${i}`], {});
    for (let i = 0; i < 3; i++) attributes[`llm.input_messages.${i}.message.role`] = 'user';
    const thread = extractThread([root(attributes)], DEFAULT_FIELD_CONVENTIONS);
    expect(thread.slice(0, 3)).toEqual([
      { role: 'user', content: 'm0' },
      { role: 'user', content: 'm1' },
      { role: 'user', content: 'm2' },
    ]);
  }, SLOW);
});

describe('IndexedListCollector limits', () => {
  const collect = (attributes: Record<string, string>, limits: { elements: number; fields: number }) => {
    const collector = new IndexedListCollector('l', limits);
    scanPrefixes(attributes, [collector]);
    return collector.result();
  };

  it('keeps the lowest indices and closes gaps, compacting as it goes', () => {
    const attributes = attributesOf(100, (i) => [`l.${(i * 37) % 100 * 3}.v`, String((i * 37) % 100 * 3)]);
    expect(collect(attributes, { elements: 4, fields: 1_000 })).toEqual([{ v: '0' }, { v: '3' }, { v: '6' }, { v: '9' }]);
  });

  it('cuts the last element at the field limit, keeping its first fields in attribute order', () => {
    const attributes = { 'l.1.b': '1b', 'l.0.a': '0a', 'l.1.a': '1a', 'l.2.a': '2a', 'l.0.b': '0b', 'l.1.c': '1c' };
    expect(collect(attributes, { elements: 10, fields: 4 })).toEqual([{ a: '0a', b: '0b' }, { b: '1b', a: '1a' }]);
    expect(collect(attributes, { elements: 10, fields: 2 })).toEqual([{ a: '0a', b: '0b' }]);
  });

  it('reads what it did before below the limits: nested fields, ignored non-index segments', () => {
    const attributes = { 'l.model': 'x', 'l.01.a': 'x', 'l.3': 'bare', 'l.2.tool_calls.0.name': 'n', 'l.2.tool_calls.0.arguments': '{"q":1}', 'l.0.role': 'user' };
    expect(collect(attributes, { elements: 10, fields: 100 })).toEqual([{ role: 'user' }, { tool_calls: [{ name: 'n', arguments: { q: 1 } }] }]);
  });
});
