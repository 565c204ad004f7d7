import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFilterToClickHouse } from '../../src/filter/clickhouse-filter-compiler.js';
import { filterChildren, type FilterExpr } from '../../src/filter/filter-ast.js';
import { formatFilter } from '../../src/filter/filter-format.js';
import { parseFilter } from '../../src/filter/filter-parser.js';
import { FilterTypeError } from '../../src/filter/filter-static-types.js';
import { FilterSyntaxError } from '../../src/filter/filter-syntax-error.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS, type FieldConventions } from '../../src/scoring/field-conventions.js';
import { FilterHarness, filterSpan, freshTraceId, jsResults, type Tri } from './clickhouse-filter-harness.js';

/**
 * The ClickHouse filter compiler against a real (embedded) ClickHouse: every construct of
 * docs/filter-language.md, each checked for the three-valued result on every span in BOTH
 * back ends (the JS predicate must give the same), and the SQL-injection guarantees.
 */

let harness: FilterHarness;

beforeAll(async () => {
  harness = await FilterHarness.open('filter_compiler');
});

afterAll(async () => {
  await harness.close();
});

const RICH_INPUT =
  '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}],"n":5,"s":"5","t":"true","flag":true,"off":false,' +
  '"nil":null,"obj":{"a":1,"b":2},"dup":1,"dup":2,"arr":[1,"1","x",true,null,2.5],"é":"ü","a.b":"dotted","big":1e300}';

/** Spans used by most tests: results are listed in this order, [plain, root, rich]. */
const plain = filterSpan({ SpanName: 'plain', SpanAttributes: {} });
const root = filterSpan({
  SpanName: 'root',
  ParentSpanId: '',
  SpanKind: 'Server',
  StatusCode: 'Ok',
  StatusMessage: '',
  Duration: '12345678901234567890',
  ScopeName: 'traceloop',
  ServiceName: 'search',
  ResourceAttributes: { 'service.name': 'search', 'deployment.environment': 'prod' },
});
const rich = filterSpan({
  SpanName: 'rich',
  SpanKind: 'Internal',
  StatusCode: 'Unset',
  SpanAttributes: {
    'input.value': RICH_INPUT,
    'output.value': 'plain answer',
    'gen_ai.prompt': 'not the input',
    expected: '',
    k: '10',
    neg: '-3.5',
    exp: '1e3',
    sp: ' 7',
    lead0: '007',
    word: 'abc',
    empty: '',
    astral: '😀',
    bmp: '～',
    e9: '\uE000',
    metadata: '{"user":{"id":7,"name":"Ann"},"tier":"silver","list":[1,2]}',
    'metadata.tier': 'gold',
    'metadata.user.id': '42',
    'metadata.obj': '{"x":{"y":3}}',
    'gen_ai.request.model': 'gpt-4o',
    pct: '100%',
    us: 'a_b',
    bs: 'a\\b',
    tbs: 'ends\\',
    nl: 'line1\nline2',
    cafe: 'Café',
    kelvin: '\u212A',
    broken: '{oops',
    scalarDoc: '42',
    dupdoc: '{"x":{"a":1,"a":2,"b":3}}',
    inf: '1e999',
    huge: '123456789012345678901234567890',
  },
});
const SPANS = [plain, root, rich];

/** The spans a compiled filter selects as a WHERE condition. */
async function selectWhere(filter: FilterExpr, traceId: string, conventions: FieldConventions): Promise<string[]> {
  const { sql, params } = compileFilterToClickHouse(filter, conventions);
  const rows = await harness.storage.query<{ SpanId: string }>(`SELECT SpanId FROM otel_traces WHERE TraceId = {t:String} AND (${sql}) ORDER BY SpanId`, {
    ...params,
    t: traceId,
  });
  return rows.map((row) => row.SpanId);
}

/**
 * Each filter's results on `spans` must be `expected` in ClickHouse (the three-valued value,
 * and the spans it selects as a WHERE condition: exactly the TRUE ones) AND in the JS predicate.
 */
async function check(table: Record<string, Tri[]>, spans: readonly SpanRow[] = SPANS, conventions: FieldConventions = DEFAULT_FIELD_CONVENTIONS): Promise<void> {
  const traceId = freshTraceId();
  const rows = spans.map((span) => ({ ...span, TraceId: traceId }));
  await harness.insert(rows);
  const texts = Object.keys(table);
  const filters = texts.map((text) => parseFilter(text));
  const [clickhouse] = await harness.evaluate([{ traceId, spanIds: rows.map((row) => row.SpanId), filters }], conventions);
  const selectedBy = (results: Tri[]) => rows.filter((_, i) => results[i] === true).map((row) => row.SpanId).sort();
  const actual: Record<string, { clickhouse: Tri[]; where: string[]; js: Tri[] }> = {};
  const wanted: Record<string, { clickhouse: Tri[]; where: string[]; js: Tri[] }> = {};
  for (const [i, text] of texts.entries()) {
    actual[text] = { clickhouse: clickhouse![i]!, where: await selectWhere(filters[i]!, traceId, conventions), js: jsResults(filters[i]!, rows, conventions) };
    wanted[text] = { clickhouse: table[text]!, where: selectedBy(table[text]!), js: table[text]! };
  }
  expect(actual).toEqual(wanted);
}

const T = true;
const F = false;
const N = null;

describe('fields', () => {
  it('reads the span columns', () =>
    check({
      "name = 'rich'": [F, F, T],
      "span_kind = 'client'": [T, F, F],
      "span_kind = 'internal'": [F, F, T],
      "span_kind = 'Client'": [F, F, F],
      "status = 'error'": [T, F, F],
      "status = 'ok'": [F, T, F],
      "status = 'unset'": [F, F, T],
      "service_name = 'search'": [F, T, F],
      "status_message = ''": [F, T, F],
      'duration_ms = 1500': [T, F, T],
      'duration_ms = 12345678901234.566': [F, T, F],
      'timestamp = 1700000000123.4568': [T, T, T],
      is_root: [F, T, F],
      'NOT is_root': [T, F, T],
      'parent_span_id IS NULL': [F, T, F],
      "parent_span_id = 'aaaaaaaaaaaaaaaa'": [T, N, T],
      'length(trace_id) = 32 AND length(span_id) = 16': [T, T, T],
      "scope_name = 'traceloop'": [F, T, F],
    }));

  it('reads span and resource attributes by key, joining dotted steps', () =>
    check({
      "attributes.k = '10'": [N, N, T],
      "attributes['k'] = 10": [N, N, T],
      "attributes.gen_ai.request.model = 'gpt-4o'": [N, N, T],
      "attributes['gen_ai.request.model'] = 'gpt-4o'": [N, N, T],
      "attributes.gen_ai['request.model'] IS NULL": [T, T, T],
      "attributes.empty = ''": [N, N, T],
      'attributes.missing IS NULL': [T, T, T],
      "resource['deployment.environment'] = 'prod'": [N, T, N],
      "resource.service.name = 'checkout'": [T, F, T],
    }));

  it('reads input / output / expected as the first present convention attribute, even when empty', () =>
    check({
      'input IS NOT NULL': [F, F, T],
      "starts_with(input, '{\"messages\"')": [N, N, T],
      "output = 'plain answer'": [N, N, T],
      "expected = ''": [N, N, T],
    }));

  it('follows custom field conventions', () =>
    check(
      {
        "input = 'not the input'": [N, N, T],
        'output IS NULL': [T, T, T],
        "expected = 'plain answer'": [N, N, T],
      },
      SPANS,
      { ...DEFAULT_FIELD_CONVENTIONS, input: ['gen_ai.prompt', 'input.value'], output: [], expected: ['output.value'] },
    ));

  it('reads metadata: the longest prefixed attribute, else a path into the metadata JSON', () =>
    check({
      'json_valid(metadata)': [N, N, T],
      "metadata.tier = 'gold'": [N, N, T],
      'metadata.user.id = 42': [N, N, T],
      "metadata.user.name = 'Ann'": [N, N, T],
      'metadata.obj.x.y = 3': [N, N, T],
      'metadata.list[1] = 2': [N, N, T],
      'metadata.tier.x IS NULL': [T, T, T],
      "metadata['user'].id = 42": [N, N, T],
    }));

  it('reads metadata with the prefix or the JSON attribute disabled', async () => {
    await check({ "metadata.tier = 'silver'": [N, N, T], 'metadata.user.id = 7': [N, N, T] }, SPANS, { ...DEFAULT_FIELD_CONVENTIONS, metadataPrefix: '' });
    await check({ 'metadata IS NULL': [T, T, T], 'metadata.user.name IS NULL': [T, T, T], "metadata.tier = 'gold'": [N, N, T] }, SPANS, {
      ...DEFAULT_FIELD_CONVENTIONS,
      metadataAttribute: '',
    });
  });
});

describe('JSON paths', () => {
  it('follows keys and indexes to values of every type', () =>
    check({
      "input.messages[0].role = 'user'": [N, N, T],
      "input.messages[1]['content'] = 'Hello'": [N, N, T],
      'input.messages[2].role IS NULL': [T, T, T],
      'input.n = 5': [N, N, T],
      "input.n = '5'": [N, N, T],
      'input.s = 5': [N, N, T],
      "input.s = '5.0'": [N, N, F],
      'input.t = TRUE': [N, N, T],
      'input.flag = TRUE': [N, N, T],
      "input.flag = 'true'": [N, N, T],
      'input.flag': [N, N, T],
      'input.off': [N, N, F],
      'input.nil IS NULL': [T, T, T],
      'input.obj IS NULL': [T, T, F],
      'input.obj = input.obj': [N, N, N],
      'input.obj.a = 1': [N, N, T],
      "input['é'] = 'ü'": [N, N, T],
      "input.\"a.b\" = 'dotted'": [N, N, T],
      'input.a.b IS NULL': [T, T, T],
      'input.arr[5] = 2.5': [N, N, T],
      'input.big > 1e299': [N, N, T],
      "attributes['metadata'].user.id = 7": [N, N, T],
    }));

  it('gives NULL for steps that do not apply', () =>
    check({
      'input.obj[0] IS NULL': [T, T, T],
      'input.arr.a IS NULL': [T, T, T],
      'input.arr[6] IS NULL': [T, T, T],
      'input.n.x IS NULL': [T, T, T],
      'attributes.broken.x IS NULL': [T, T, T],
      'attributes.scalarDoc[0] IS NULL': [T, T, T],
      'attributes.k[0] IS NULL': [T, T, T],
    }));

  it('takes the last of duplicate keys, as JSON.parse does', () =>
    check({
      'input.dup = 2': [N, N, T],
      "attributes['dupdoc'].x.a = 2": [N, N, T],
      "length(attributes['dupdoc'].x) = 2": [N, N, T],
      'attributes.dupdoc.x.a IS NULL': [T, T, T],
    }));
});

describe('comparisons', () => {
  it('follows the comparison table', () =>
    check({
      '1 < 2': [T, T, T],
      "'b' < 'a'": [F, F, F],
      "10 = '10'": [T, T, T],
      "10 = '10.0'": [T, T, T],
      "10 = '1e1'": [T, T, T],
      "7 = '007'": [T, T, T],
      "10 = ' 10'": [N, N, N],
      "10 = '+10'": [N, N, N],
      "10 = 'abc'": [N, N, N],
      "'10' = '10.0'": [F, F, F],
      "'true' = TRUE": [T, T, T],
      "'TRUE' = TRUE": [N, N, N],
      "TRUE > 'false'": [T, T, T],
      'FALSE < TRUE': [T, T, T],
      'TRUE = 1': [N, N, N],
      'NULL = NULL': [N, N, N],
      'name = NULL': [N, N, N],
      "input.obj = 'x'": [N, N, N],
    }));

  it('orders strings by code point, not UTF-16 unit', () =>
    check({
      'attributes.astral > attributes.bmp': [N, N, T],
      'attributes.e9 < attributes.astral': [N, N, T],
      "attributes.astral > '\uFFFF'": [N, N, T],
    }));
});

describe('!=, IS NOT NULL, NOT IN, NOT LIKE over present and missing fields', () => {
  it('!=', () =>
    check({
      "attributes.word != 'abc'": [N, N, F],
      "attributes.word != 'x'": [N, N, T],
      "name != 'rich'": [T, T, F],
      "parent_span_id != 'aaaaaaaaaaaaaaaa'": [F, N, F],
      "attributes.word <> 'x'": [N, N, T],
    }));

  it('IS NOT NULL', () =>
    check({
      'attributes.word IS NOT NULL': [F, F, T],
      'attributes.missing IS NOT NULL': [F, F, F],
      'attributes.empty IS NOT NULL': [F, F, T],
      'parent_span_id IS NOT NULL': [T, F, T],
      'input.nil IS NOT NULL': [F, F, F],
    }));

  it('NOT IN', () =>
    check({
      "attributes.word NOT IN ('x', 'y')": [N, N, T],
      "attributes.word NOT IN ('abc', 'y')": [N, N, F],
      "attributes.word NOT IN ('x', NULL)": [N, N, N],
      "attributes.word IN ('abc', NULL)": [N, N, T],
      "attributes.word IN ('x', NULL)": [N, N, N],
      'attributes.k NOT IN (1, 10.0)': [N, N, F],
    }));

  it('NOT LIKE', () =>
    check({
      "attributes.word NOT LIKE 'a%'": [N, N, F],
      "attributes.word NOT LIKE 'x%'": [N, N, T],
      "attributes.missing NOT LIKE '%'": [N, N, N],
      "attributes.word NOT ILIKE 'A%'": [N, N, F],
    }));
});

describe('IN and BETWEEN', () => {
  it('IN is a disjunction of =, BETWEEN a conjunction of >= and <=', () =>
    check({
      'attributes.k IN (1, 10)': [N, N, T],
      "attributes.k IN ('10.0')": [N, N, F],
      'attributes.k IN (10.0)': [N, N, T],
      '5 BETWEEN 1 AND 10': [T, T, T],
      '5 NOT BETWEEN 1 AND 10': [F, F, F],
      '5 BETWEEN NULL AND 10': [N, N, N],
      '5 BETWEEN NULL AND 1': [F, F, F],
      '5 NOT BETWEEN NULL AND 1': [T, T, T],
      'attributes.k BETWEEN 9 AND 11': [N, N, T],
      "attributes.word BETWEEN 'a' AND 'b'": [N, N, T],
    }));
});

describe('arithmetic', () => {
  it('computes on numbers and numeric strings, NULL for anything else and for / or % by zero', () =>
    check({
      '1 + 2 = 3': [T, T, T],
      '7 - 10 = -3': [T, T, T],
      '2 * 3.5 = 7': [T, T, T],
      '1 / 4 = 0.25': [T, T, T],
      '1 / 0 IS NULL': [T, T, T],
      '1 % 0 IS NULL': [T, T, T],
      '0 / 0 IS NULL': [T, T, T],
      'attributes.k + 1 = 11': [N, N, T],
      'attributes.neg * 2 = -7': [N, N, T],
      'attributes.exp / 1000 = 1': [N, N, T],
      'attributes.sp + 1 IS NULL': [T, T, T],
      'attributes.lead0 + 0 = 7': [N, N, T],
      'attributes.word + 1 IS NULL': [T, T, T],
      '-attributes.k = -10': [N, N, T],
      'attributes.inf > 1e308': [N, N, T],
      'attributes.huge > 1e29': [N, N, T],
      'input.n * 2 = 10': [N, N, T],
      'input.s * 2 = 10': [N, N, T],
      'input.flag + 1 IS NULL': [T, T, T],
    }));

  it('% is the exact IEEE remainder with the sign of the dividend', () =>
    check({
      '-7 % 3 = -1': [T, T, T],
      '7 % -3 = 1': [T, T, T],
      '7.5 % 2 = 1.5': [T, T, T],
      '-7.5 % 2 = -1.5': [T, T, T],
      // ClickHouse's own float % gives -3616 and 92.64078289383178 here.
      '-2.7715884431796355e17 % 4999 = -3631': [T, T, T],
      '35602.40072225622 % -109.26079981342274 = 92.6407828938322': [T, T, T],
      '-3.5 % 0.1 = -0.09999999999999981': [T, T, T],
      '1e300 % 7 = 1': [T, T, T],
      '5e-324 % 3 = 5e-324': [T, T, T],
      '1e300 % 5e-324 = 0': [T, T, T],
      "'-3.5' % '2' = -1.5": [T, T, T],
    }));

  it('overflows to infinity and NaN like IEEE doubles', () =>
    check({
      '1e308 * 10 > 1e308': [T, T, T],
      '1e308 * 10 - 1e308 * 10 = 0': [F, F, F],
      '1e308 * 10 - 1e308 * 10 != 0': [T, T, T],
      '(1e308 * 10) % 2 IS NULL': [F, F, F],
      '5 % (1e308 * 10) = 5': [T, T, T],
      '-5 % (1e308 * 10) = -5': [T, T, T],
    }));
});

describe('arithmetic against JS on random values', () => {
  /** Filter text for a finite number (literals are non-negative; integers beyond 2^53 need an exponent). */
  const numberText = (v: number): string => {
    const magnitude = Math.abs(v);
    const text = Number.isSafeInteger(magnitude) ? String(magnitude) : magnitude.toExponential();
    return v < 0 || Object.is(v, -0) ? `(-${text})` : text;
  };

  /** Evaluates filters that must all be TRUE, 50 per case (query size), on one span, in both back ends. */
  async function allTrue(filters: string[]): Promise<void> {
    const traceId = freshTraceId();
    const span = { ...filterSpan(), TraceId: traceId };
    await harness.insert([span]);
    const exprs = filters.map((text) => parseFilter(text));
    const cases = [];
    for (let i = 0; i < exprs.length; i += 50) cases.push({ traceId, spanIds: [span.SpanId], filters: exprs.slice(i, i + 50) });
    const results = (await harness.evaluate(cases)).flat();
    const failures = filters.filter((text, i) => results[i]![0] !== true || jsResults(exprs[i]!, [span])[0] !== true);
    expect(failures).toEqual([]);
  }

  it('% and / agree bit for bit with JS on random doubles (subnormal to huge, both signs)', async () => {
    const values = fc.sample(
      fc.oneof(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.integer({ min: -1e6, max: 1e6 }),
        fc.constantFrom(5e-324, 2.2250738585072014e-308, 1e-300, 0.1, 0.3, 1e17, 2 ** 53 + 2, 1.7976931348623157e308, -1e300),
      ),
      { seed: 7, numRuns: 600 },
    );
    const filters: string[] = [];
    for (let i = 0; i + 1 < values.length; i += 2) {
      const [x, y] = [values[i]!, values[i + 1]!];
      for (const op of ['%', '/'] as const) {
        const r = op === '%' ? x % y : x / y;
        if (y === 0) filters.push(`${numberText(x)} ${op} ${numberText(y)} IS NULL`);
        else if (Number.isFinite(r)) filters.push(`${numberText(x)} ${op} ${numberText(y)} = ${numberText(r)}`);
      }
    }
    expect(filters.length).toBeGreaterThan(500);
    await allTrue(filters);
  });

  it('numeric strings convert to the same double as Number()', async () => {
    const digits = (max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: max });
    const texts = fc.sample(
      fc
        .tuple(fc.boolean(), digits(25), fc.option(digits(25)), fc.option(fc.tuple(fc.constantFrom('e', 'E', 'e+', 'e-', 'E-'), digits(3))))
        .map(([negative, int, fraction, exponent]) => `${negative ? '-' : ''}${int}${fraction === null ? '' : `.${fraction}`}${exponent === null ? '' : exponent.join('')}`),
      { seed: 11, numRuns: 400 },
    );
    const filters = texts.map((text) => {
      const n = Number(text);
      return Number.isFinite(n) ? `'${text}' = ${numberText(n)} AND '${text}' * 1 = ${numberText(n)}` : `'${text}' * 1 ${n > 0 ? '>' : '<'} ${numberText(n > 0 ? 1.7976931348623157e308 : -1.7976931348623157e308)}`;
    });
    await allTrue(filters);
  });
});

describe('three-valued logic', () => {
  it('AND, OR, NOT', () =>
    check({
      'NULL AND FALSE': [F, F, F],
      'NULL AND TRUE': [N, N, N],
      'NULL OR TRUE': [T, T, T],
      'NULL OR FALSE': [N, N, N],
      'NOT (NULL = 1)': [N, N, N],
      'NULL': [N, N, N],
      'input.s AND TRUE': [N, N, N],
      'input.s OR TRUE': [T, T, T],
      'NOT input.s': [N, N, N],
      'input.flag AND is_root': [F, N, F],
      'input.flag OR is_root': [N, T, T],
    }));
});

describe('LIKE and ILIKE', () => {
  it('matches wildcards by code point, with backslash escapes', () =>
    check({
      "'a😀b' LIKE 'a_b'": [T, T, T],
      "'a😀b' LIKE 'a__b'": [F, F, F],
      "'aéb' LIKE 'a_b'": [T, T, T],
      "attributes.pct LIKE '100\\%'": [N, N, T],
      "'1000' LIKE '100\\%'": [F, F, F],
      "attributes.us LIKE 'a\\_b'": [N, N, T],
      "'axb' LIKE 'a\\_b'": [F, F, F],
      "'axb' LIKE 'a_b'": [T, T, T],
      "attributes.bs LIKE 'a\\\\b'": [N, N, T],
      "attributes.bs LIKE 'a\\\\\\\\b'": [N, N, T],
      "attributes.nl LIKE 'line1%line2'": [N, N, T],
      "attributes.nl LIKE 'line1_line2'": [N, N, T],
      "name LIKE NULL": [N, N, N],
      "input.n LIKE '5'": [N, N, N],
      "input.s LIKE '5'": [N, N, T],
    }));

  it('reads a trailing lone backslash as a literal backslash, in literal and run-time patterns', () =>
    check({
      "attributes.tbs LIKE 'ends\\\\'": [N, N, T],
      'attributes.tbs LIKE attributes.tbs': [N, N, T],
      "'x' LIKE attributes.tbs": [N, N, F],
      "attributes.bs LIKE attributes.bs": [N, N, T],
    }));

  it('ILIKE folds ASCII letters only', () =>
    check({
      "attributes.cafe ILIKE 'CAFé'": [N, N, T],
      "attributes.cafe ILIKE 'CAFÉ'": [N, N, F],
      "attributes.kelvin ILIKE 'k'": [N, N, F],
      "attributes.kelvin ILIKE '\u212A'": [N, N, T],
      "attributes.cafe NOT ILIKE 'caf_'": [N, N, F],
      "'É' ILIKE 'é'": [F, F, F],
    }));
});

describe('functions', () => {
  it('lower and upper map ASCII letters only', () =>
    check({
      "lower('ÀBC') = 'Àbc'": [T, T, T],
      "upper('àbc') = 'àBC'": [T, T, T],
      "lower(attributes.cafe) = 'café'": [N, N, T],
      "upper('ß') = 'ß'": [T, T, T],
      'lower(1) IS NULL': [T, T, T],
      "upper(input.s) = '5'": [N, N, T],
    }));

  it('length counts code points, array elements and distinct object keys', () =>
    check({
      "length('a😀é') = 3": [T, T, T],
      'length(input.arr) = 6': [N, N, T],
      'length(input.obj) = 2': [N, N, T],
      'length(input.messages) = 2': [N, N, T],
      'length(input.n) IS NULL': [T, T, T],
      'length(input) > 100': [N, N, T],
      'length(1) IS NULL': [T, T, T],
    }));

  it('contains searches strings and JSON arrays', () =>
    check({
      "contains(name, 'ic')": [F, F, T],
      "contains(input.arr, 'x')": [N, N, T],
      'contains(input.arr, 1)': [N, N, T],
      "contains(input.arr, '1')": [N, N, T],
      "contains(input.arr, 'y')": [N, N, F],
      'contains(input.arr, TRUE)': [N, N, T],
      'contains(input.arr, 2.5)': [N, N, T],
      'contains(input.arr, NULL)': [N, N, N],
      'contains(input.obj, 1)': [N, N, N],
      "contains(input.messages, 'Hi')": [N, N, F],
      'contains(name, 1)': [N, N, N],
      "contains(name, '')": [T, T, T],
    }));

  it('starts_with, ends_with, json_valid, coalesce', () =>
    check({
      "starts_with(name, 'ri')": [F, F, T],
      "ends_with(name, 'ch')": [F, F, T],
      'starts_with(name, NULL)': [N, N, N],
      'json_valid(input)': [N, N, T],
      'json_valid(attributes.broken)': [N, N, F],
      'json_valid(input.obj)': [N, N, T],
      'json_valid(input.n)': [N, N, F],
      'json_valid(input.s)': [N, N, T],
      'json_valid(1)': [F, F, F],
      'json_valid(NULL)': [N, N, N],
      'json_valid(attributes.scalarDoc)': [N, N, T],
      "coalesce(attributes.missing, attributes.k) = '10'": [N, N, T],
      "coalesce(attributes.missing, 'd') = 'd'": [T, T, T],
      "coalesce(input.zz, input.n, 'x') = 5": [N, N, T],
      'coalesce(NULL, NULL) IS NULL': [T, T, T],
      'coalesce(input.flag, is_root)': [F, T, T],
    }));
});

describe('compilation', () => {
  it('refuses statically mistyped filters like the JS compiler', () => {
    expect(() => compileFilterToClickHouse(parseFilter('name AND is_root'), DEFAULT_FIELD_CONVENTIONS)).toThrow(FilterTypeError);
    expect(() => compileFilterToClickHouse(parseFilter('name'), DEFAULT_FIELD_CONVENTIONS)).toThrow(FilterTypeError);
    expect(() => compileFilterToClickHouse(parseFilter('attributes = 1'), DEFAULT_FIELD_CONVENTIONS)).toThrow(FilterTypeError);
  });

  it('puts every literal and key in parameters, prefixed as asked', () => {
    const { sql, params } = compileFilterToClickHouse(
      parseFilter("attributes['secret.key'] = 'secret value' AND duration_ms > 123456.5 AND input.messages[7].role = 'x'"),
      DEFAULT_FIELD_CONVENTIONS,
      { paramPrefix: 'rule3_' },
    );
    for (const text of ['secret', '123456', 'messages', 'role', 'input.value']) expect(sql).not.toContain(text);
    expect(Object.values(params)).toEqual(expect.arrayContaining(['secret.key', 'secret value', '123456.5', 'messages', '8', 'role', 'input.value']));
    for (const name of Object.keys(params)) expect(name).toMatch(/^rule3_\d+$/);
    expect(sql).toContain('{rule3_0:String}');
    expect(() => compileFilterToClickHouse(parseFilter('is_root'), DEFAULT_FIELD_CONVENTIONS, { paramPrefix: 'x}; DROP' })).toThrow(/paramPrefix/);
  });

  it('runs deeply nested filters', async () => {
    const arithmetic = `${'('.repeat(30)}attributes.k${' % 7 + 1)'.repeat(30)} > 0`;
    const logic = `${'NOT ('.repeat(40)}input.n = 5${')'.repeat(40)}`;
    const paths = Array.from({ length: 20 }, (_, i) => `coalesce(input.messages[${i % 3}].role, metadata.user.name) = 'user'`).join(' OR ');
    await check({ [arithmetic]: [N, N, T], [logic]: [N, N, T], [paths]: [N, N, T] });
  });
});

describe('SQL injection', () => {
  const HOSTILE_TEXTS = [
    "'; DROP TABLE otel_traces; --",
    "x' OR 1=1 --",
    "') OR 1=1 --",
    "%' UNION SELECT name FROM system.tables --",
    '/* comment */ OR 1=1',
    '{p0:String}',
    '{t:String}',
    'a\\',
    "\\' OR 1=1 --",
    '\\\\',
    "'\u0000'; SELECT 1",
    '`; DROP TABLE otel_traces; `',
    '"; DROP TABLE otel_traces; "',
    '😀\u202E; DROP TABLE otel_traces',
    "1); DROP TABLE otel_traces; SELECT (1",
    "') FORMAT TSV INTO OUTFILE '/tmp/x' --",
  ];
  /** Filter text for a string literal holding `value`. */
  const quote = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\u0000/g, '\\0')}'`;
  const HOSTILE_FILTERS = [
    ...HOSTILE_TEXTS.map((text) => `name = ${quote(text)}`),
    ...HOSTILE_TEXTS.map((text) => `attributes[${quote(text)}] = ${quote(text)}`),
    ...HOSTILE_TEXTS.map((text) => `name LIKE ${quote(text)} OR input[${quote(text)}] = ${quote(text)}`),
    ...HOSTILE_TEXTS.map((text) => `metadata[${quote(text)}].x IN (${quote(text)}, NULL) OR contains(${quote(text)}, name)`),
    "attributes['x') OR 1=1 --'] = 'y'",
    "attributes['x\\') OR 1=1 --'] = 'y'",
    "name = 'x' ; DROP TABLE otel_traces",
    "name = 'x'; DROP TABLE otel_traces; --",
    "name = 'x' -- '; DROP TABLE otel_traces",
    "name = 'x' /* */ OR 1=1",
    "name = 'x' UNION SELECT 1",
    'input."x"" OR 1=1 --" IS NULL',
    'input.`a`` OR 1=1` IS NULL',
    "name = 'x\\' OR 1=1 --'",
    "name = 'x' OR attributes['\\''] = '\\''",
  ];

  /** The SQL text's own string constants: the compiler's fixed fragments, never user text. */
  const FIXED_SQL_STRINGS = new Set([
    "'true'",
    "'false'",
    "'Array'",
    "'Object'",
    "''",
    "'\\\\'",
    "'Bool'",
    "'Int64'",
    "'UInt64'",
    "'Double'",
    "'String'",
    "'^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$'",
    "'(^|[^\\\\x5c])(\\\\x5c\\\\x5c)*\\\\x5c$'",
  ]);

  function stringsIn(expr: FilterExpr): string[] {
    const own = expr.kind === 'string' ? [expr.value] : expr.kind === 'field' ? expr.steps.flatMap((step) => (step.kind === 'key' ? [step.key] : [])) : [];
    return [...own, ...filterChildren(expr).flatMap(stringsIn)];
  }

  it('keeps hostile text out of the SQL and selects exactly what the JS predicate selects', async () => {
    const before = await harness.storage.query<{ n: string }>('SELECT count() AS n FROM otel_traces');
    const spans = [
      plain,
      rich,
      ...HOSTILE_TEXTS.map((text) => filterSpan({ SpanName: text, SpanAttributes: { [text]: text, 'input.value': JSON.stringify({ [text]: text }) } })),
    ];
    const traceId = freshTraceId();
    const rows = spans.map((span) => ({ ...span, TraceId: traceId }));
    await harness.insert(rows);
    const countAfterInsert = Number(before[0]!.n) + rows.length;

    let refused = 0;
    const compiled: FilterExpr[] = [];
    for (const text of HOSTILE_FILTERS) {
      let expr: FilterExpr;
      try {
        expr = parseFilter(text);
      } catch (error) {
        expect(error).toBeInstanceOf(FilterSyntaxError);
        refused++;
        continue;
      }
      // A prefix other than the default, so that the literal '{p0:String}' is not also a placeholder's text.
      const { sql, params } = compileFilterToClickHouse(expr, DEFAULT_FIELD_CONVENTIONS, { paramPrefix: 'q' });
      for (const value of stringsIn(expr)) {
        if (value.length < 2 || /^[A-Za-z0-9_.]+$/.test(value)) continue;
        expect(sql, `${text}: ${JSON.stringify(value)} must not be in the SQL`).not.toContain(value);
        expect(Object.values(params), text).toContain(value);
      }
      // Every quoted string in the SQL is one of the compiler's own constants.
      for (const literal of sql.match(/'(?:[^'\\]|\\.)*'/g) ?? []) expect(FIXED_SQL_STRINGS, `${text}: ${literal}`).toContain(literal);
      expect(sql).not.toMatch(/;|--|\/\*|\bUNION\b|\bDROP\b|\bSETTINGS\b|\bFORMAT\b|\bINTO\b/i);
      compiled.push(expr);
    }
    expect(refused).toBeGreaterThan(0);
    expect(compiled.length).toBeGreaterThan(HOSTILE_FILTERS.length / 2);

    const [clickhouse] = await harness.evaluate([{ traceId, spanIds: rows.map((row) => row.SpanId), filters: compiled }]);
    const selectedSomething = compiled.some((expr, i) => clickhouse![i]!.includes(true));
    compiled.forEach((expr, i) => expect(clickhouse![i], formatFilter(expr)).toEqual(jsResults(expr, rows)));
    expect(selectedSomething).toBe(true);

    // As WHERE conditions too, one query each.
    for (const expr of compiled) {
      const { sql, params } = compileFilterToClickHouse(expr, DEFAULT_FIELD_CONVENTIONS);
      const selected = await harness.storage.query<{ SpanId: string }>(
        `SELECT SpanId FROM otel_traces WHERE TraceId = {t:String} AND (${sql}) ORDER BY SpanId`,
        { ...params, t: traceId },
        { readonly: true },
      );
      const js = jsResults(expr, rows);
      expect(selected.map((row) => row.SpanId)).toEqual(rows.filter((_, i) => js[i] === true).map((row) => row.SpanId).sort());
    }

    const after = await harness.storage.query<{ n: string; exists: number }>('SELECT count() AS n, (SELECT count() FROM system.tables WHERE name = \'otel_traces\') AS exists FROM otel_traces');
    expect(Number(after[0]!.n)).toBe(countAfterInsert);
    expect(Number(after[0]!.exists)).toBeGreaterThan(0);
  });
});
