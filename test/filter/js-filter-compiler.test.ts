import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseFilter } from '../../src/filter/filter-parser.js';
import { FilterTypeError, inferTypes, resolveFieldAccess, type StaticType } from '../../src/filter/filter-static-types.js';
import { compareCodePoints } from '../../src/filter/filter-values.js';
import { compileFilter } from '../../src/filter/js-filter-compiler.js';
import { compileLike } from '../../src/filter/like-matcher.js';
import type { FieldRef } from '../../src/filter/filter-ast.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS, type FieldConventions } from '../../src/scoring/field-conventions.js';

type Result = boolean | null;

function makeSpan(attributes: Record<string, string> = {}, overrides: Partial<SpanRow> = {}): SpanRow {
  return {
    Timestamp: '1700000000123456789',
    TraceId: '0af7651916cd43dd8448eb211c80319c',
    SpanId: 'b7ad6b7169203331',
    ParentSpanId: '00f067aa0ba902b7',
    TraceState: '',
    SpanName: 'chat gpt-4o',
    SpanKind: 'Client',
    ServiceName: 'checkout',
    ResourceAttributes: { 'service.name': 'checkout', 'deployment.environment': 'prod' },
    ScopeName: 'openinference',
    ScopeVersion: '1.0',
    SpanAttributes: attributes,
    Duration: '1500000000',
    StatusCode: 'Error',
    StatusMessage: 'rate limited',
    Events: [],
    Links: [],
    ...overrides,
  };
}

function ev(filter: string, span: SpanRow = makeSpan(), conventions: FieldConventions = DEFAULT_FIELD_CONVENTIONS): Result {
  const compiled = compileFilter(parseFilter(filter), conventions);
  const result = compiled.evaluate(span);
  expect(compiled.matches(span)).toBe(result === true);
  return result;
}

/** A span whose `input` is a JSON document holding one value of every kind. */
const DOC = {
  n5: 5,
  n7: 7,
  s5: '5',
  s5e: '5e0',
  s7: '7',
  sabc: 'abc',
  sabd: 'abd',
  strue: 'true',
  sfalse: 'false',
  t: true,
  f: false,
  o: { k: 1 },
  a: [1, 'x', null, true, { k: 1 }],
  z: null,
};
const docSpan = makeSpan({ 'input.value': JSON.stringify(DOC) });
const evDoc = (filter: string) => ev(filter, docSpan);

function typeError(filter: string, source?: string): FilterTypeError {
  try {
    inferTypes(parseFilter(filter), source);
  } catch (error) {
    expect(error).toBeInstanceOf(FilterTypeError);
    return error as FilterTypeError;
  }
  throw new Error(`expected ${filter} to be refused`);
}

describe('fields', () => {
  const span = makeSpan({ 'gen_ai.request.model': 'gpt-4o', 'a.b': 'dotted', a: '{"b":"json"}' });
  it.each<[string, Result]>([
    ["name = 'chat gpt-4o'", true],
    ["span_kind = 'client'", true],
    ["span_kind = 'Client'", false],
    ["service_name = 'checkout'", true],
    ["status = 'error'", true],
    ["status_message = 'rate limited'", true],
    ['duration_ms = 1500', true],
    ['timestamp = 1700000000123.4568', true],
    ['is_root', false],
    ['NOT is_root', true],
    ["trace_id = '0af7651916cd43dd8448eb211c80319c'", true],
    ["span_id = 'b7ad6b7169203331'", true],
    ["parent_span_id = '00f067aa0ba902b7'", true],
    ["scope_name = 'openinference'", true],
    ["attributes['gen_ai.request.model'] = 'gpt-4o'", true],
    ["attributes.gen_ai.request.model = 'gpt-4o'", true],
    ["attributes.a.b = 'dotted'", true],
    ["attributes.a['b'] = 'json'", true],
    ["attributes['a'].b = 'json'", true],
    ["attributes['a.b'] = 'dotted'", true],
    ["resource['deployment.environment'] = 'prod'", true],
    ["resource.deployment.environment = 'prod'", true],
    ['resource.missing IS NULL', true],
    ["attributes['toString'] IS NULL", true],
    ["attributes['__proto__'] IS NULL", true],
  ])('%s -> %s', (filter, expected) => {
    expect(ev(filter, span)).toBe(expected);
  });

  it('a root span: is_root TRUE, parent_span_id NULL', () => {
    const root = makeSpan({}, { ParentSpanId: '' });
    expect(ev('is_root', root)).toBe(true);
    expect(ev('parent_span_id IS NULL', root)).toBe(true);
    expect(ev("parent_span_id = ''", root)).toBe(null);
  });

  it('span kinds and status codes are lower-cased', () => {
    for (const kind of ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer']) {
      expect(ev(`span_kind = '${kind.toLowerCase()}'`, makeSpan({}, { SpanKind: kind }))).toBe(true);
    }
    for (const code of ['Ok', 'Error', 'Unset']) {
      expect(ev(`status = '${code.toLowerCase()}'`, makeSpan({}, { StatusCode: code }))).toBe(true);
    }
  });

  it('duration_ms and timestamp are ns / 1e6', () => {
    const span2 = makeSpan({}, { Duration: '1234567', Timestamp: '1000000' });
    expect(ev('duration_ms = 1.234567', span2)).toBe(true);
    expect(ev('duration_ms > 1.2345', span2)).toBe(true);
    expect(ev('timestamp = 1', span2)).toBe(true);
  });

  it('input/output/expected: the first present convention attribute, even when empty', () => {
    const span2 = makeSpan({ 'gen_ai.prompt': 'second', input: 'last', 'output.value': '', expected: 'exp' });
    expect(ev("input = 'second'", span2)).toBe(true);
    expect(ev("output = ''", span2)).toBe(true);
    expect(ev("expected = 'exp'", span2)).toBe(true);
    expect(ev('input IS NULL', makeSpan())).toBe(true);
    // The indexed attribute form is not a field of the filter language.
    expect(ev('input IS NULL', makeSpan({ 'gen_ai.prompt.0.content': 'hi' }))).toBe(true);
  });

  it('custom conventions', () => {
    const conventions: FieldConventions = { ...DEFAULT_FIELD_CONVENTIONS, input: ['my.in'], output: ['my.out', 'other'] };
    const span2 = makeSpan({ 'my.in': 'A', other: 'B', 'input.value': 'ignored' });
    expect(ev("input = 'A'", span2, conventions)).toBe(true);
    expect(ev("output = 'B'", span2, conventions)).toBe(true);
  });
});

describe('JSON paths', () => {
  const span = makeSpan({
    'input.value': '{"messages":[{"role":"user","content":"hi"},{"role":"assistant"}],"n":3,"odd key":"v","nul":null,"flag":true,"__proto__":"p"}',
    'output.value': 'plain text {"a":1}',
    'gen_ai.completion': '[1,2]',
    expected: '  [10, 20]  ',
  });
  it.each<[string, Result]>([
    ["input.messages[0].role = 'user'", true],
    ["input.messages[1].role = 'assistant'", true],
    ['input.messages[1].content IS NULL', true],
    ['input.messages[2] IS NULL', true],
    ['input.messages.role IS NULL', true],
    ['input[0] IS NULL', true],
    ['input.n[0] IS NULL', true],
    ['input.n = 3', true],
    ["input.\"odd key\" = 'v'", true],
    ["input['odd key'] = 'v'", true],
    ['input.nul IS NULL', true],
    ['input.nul IS NOT NULL', false],
    ['input.flag', true],
    ['input.flag = TRUE', true],
    ["input.__proto__ = 'p'", true],
    ['input.constructor IS NULL', true],
    ['input.messages IS NOT NULL', true],
    ['input.messages = input.messages', null],
    ["input.messages = '[]'", null],
    ['output.a IS NULL', true],
    ['expected[1] = 20', true],
    ["input.messages[0].role LIKE 'us%'", true],
  ])('%s -> %s', (filter, expected) => {
    expect(ev(filter, span)).toBe(expected);
  });

  it('a JSON path that is not boolean counts as NULL under AND/OR/NOT and at the top', () => {
    expect(ev('input.n', span)).toBe(null);
    expect(ev('input.messages OR FALSE', span)).toBe(null);
    expect(ev('NOT input.n', span)).toBe(null);
    expect(ev('input.n AND FALSE', span)).toBe(false);
    expect(ev('input.n OR TRUE', span)).toBe(true);
  });

  it('JSON is parsed at most once per span per field', () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const compiled = compileFilter(
        parseFilter("input.messages[0].role = 'user' AND input.n = 3 AND json_valid(input) AND length(input.messages) = 2 AND input.flag"),
        DEFAULT_FIELD_CONVENTIONS,
      );
      expect(compiled.evaluate(span)).toBe(true);
      expect(parse).toHaveBeenCalledTimes(1);
      expect(compiled.evaluate(span)).toBe(true);
      expect(parse).toHaveBeenCalledTimes(2);
    } finally {
      parse.mockRestore();
    }
  });
});

describe('metadata', () => {
  const span = makeSpan({
    metadata: '{"user":{"tier":"bronze","name":"ann"},"model":"m1","list":[{"x":1}]}',
    'metadata.user': '{"tier":"gold","id":7}',
    'metadata.user.tier': 'silver',
    'metadata.plain': 'text',
  });
  it.each<[string, Result]>([
    // the longest existing prefix wins
    ["metadata.user.tier = 'silver'", true],
    // metadata.user exists: the rest is a JSON path into it
    ['metadata.user.id = 7', true],
    // ... and does not fall back to the metadata attribute when the path is missing there
    ['metadata.user.name IS NULL', true],
    // no prefixed attribute: a JSON path into `metadata`
    ["metadata.model = 'm1'", true],
    ['metadata.list[0].x = 1', true],
    ['metadata[0] IS NULL', true],
    // no steps left: the attribute's raw text
    ['metadata.user = \'{"tier":"gold","id":7}\'', true],
    ["metadata.plain = 'text'", true],
    ['metadata.plain.x IS NULL', true],
    ["metadata LIKE '{\"user\"%'", true],
    ['metadata.nothing IS NULL', true],
  ])('%s -> %s', (filter, expected) => {
    expect(ev(filter, span)).toBe(expected);
  });

  it('follows the configured prefix and attribute', () => {
    const conventions: FieldConventions = { ...DEFAULT_FIELD_CONVENTIONS, metadataPrefix: 'meta:', metadataAttribute: 'md' };
    const span2 = makeSpan({ 'meta:a.b': 'x', md: '{"a":{"c":"y"}}', 'metadata.a.b': 'not me' });
    expect(ev("metadata.a.b = 'x'", span2, conventions)).toBe(true);
    expect(ev("metadata.a.c = 'y'", span2, conventions)).toBe(true);
    expect(ev('metadata = \'{"a":{"c":"y"}}\'', span2, conventions)).toBe(true);
  });

  it('an empty prefix disables prefixed attributes; an empty attribute name disables the document', () => {
    const span2 = makeSpan({ 'metadata.a': 'prefixed', metadata: '{"a":"doc"}' });
    expect(ev("metadata.a = 'doc'", span2, { ...DEFAULT_FIELD_CONVENTIONS, metadataPrefix: '' })).toBe(true);
    const noDoc = { ...DEFAULT_FIELD_CONVENTIONS, metadataAttribute: '' };
    expect(ev('metadata IS NULL', span2, noDoc)).toBe(true);
    expect(ev("metadata.a = 'prefixed'", span2, noDoc)).toBe(true);
    expect(ev('metadata.b IS NULL', span2, noDoc)).toBe(true);
  });
});

describe('comparisons: the doc table', () => {
  // [dynamic form from the JSON document, literal form or undefined]
  const V = {
    n5: ['input.n5', '5'],
    n7: ['input.n7', '7'],
    s5: ['input.s5', "'5'"],
    s5e: ['input.s5e', "'5e0'"],
    s7: ['input.s7', "'7'"],
    sabc: ['input.sabc', "'abc'"],
    sabd: ['input.sabd', "'abd'"],
    strue: ['input.strue', "'true'"],
    sfalse: ['input.sfalse', "'false'"],
    t: ['input.t', 'TRUE'],
    f: ['input.f', 'FALSE'],
    o: ['input.o', undefined],
    a: ['input.a', undefined],
    z: ['input.z', 'NULL'],
    missing: ['input.missing', undefined],
  } as const;
  type V = keyof typeof V;
  const cases: [V, string, V, Result][] = [
    // NUMBER x NUMBER
    ['n5', '=', 'n5', true],
    ['n5', '<', 'n7', true],
    ['n7', '<=', 'n5', false],
    ['n5', '!=', 'n7', true],
    // NUMBER x STRING: numeric when the string is a number literal
    ['n5', '=', 's5', true],
    ['n5', '=', 's5e', true],
    ['s7', '>', 'n5', true],
    ['n7', '>=', 's7', true],
    ['n5', '=', 'sabc', null],
    ['sabc', '!=', 'n5', null],
    ['n5', '<', 'sabc', null],
    // NUMBER x BOOL, NUMBER x JSON
    ['n5', '=', 't', null],
    ['f', '<', 'n5', null],
    ['n5', '=', 'o', null],
    ['a', '!=', 'n5', null],
    // STRING x STRING: code points, not numbers
    ['sabc', '<', 'sabd', true],
    ['sabc', '=', 'sabc', true],
    ['s7', '>', 's5', true],
    ['s5', '=', 's5e', false],
    ['s5', '!=', 's5e', true],
    // STRING x BOOL
    ['strue', '=', 't', true],
    ['f', '=', 'sfalse', true],
    ['sfalse', '<', 't', true],
    ['strue', '!=', 'f', true],
    ['sabc', '=', 't', null],
    ['f', '!=', 'sabc', null],
    ['s5', '=', 't', null],
    // STRING x JSON
    ['sabc', '=', 'o', null],
    ['a', '=', 'sabc', null],
    // BOOL x BOOL
    ['f', '<', 't', true],
    ['t', '=', 't', true],
    ['t', '<=', 'f', false],
    ['t', '!=', 'f', true],
    // BOOL x JSON, JSON x JSON
    ['t', '=', 'o', null],
    ['o', '=', 'o', null],
    ['a', '!=', 'o', null],
    // NULL anywhere
    ['z', '=', 'z', null],
    ['n5', '=', 'z', null],
    ['z', '!=', 'sabc', null],
    ['t', '=', 'missing', null],
    ['missing', '!=', 'n5', null],
  ];
  it.each(cases)('%s %s %s -> %s (dynamic, literal on either side)', (l, op, r, expected) => {
    const [ld, ll] = V[l];
    const [rd, rl] = V[r];
    expect(evDoc(`${ld} ${op} ${rd}`)).toBe(expected);
    if (rl !== undefined) expect(evDoc(`${ld} ${op} ${rl}`)).toBe(expected);
    if (ll !== undefined) expect(evDoc(`${ll} ${op} ${rd}`)).toBe(expected);
    if (ll !== undefined && rl !== undefined) expect(evDoc(`${ll} ${op} ${rl}`)).toBe(expected);
  });

  it('<> is !=', () => {
    expect(evDoc('input.n5 <> 7')).toBe(true);
    expect(evDoc('input.n5 <> 5')).toBe(false);
  });

  it.each<[string, Result]>([
    ["'1e3'", true],
    ["'1E+3'", true],
    ["'10000e-1'", true],
    ["'1000.0'", true],
    ["'01000'", true],
    ["' 1000'", null],
    ["'1000 '", null],
    ["'+1000'", null],
    ["'1000.'", null],
    ["'.5'", null],
    ["'0x3e8'", null],
    ["'1_000'", null],
    ["'Infinity'", null],
    ["'1e'", null],
    ["''", null],
  ])('numeric-string grammar: 1000 = %s -> %s', (text, expected) => {
    // STRING = STRING stays a string comparison
    expect(ev(`attributes['n'] = ${text}`, makeSpan({ n: '1000' }))).toBe(false);
    expect(ev(`1000 = ${text}`)).toBe(expected);
    expect(ev(`duration_ms - 500 = ${text}`)).toBe(expected);
  });

  it("'-0' and '1e999' are numbers", () => {
    expect(ev("0 = '-0'")).toBe(true);
    expect(ev("duration_ms < '1e999'")).toBe(true);
  });

  it('strings order by code point, not UTF-16 unit', () => {
    const span = makeSpan({ emoji: '\u{1F600}', bmp: '\uFFFF', e000: '\uE000' });
    expect(ev("attributes['emoji'] > attributes['bmp']", span)).toBe(true);
    expect(ev("attributes['emoji'] > '\uFFFF'", span)).toBe(true);
    expect(ev("'\u{1F600}' > attributes['bmp']", span)).toBe(true);
    expect(ev("attributes['e000'] < '\u{10000}'", span)).toBe(true);
    expect(ev("attributes['bmp'] >= attributes['emoji']", span)).toBe(false);
    expect(ev("'a' < 'ab'", span)).toBe(true);
    expect(ev("'B' < 'a'", span)).toBe(true);
    expect(ev("'é' > 'z'", span)).toBe(true);
  });

  it('compareCodePoints agrees with UTF-8 byte order', () => {
    const chars = fc.constantFrom('a', 'b', 'z', '\u00e9', '\ud7ff', '\ue000', '\uffff', '\u{10000}', '\u{1F600}', '\u{10FFFF}');
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 5 }), fc.array(chars, { maxLength: 5 }), (xs, ys) => {
        const [a, b] = [xs.join(''), ys.join('')];
        expect(Math.sign(compareCodePoints(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
    );
  });
});

describe('three-valued logic', () => {
  const span = makeSpan({ 'input.value': '{"t":true,"f":false,"z":null,"s":"x"}' });
  const forms: Record<'T' | 'F' | 'N', string[]> = {
    T: ['TRUE', 'input.t', 'is_root IS NOT NULL'],
    F: ['FALSE', 'input.f', 'is_root'],
    N: ['NULL', 'input.z', 'input.missing', 'input.s'],
  };
  const value = { T: true, F: false, N: null } as const;
  const and = (a: Result, b: Result): Result => (a === false || b === false ? false : a === null || b === null ? null : true);
  const or = (a: Result, b: Result): Result => (a === true || b === true ? true : a === null || b === null ? null : false);
  const keys = ['T', 'F', 'N'] as const;
  for (const a of keys) {
    it(`NOT ${a}`, () => {
      for (const fa of forms[a]) expect(ev(`NOT ${fa}`, span)).toBe(value[a] === null ? null : !value[a]);
    });
    for (const b of keys) {
      it(`${a} AND ${b}, ${a} OR ${b}`, () => {
        for (const fa of forms[a]) {
          for (const fb of forms[b]) {
            expect(ev(`${fa} AND ${fb}`, span)).toBe(and(value[a], value[b]));
            expect(ev(`${fa} OR ${fb}`, span)).toBe(or(value[a], value[b]));
          }
        }
      });
    }
  }
  it('n-ary chains', () => {
    expect(ev('input.t AND input.z AND input.f', span)).toBe(false);
    expect(ev('input.t AND input.z AND input.t', span)).toBe(null);
    expect(ev('input.t AND input.t AND input.t', span)).toBe(true);
    expect(ev('input.f OR input.z OR input.t', span)).toBe(true);
    expect(ev('input.f OR input.z OR input.f', span)).toBe(null);
    expect(ev('input.f OR input.f OR input.f', span)).toBe(false);
  });
  it('IS NULL / IS NOT NULL are never NULL', () => {
    expect(ev('input.z IS NULL', span)).toBe(true);
    expect(ev('input.t IS NULL', span)).toBe(false);
    expect(ev('input.z IS NOT NULL', span)).toBe(false);
    expect(ev('NULL IS NULL', span)).toBe(true);
    expect(ev('(input.z = 1) IS NULL', span)).toBe(true);
  });
  it('only TRUE selects', () => {
    const compiled = compileFilter(parseFilter('input.z'), DEFAULT_FIELD_CONVENTIONS);
    expect(compiled.evaluate(span)).toBe(null);
    expect(compiled.matches(span)).toBe(false);
  });
});

describe('negated predicates over present and missing fields', () => {
  const span = makeSpan({ k: 'abc', n: '5' });
  it.each<[string, Result]>([
    ["attributes.k != 'x'", true],
    ["attributes.k != 'abc'", false],
    ["attributes.missing != 'x'", null],
    ['attributes.k IS NOT NULL', true],
    ['attributes.missing IS NOT NULL', false],
    ['attributes.missing IS NULL', true],
    ["attributes.k NOT IN ('x', 'y')", true],
    ["attributes.k NOT IN ('x', 'abc')", false],
    ["attributes.missing NOT IN ('x')", null],
    ["attributes.k NOT IN ('x', NULL)", null],
    ["attributes.k NOT IN ('abc', NULL)", false],
    ["attributes.k IN ('x', NULL)", null],
    ["attributes.k IN ('abc', NULL)", true],
    ['attributes.n NOT IN (1, NULL)', null],
    ['attributes.n NOT IN (5, NULL)', false],
    ['attributes.n IN (4, 5)', true],
    ["attributes.n IN ('5.0')", false],
    ['attributes.n IN (5.0)', true],
    ['attributes.n IN (attributes.k, 5)', true],
    ['attributes.n IN (attributes.k, attributes.missing)', null],
    ["attributes.k NOT LIKE 'a%'", false],
    ["attributes.k NOT LIKE 'x%'", true],
    ["attributes.missing NOT LIKE 'x%'", null],
    ["attributes.missing LIKE '%'", null],
    ['attributes.n NOT BETWEEN 1 AND 4', true],
    ['attributes.n BETWEEN 1 AND 5', true],
    ['attributes.n BETWEEN 5 AND 1', false],
    ['attributes.n BETWEEN NULL AND 4', false],
    ['attributes.n BETWEEN NULL AND 6', null],
    ['attributes.n NOT BETWEEN NULL AND 6', null],
    ['attributes.missing BETWEEN 1 AND 6', null],
    ["attributes.k BETWEEN 'abb' AND 'abd'", true],
    ['attributes.n BETWEEN attributes.n AND attributes.n', true],
    ['NOT attributes.missing = 1', null],
  ])('%s -> %s', (filter, expected) => {
    expect(ev(filter, span)).toBe(expected);
  });
});

describe('arithmetic', () => {
  const span = makeSpan({ n: '7', neg: '-7', s: 'abc', zero: '0' });
  it.each<[string, Result]>([
    ['attributes.n + 1 = 8', true],
    ["attributes.n * '2' = 14", true],
    ["'3' + '4' = 7", true],
    ['attributes.n - 10 = -3', true],
    ['-attributes.n = -7', true],
    ['-attributes.s IS NULL', true],
    ['attributes.n / 2 = 3.5', true],
    ['attributes.n / 0 IS NULL', true],
    ['attributes.n / attributes.zero IS NULL', true],
    ['attributes.n / -0 IS NULL', true],
    ['attributes.n % 0 IS NULL', true],
    ['0 / 0 IS NULL', true],
    ['attributes.n % 3 = 1', true],
    ['attributes.neg % 3 = -1', true],
    ['attributes.n % -3 = 1', true],
    ['attributes.neg % -3 = -1', true],
    ['-7.5 % 2 = -1.5', true],
    ['attributes.s + 1 IS NULL', true],
    ['attributes.missing + 1 IS NULL', true],
    ['input.x + 1 IS NULL', true],
    ['duration_ms * 2 = 3000', true],
    ['1 + 2 * 3 = 7', true],
  ])('%s -> %s', (filter, expected) => {
    expect(ev(filter, span)).toBe(expected);
  });

  it('a JSON BOOL or JSON operand makes arithmetic NULL', () => {
    const span2 = makeSpan({ 'input.value': '{"b":true,"o":{},"n":2}' });
    expect(ev('input.b + 1 IS NULL', span2)).toBe(true);
    expect(ev('input.o * 1 IS NULL', span2)).toBe(true);
    expect(ev('input.n * 2 = 4', span2)).toBe(true);
  });
});

describe('LIKE / ILIKE', () => {
  const like = (value: string, pattern: string, ci = false) => ev(`attributes.v ${ci ? 'ILIKE' : 'LIKE'} ${pattern}`, makeSpan({ v: value }));
  it.each<[string, string, Result]>([
    ['abc', "'abc'", true],
    ['abc', "'ab'", false],
    ['abc', "'a%'", true],
    ['abc', "'%c'", true],
    ['abc', "'%b%'", true],
    ['abc', "'%'", true],
    ['', "'%'", true],
    ['', "'_'", false],
    ['abc', "'a_c'", true],
    ['abc', "'a__c'", false],
    ['abc', "'___'", true],
    ['abc', "'%%%'", true],
    ['abcabd', "'%ab_'", true],
    ['abcabd', "'a%b%d'", true],
    ['aXbXc', "'a%b%b%c'", false],
    ['abab', "'ab%ab'", true],
    ['aba', "'ab%ba'", false],
    ['a\nb', "'a%b'", true],
    ['a\nb', "'a_b'", true],
    ['\u{1F600}', "'_'", true],
    ['x\u{1F600}y', "'x_y'", true],
    ['\u{1F600}\u{1F600}', "'_'", false],
    ['\u{1F600}a', "'%a'", true],
    ['a\u{1F600}', "'%_'", true],
    ['100%', "'100\\%'", true],
    ['1000', "'100\\%'", false],
    ['100%', "'100\\\\%'", true],
    ['a_c', "'a\\_c'", true],
    ['abc', "'a\\_c'", false],
    ['a\\c', "'a\\\\\\\\c'", true],
    ['a\\\\c', "'a\\\\\\\\c'", false],
    ['a\\c', "'a\\\\c'", true],
    ['a\\', "'a\\\\'", true],
    ['a\\%x', "'a\\\\\\\\%'", true],
    ['(.*)+?[x]{1}^$|', "'(.*)+?[x]{1}^$|'", true],
    ['a.c', "'a.c'", true],
    ['abc', "'a.c'", false],
  ])('%j LIKE %s -> %s', (value, pattern, expected) => {
    expect(like(value, pattern)).toBe(expected);
  });

  it('ILIKE folds ASCII letters only', () => {
    expect(like('HeLLo', "'hello'", true)).toBe(true);
    expect(like('HeLLo', "'h_l%O'", true)).toBe(true);
    expect(like('ÀBC', "'Àbc'", true)).toBe(true);
    expect(like('àbc', "'Àbc'", true)).toBe(false);
    expect(like('s', "'ſ'", true)).toBe(false);
    expect(like('k', "'\u212A'", true)).toBe(false);
    expect(like('HeLLo', "'hello'")).toBe(false);
  });

  it('both sides must be STRING', () => {
    const span = makeSpan({ 'input.value': '{"n":5,"s":"5"}', p: '5%' });
    expect(ev("input.n LIKE '5%'", span)).toBe(null);
    expect(ev("input.s LIKE '5%'", span)).toBe(true);
    expect(ev('input.s LIKE attributes.p', span)).toBe(true);
    expect(ev('input.s LIKE input.n', span)).toBe(null);
    expect(ev('input.s LIKE NULL', span)).toBe(null);
    expect(ev('input.s NOT LIKE NULL', span)).toBe(null);
  });

  it('a pattern read from the span is compiled per value', () => {
    const compiled = compileFilter(parseFilter('name LIKE attributes.p'), DEFAULT_FIELD_CONVENTIONS);
    expect(compiled.evaluate(makeSpan({ p: 'chat%' }))).toBe(true);
    expect(compiled.evaluate(makeSpan({ p: 'x%' }))).toBe(false);
    expect(compiled.evaluate(makeSpan({ p: '%gpt%' }))).toBe(true);
  });

  it('agrees with a regular-expression reference on random patterns', () => {
    const reference = (pattern: string, caseInsensitive: boolean): RegExp => {
      const p = caseInsensitive ? pattern.replace(/[A-Z]/g, (c) => c.toLowerCase()) : pattern;
      const chars = Array.from(p);
      const literal = (ch: string) => ch.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
      let re = '';
      for (let i = 0; i < chars.length; i++) {
        const ch = chars[i]!;
        if (ch === '\\' && i + 1 < chars.length && '%_\\'.includes(chars[i + 1]!)) re += literal(chars[++i]!);
        else if (ch === '%') re += '.*';
        else if (ch === '_') re += '.';
        else re += literal(ch);
      }
      return new RegExp(`^${re}$`, 'su');
    };
    const char = fc.constantFrom('a', 'b', 'A', '%', '_', '\\', '\u{1F600}', '\n', '.');
    fc.assert(
      fc.property(fc.array(char, { maxLength: 8 }), fc.array(char, { maxLength: 10 }), fc.boolean(), (ps, ts, ci) => {
        const [pattern, text] = [ps.join(''), ts.join('')];
        const lowered = ci ? text.replace(/[A-Z]/g, (c) => c.toLowerCase()) : text;
        expect(compileLike(pattern, ci)(text)).toBe(reference(pattern, ci).test(lowered));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('functions', () => {
  const span = makeSpan({
    'input.value': '{"arr":[1,"two",null,{"k":1},true],"obj":{"a":1,"b":2},"s":"x"}',
    text: 'Hello Wörld',
    emoji: 'a\u{1F600}b',
    j: '5',
  });
  it.each<[string, Result]>([
    ["lower(attributes.text) = 'hello wörld'", true],
    ["upper(attributes.text) = 'HELLO WöRLD'", true],
    ["lower('ÀÉ') = 'ÀÉ'", true],
    ["upper('ßàé') = 'ßàé'", true],
    ['lower(duration_ms) IS NULL', true],
    ['lower(input.arr) IS NULL', true],
    ['length(attributes.emoji) = 3', true],
    ["length('') = 0", true],
    ['length(input.arr) = 5', true],
    ['length(input.obj) = 2', true],
    ['length(duration_ms) IS NULL', true],
    ['length(is_root) IS NULL', true],
    ["contains(attributes.text, 'lo W')", true],
    ["contains(attributes.text, 'xyz')", false],
    ["contains(attributes.text, '')", true],
    ['contains(attributes.j, 5) IS NULL', true],
    ["contains(input.arr, 'two')", true],
    ['contains(input.arr, 1)', true],
    ["contains(input.arr, '1')", true],
    ['contains(input.arr, TRUE)', true],
    ['contains(input.arr, 3)', false],
    ['contains(input.arr, NULL) IS NULL', true],
    ["contains(input.obj, 'a') IS NULL", true],
    ['contains(duration_ms, 1) IS NULL', true],
    ["starts_with(attributes.text, 'Hel')", true],
    ["starts_with(attributes.text, 'el')", false],
    ["ends_with(attributes.text, 'rld')", true],
    ['ends_with(attributes.text, NULL) IS NULL', true],
    ["starts_with(attributes.missing, 'x') IS NULL", true],
    ['json_valid(input)', true],
    ['json_valid(attributes.text)', false],
    ['json_valid(attributes.j)', true],
    ["json_valid('\"s\"')", true],
    ["json_valid(' {} ')", true],
    ["json_valid('{')", false],
    ['json_valid(input.arr)', true],
    ['json_valid(input.s)', false],
    ['json_valid(duration_ms)', false],
    ['json_valid(is_root)', false],
    ['json_valid(attributes.missing) IS NULL', true],
    ["coalesce(attributes.missing, input.missing, 'x') = 'x'", true],
    ["coalesce(attributes.text, 'x') = 'Hello Wörld'", true],
    ['coalesce(NULL, NULL) IS NULL', true],
    ['coalesce(input.missing, 3) = 3', true],
    ['coalesce(input.missing, is_root) = FALSE', true],
  ])('%s -> %s', (filter, expected) => {
    expect(ev(filter, span)).toBe(expected);
  });
});

describe('static types', () => {
  const typeOf = (filter: string, pick: (root: ReturnType<typeof parseFilter>) => unknown = (e) => e): StaticType => {
    const expr = parseFilter(filter);
    const types = inferTypes(expr);
    return types.get(pick(expr) as ReturnType<typeof parseFilter>)!;
  };
  const left = (e: ReturnType<typeof parseFilter>) => (e as { left: unknown }).left;

  it.each<[string, StaticType]>([
    ["name = ''", 'string'],
    ['duration_ms = 1', 'number'],
    ['is_root = TRUE', 'bool'],
    ["input = ''", 'string'],
    ["input.a = ''", 'dynamic'],
    ["attributes.a.b = ''", 'string'],
    ["attributes['a'][0] = ''", 'dynamic'],
    ["attributes.a['b'] = ''", 'dynamic'],
    ["metadata = ''", 'string'],
    ["metadata.a = ''", 'dynamic'],
    ["coalesce(name, 'x') = ''", 'string'],
    ["coalesce(name, 1) = ''", 'dynamic'],
    ["coalesce(NULL, name) = ''", 'string'],
    ['coalesce(NULL, NULL) = 1', 'null'],
    ['length(name) = 1', 'number'],
    ["lower(name) = ''", 'string'],
    ['-name = 1', 'number'],
    ['duration_ms % 2 = 1', 'number'],
  ])('%s: left side is %s', (filter, type) => {
    expect(typeOf(filter, left)).toBe(type);
  });

  it('resolves map keys: a quoted step or a run of bare steps, then a JSON path', () => {
    const access = (text: string) => resolveFieldAccess(parseFilter(text) as FieldRef);
    expect(access('attributes.gen_ai.prompt.0.content')).toMatchObject({ kind: 'map', key: 'gen_ai.prompt.0.content', path: [] });
    expect(access("attributes['a.b'].c")).toMatchObject({ kind: 'map', key: 'a.b', path: [{ kind: 'key', key: 'c' }] });
    expect(access('attributes.a.b[1]')).toMatchObject({ kind: 'map', key: 'a.b', path: [{ kind: 'index', index: 1 }] });
    expect(access('resource.x."y"')).toMatchObject({ kind: 'map', map: 'resource', key: 'x', path: [{ kind: 'key', key: 'y' }] });
    expect(access('metadata.a."b c"[0].d')).toMatchObject({ kind: 'metadata', keys: ['a', 'b c'] });
  });

  it.each<[string, string]>([
    ['name AND is_root', 'AND needs boolean operands; "name" is a string at 1:1'],
    ['is_root OR duration_ms', 'OR needs boolean operands; "duration_ms" is a number at 1:12'],
    ['is_root AND (is_root OR 1 + 2)', 'OR needs boolean operands; "1 + 2" is a number at 1:25'],
    ['NOT name', 'NOT needs boolean operands; "name" is a string at 1:5'],
    ['name', "a filter must be a boolean condition; \"name\" is a string at 1:1: compare it, e.g. name = '...'"],
    ['duration_ms + 1', 'a filter must be a boolean condition; "duration_ms + 1" is a number at 1:1'],
    ["attributes = 'x'", "attributes needs a key at 1:1: write attributes['key'] or attributes.key"],
    ["resource IS NULL", "resource needs a key at 1:1: write resource['key'] or resource.key"],
    ["attributes[0] = 'x'", "attributes is a map of strings, not an array at 1:11: write attributes['key'] (and attributes['key'][0] to index its JSON text)"],
    ['is_root + 1 = 2', '+ needs numeric operands; "is_root" is a boolean at 1:1'],
    ['1 - (name = name) > 0', '- needs numeric operands; "name = name" is a boolean at 1:6'],
    ['-is_root = 1', 'unary - needs numeric operands; "is_root" is a boolean at 1:2'],
    ["duration_ms LIKE '1%'", 'LIKE needs string operands; "duration_ms" is a number at 1:1'],
    ['name ILIKE 5', 'ILIKE needs string operands; "5" is a number at 1:12'],
    ['name NOT LIKE is_root', 'LIKE needs string operands; "is_root" is a boolean at 1:15'],
    ["contains(name, 'x') AND lower(name)", 'AND needs boolean operands; "lower(name)" is a string at 1:25'],
  ])('%s is refused: %s', (filter, headline) => {
    const error = typeError(filter);
    expect(error.headline).toBe(headline);
    expect(error.message).toBe(headline);
    expect(() => compileFilter(parseFilter(filter), DEFAULT_FIELD_CONVENTIONS)).toThrow(FilterTypeError);
  });

  it('positions: line, column and a caret when the text is given', () => {
    const text = "status = 'error'\n  AND name";
    const error = typeError(text, text);
    expect([error.line, error.column, error.offset]).toEqual([2, 7, 23]);
    expect(error.message).toBe('AND needs boolean operands; "name" is a string at 2:7\n    AND name\n        ^');
  });

  it.each([
    'NULL',
    'NULL AND is_root',
    'input.flag',
    'NOT metadata.x',
    'input.a AND input.b OR NOT input.c',
    'coalesce(input.flag, FALSE)',
    'coalesce(name, 1) AND is_root',
    "name + 1 > 0 AND '1' * 2 = 2",
    'input.a + 1 = 2',
    'NULL + 1 IS NULL',
    "input.x LIKE 'a%' AND NULL LIKE name AND metadata ILIKE metadata.p",
    'duration_ms = is_root',
    "lower(duration_ms) = 'x'",
    "attributes['k'][0] IS NULL",
  ])('%s is accepted', (filter) => {
    expect(() => inferTypes(parseFilter(filter))).not.toThrow();
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});
