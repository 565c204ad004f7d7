import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exceedsJsonLimits } from '../../src/filter/json-limits.js';
import { FilterHarness, filterSpan, jsResults } from './clickhouse-filter-harness.js';
import { parseFilter } from '../../src/filter/filter-parser.js';

/**
 * The JS side's idea of valid JSON against ClickHouse's own (`json_valid` in both back ends),
 * on texts crowded around each limit: integers near -2^63 and 2^64, exponents near the double
 * range, surrogate escapes in every order, nesting around depth 1024.
 */

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });
const nearBound = fc.tuple(fc.constantFrom(2n ** 63n, 2n ** 64n, 10n ** 19n, 10n ** 20n), fc.integer({ min: -3, max: 3 })).map(([b, d]) => (b + BigInt(d)).toString());

const integer = fc.tuple(fc.boolean(), fc.oneof(nearBound, digits(1, 22).map((d) => d.replace(/^0+(?=\d)/, '')))).map(([neg, d]) => (neg ? '-' : '') + d);
const float = fc
  .tuple(integer, fc.option(digits(1, 4), { nil: undefined }), fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 290, max: 330 }), fc.boolean())
  .map(([m, frac, e, sign, exp, withExp]) => `${m}${frac === undefined ? '' : `.${frac}`}${withExp ? `${e}${sign}${exp}` : frac === undefined ? '.0' : ''}`);
const escapes = fc
  .array(fc.constantFrom('\\ud800', '\\udbff', '\\udc00', '\\uDFFF', '\\u0041', '\\ud83d\\ude00', 'x', '\\n', 'é', '\\\\u'), { maxLength: 4 })
  .map((parts) => `"${parts.join('')}"`);
const scalar = fc.oneof(integer, float, escapes, fc.constantFrom('true', 'null', '""'));
const nested = fc
  .tuple(fc.integer({ min: 1020, max: 1027 }), fc.constantFrom('[', '{"a":'), fc.oneof(fc.constant(''), scalar, fc.constantFrom('[]', '{}')))
  .map(([depth, opener, inner]) => {
    const body = opener === '[' || inner !== '' ? inner : '1';
    return opener.repeat(depth) + body + (opener === '[' ? ']' : '}').repeat(depth);
  });
const text = fc.oneof(
  scalar,
  fc.array(scalar, { minLength: 1, maxLength: 3 }).map((xs) => `[${xs.join(',')}]`),
  scalar.map((x) => `{"k":${x},"b":1}`),
  { weight: 1, arbitrary: nested },
);

let harness: FilterHarness;

beforeAll(async () => {
  harness = await FilterHarness.open('json_limits');
});

afterAll(async () => {
  await harness.close();
});

describe('valid JSON: JS limits vs ClickHouse', () => {
  it('agree on 600 seeded texts around every limit', async () => {
    const texts = fc.sample(text, { seed: 20261126, numRuns: 600 }).filter((t) => {
      try {
        JSON.parse(t);
        return true;
      } catch {
        return false; // both sides refuse what JSON.parse refuses; not what this test is about
      }
    });
    expect(texts.length).toBeGreaterThan(400);
    const spans = texts.map((t) => filterSpan({ SpanAttributes: { t } }));
    const filter = parseFilter('json_valid(attributes.t)');
    const clickhouse = await harness.run(filter, spans);
    const js = jsResults(filter, spans);
    const disagreements = texts.filter((_, i) => clickhouse[i] !== js[i]).map((t) => (t.length > 80 ? `${t.slice(0, 40)}…(${t.length})` : t));
    expect(disagreements).toEqual([]);
    // The corpus reaches both sides of the limits.
    expect(clickhouse.filter((v) => v === false).length).toBeGreaterThan(50);
    expect(clickhouse.filter((v) => v === true).length).toBeGreaterThan(50);
  });

  it('skips the exact scan for texts without a tell-tale', () => {
    expect(exceedsJsonLimits('{"a":[1,2,3],"b":"x"}')).toBe(false);
    expect(exceedsJsonLimits('{"a":123456789012345678}')).toBe(false);
    expect(exceedsJsonLimits('"1234567890123456789012 in a string"')).toBe(false);
    expect(exceedsJsonLimits('{"a":1e99}')).toBe(false);
    expect(exceedsJsonLimits('{"a":"\\u00e9"}')).toBe(false);
    expect(exceedsJsonLimits('{"a":12345678901234567890123}')).toBe(true);
    expect(exceedsJsonLimits('{"a":"\\udFFF"}')).toBe(true);
  });
});
