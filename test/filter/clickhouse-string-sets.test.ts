import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFilterToClickHouse } from '../../src/filter/clickhouse-filter-compiler.js';
import { parseFilter } from '../../src/filter/filter-parser.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../../src/scoring/field-conventions.js';
import { FilterHarness, filterSpan, jsResults } from './clickhouse-filter-harness.js';

// Comparisons of one STRING field with many string literals compile to one set lookup
// (src/filter/clickhouse-string-sets.ts); the value must stay the JS predicate's, NULLs included.

let harness: FilterHarness;
beforeAll(async () => {
  harness = await FilterHarness.open('string_sets');
});
afterAll(async () => {
  await harness?.close();
});

/** k missing (NULL), k set to a listed value, to an unlisted one, to a numeric and a boolean text; j present or not. */
const spans = [
  filterSpan({ SpanAttributes: {} }),
  filterSpan({ SpanAttributes: { k: 'a', j: 'x' } }),
  filterSpan({ SpanAttributes: { k: 'b' } }),
  filterSpan({ SpanAttributes: { k: 'zzz', j: 'zzz' } }),
  filterSpan({ SpanAttributes: { k: '1', j: 'c' } }),
  filterSpan({ SpanAttributes: { k: 'true' } }),
  filterSpan({ SpanAttributes: { k: '' } }),
];

const FILTERS = [
  "attributes.k IN ('a', 'b')",
  "attributes.k NOT IN ('a', 'b')",
  "NOT (attributes.k IN ('a', 'b', ''))",
  "attributes.k IN ('a', attributes.j, NULL)",
  "attributes.k IN ('zzz', 1, true)",
  "attributes.k IN ('a')",
  "attributes.k = 'a' OR attributes.k = 'b' OR attributes.j = 'c'",
  "'a' = attributes.k OR attributes.k = 'b' OR attributes.k = 1",
  "attributes.k != 'a' AND attributes.k != 'b'",
  "NOT (attributes.k = 'a' OR attributes.k = 'b')",
  "attributes.k = 'a' OR attributes.j = 'x' OR attributes.k = 'zzz' OR attributes.j = 'c'",
  "attributes.j IS NULL OR attributes.k = 'a' OR attributes.k = '1'",
  "name = 'x' OR name = 'chat gpt-4o'",
];

describe('string sets', () => {
  for (const filter of FILTERS) {
    it(`agrees with the JS predicate: ${filter}`, async () => {
      expect(await harness.run(filter, spans)).toEqual(jsResults(parseFilter(filter), spans));
    });
  }

  it('compiles a long OR chain and a long IN list of one field to one set lookup with one array parameter', () => {
    const values = Array.from({ length: 20_000 }, (_, i) => `'v${i}'`);
    for (const filter of [values.map((v) => `attributes['k'] = ${v}`).join(' OR '), `attributes['k'] IN (${values.join(', ')})`]) {
      const compiled = compileFilterToClickHouse(parseFilter(filter), DEFAULT_FIELD_CONVENTIONS);
      expect(compiled.sql).toMatch(/^\(if\(mapContains\(SpanAttributes, \{p\d:String\}\), SpanAttributes\[\{p\d:String\}\], NULL\) IN \{p\d:Array\(String\)\}\)$/);
      const arrays = Object.values(compiled.params).filter(Array.isArray);
      expect(arrays).toHaveLength(1);
      expect(arrays[0]).toHaveLength(20_000);
    }
  });
});
