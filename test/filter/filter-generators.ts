import fc from 'fast-check';
import type { ArithmeticOp, CompareOp, FilterExpr, FilterFunctionName, FilterPos, PathStep } from '../../src/filter/filter-ast.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';

/**
 * fast-check generators for the differential test: span sets whose attributes hit the
 * language's corners, and mostly well-typed filters over them.
 */

// ---------------------------------------------------------------------------------------------
// Values

/**
 * Attribute texts that are not JSON documents (most are still JSON scalars): numeric and
 * almost-numeric strings, booleans, case and Unicode corners, LIKE metacharacters.
 * Includes texts that JSON.parse reads but ClickHouse's JSON parser refuses (`1e999`, integers
 * beyond Int64/UInt64, lone surrogate escapes): the doc defines valid JSON with ClickHouse's limits.
 */
export const SCALAR_TEXTS: readonly string[] = [
  '10', '-3.5', '1e3', ' 7', '7 ', '007', 'abc', '', '0', '-0', '1E2', '1e-2', '3.', '.5', '+1', '2.50', '7', '5', '10.0',
  '0.1', '0.30000000000000004', '9007199254740993', '18446744073709551615', '1e308', '4.9e-324', '0x10', 'NaN', 'Infinity',
  'true', 'false', 'TRUE', 'False', 'null', 'ok', 'error', 'client', 'chat gpt-4o', 'Chat GPT-4O', 'CHAT', 'x', 'X', 'xyz', 'ABC', 'abc%',
  'é', 'É', 'ß', 'İ', 'K', 'Café', 'CAFÉ', 'ǅ', '😀', 'a😀b', '～', '\uE000', '\uFFFF', '𐀀', 'ÀB', 'aé', 'a%b', 'a_b', 'a\\b', 'a\\', '\\', '\\\\', '%', '_',
  '100%', '50_50', 'line1\nline2', 'tab\t', 'nul\u0000x', "it's", '"quoted"', '{oops', '[1,2', 'not json', '{}x',
  '1e999', '123456789012345678901234567890', '-9223372036854775809', '18446744073709551616', '9223372036854775808', '"\\ud800"',
];

const JSON_KEYS = ['a', 'b', 'k', 'n', 'x', 'role', 'content', 'é', '', 'a.b', 'user', 'id', 'tier', 'true'] as const;

/** JSON numbers (JSON.stringify prints 9.2e18..1e21 as bare integers, some beyond Int64/UInt64: not valid JSON for the language). */
const jsonNumber = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.constantFrom(0, -0, 0.1, 0.5, 1.5, -3.5, 7, 10, 5, 1e3, 1e21, -1e300, 5e-324, 9007199254740993, 2 ** 63 - 1024),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

const jsonScalar = fc.oneof(
  { weight: 3, arbitrary: jsonNumber },
  { weight: 3, arbitrary: fc.constantFrom(...SCALAR_TEXTS) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

const jsonValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    jsonScalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...JSON_KEYS), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Hand-written JSON texts: duplicate keys, whitespace, number spellings, escapes, scalars, broken documents. */
export const JSON_TEXTS: readonly string[] = [
  '{"a":1,"a":2}', '{"a":{"x":1},"a":[5,6]}', '{"user":{"id":1},"user":{"id":7,"id":8},"tier":"a","tier":"gold"}', '[{"a":"x","b":1,"a":"y"}]', '[1,2,3]', '{"a":[1,"x",true,null,{"b":2}]}', ' {"a": 1} ', '\n[1, "1", true]\t',
  '{"a":1.0e2,"b":-0.0,"c":1E-2,"n":"5"}', '{"a\\u0062":"\\u00e9\\n","é":"😀"}', '"just a string"', '42', 'null', 'true', '[]', '{}',
  '{"a":"5"}', '{"a":"true"}', '{"a":true,"b":false}', '[{"role":"user","content":"hi"},{"role":"assistant","content":"Hello"}]',
  '{"user":{"id":7,"name":"Ann"},"tier":"gold"}', '{"a":[[1,2],[3]]}', '[null]', '{"a":null}', '[1,2', '{"a":1}x', '{oops}',
  '{"id":-9300000000000000000,"a":"x"}', '{"a":18446744073709551615,"b":-9223372036854775808}', '[1e999]', '{"a":"\\ud83d\\ude00","b":"\\ud800"}',
  '{"k":["\\udc00x"]}', '[1.7976931348623159e308]', '{"a":12345678901234567890123.5}',
];


// ---------------------------------------------------------------------------------------------
// Themes: each span set draws its attribute values from a small vocabulary, and its filters
// draw their literals, LIKE patterns and JSON paths from the same vocabulary, so that
// comparisons and patterns hit (TRUE) about as often as they miss (FALSE) or find nothing (NULL).

export interface Theme {
  scalars: string[];
  docs: string[];
}

/** Objects with duplicate keys (JSON.parse keeps the last), possibly nested in an array or object. */
const duplicateKeyDoc: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('a', 'k', 'user'), fc.array(jsonValue, { minLength: 2, maxLength: 3 }), fc.dictionary(fc.constantFrom('b', 'n'), jsonValue, { maxKeys: 2 }), fc.nat({ max: 2 }))
  .map(([k, values, others, wrap]) => {
    const members = [...values.map((v) => `${JSON.stringify(k)}:${JSON.stringify(v)}`), ...Object.entries(others).map(([ok, v]) => `${JSON.stringify(ok)}:${JSON.stringify(v)}`)];
    const object = `{${members.join(',')}}`;
    return wrap === 0 ? object : wrap === 1 ? `[${object}]` : `{"user":${object}}`;
  });

const themeArb: fc.Arbitrary<Theme> = fc.record({
  scalars: fc.shuffledSubarray([...SCALAR_TEXTS], { minLength: 2, maxLength: 6 }),
  docs: fc.array(
    fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...JSON_TEXTS) }, { weight: 3, arbitrary: jsonValue.map((v) => JSON.stringify(v)) }, { weight: 1, arbitrary: duplicateKeyDoc }),
    { minLength: 1, maxLength: 3 },
  ),
});

// ---------------------------------------------------------------------------------------------
// Spans

/** Span attribute keys: the default field conventions' keys, metadata keys, plain and dotted keys. */
export const ATTRIBUTE_KEYS: readonly string[] = [
  'k', 'n', 'flag', 'txt', 'pat', 'doc', 'gen_ai.request.model', 'weird key', 'é',
  'input.value', 'gen_ai.prompt', 'input', 'output.value', 'output', 'expected', 'spanscore.expected', 'in',
  'metadata', 'metadata.tier', 'metadata.user', 'metadata.user.id', 'metadata.a.b', 'meta.tier', 'meta.user',
];
const RESOURCE_KEYS = ['service.name', 'deployment.environment', 'host.name'];

const KINDS = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'];
const STATUSES = ['Unset', 'Ok', 'Error'];
const DURATIONS = ['0', '1', '999999', '1000000', '1500000000', '2500000', '12345678901234567890', '18446744073709551615'];
/** Nanosecond timestamps; the storage reads 10+ digits of seconds. */
const TIMESTAMPS = ['1700000000123456789', '1700000000000000000', '1000000000000000001', '1999999999999999999', '4102444800999999999'];
const NAMES = ['chat gpt-4o', 'Chat', 'embeddings', '', 'é', 'a%b', 'a_b', '10', 'true', '😀'];

/** Keys whose values are mostly JSON documents (the rest mostly hold the theme's scalars). */
const DOCUMENT_KEYS = new Set(['doc', 'input.value', 'gen_ai.prompt', 'input', 'output.value', 'output', 'expected', 'spanscore.expected', 'in', 'metadata', 'metadata.user', 'metadata.a.b', 'meta.user']);

function spanArb(theme: Theme): fc.Arbitrary<SpanRow> {
  const scalar = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...theme.scalars) }, { weight: 1, arbitrary: fc.constantFrom(...theme.docs) }, { weight: 1, arbitrary: fc.constantFrom(...SCALAR_TEXTS) });
  const document = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...theme.docs) }, { weight: 2, arbitrary: fc.constantFrom(...theme.scalars) });
  const attributes = fc.record(Object.fromEntries(ATTRIBUTE_KEYS.map((k) => [k, DOCUMENT_KEYS.has(k) ? document : scalar])), { requiredKeys: [] }) as fc.Arbitrary<Record<string, string>>;
  return fc
    .record({
      root: fc.boolean(),
      kind: fc.constantFrom(...KINDS),
      status: fc.constantFrom(...STATUSES),
      name: fc.oneof(fc.constantFrom(...NAMES), fc.constantFrom(...theme.scalars)),
      statusMessage: fc.oneof(fc.constantFrom('', 'rate limited', 'Error'), fc.constantFrom(...theme.scalars)),
      service: fc.constantFrom('checkout', 'search', ''),
      scope: fc.constantFrom('openinference', 'traceloop', ''),
      duration: fc.constantFrom(...DURATIONS),
      timestamp: fc.constantFrom(...TIMESTAMPS),
      attributes,
      resource: fc.dictionary(fc.constantFrom(...RESOURCE_KEYS), fc.constantFrom(...theme.scalars), { maxKeys: 3 }),
    })
    .map(
      (s): SpanRow => ({
        Timestamp: s.timestamp,
        TraceId: '',
        SpanId: '',
        ParentSpanId: s.root ? '' : 'aaaaaaaaaaaaaaaa',
        TraceState: '',
        SpanName: s.name,
        SpanKind: s.kind,
        ServiceName: s.service,
        ResourceAttributes: { ...s.resource },
        ScopeName: s.scope,
        ScopeVersion: '',
        SpanAttributes: { ...s.attributes },
        Duration: s.duration,
        StatusCode: s.status,
        StatusMessage: s.statusMessage,
        Events: [],
        Links: [],
      }),
    );
}

// ---------------------------------------------------------------------------------------------
// Filters (built as trees; the test prints and parses them again)

const P: FilterPos = { offset: 0, line: 1, column: 1 };

const str = (value: string): FilterExpr => ({ kind: 'string', pos: P, value });
const num = (value: number): FilterExpr => ({ kind: 'number', pos: P, value, integer: Number.isSafeInteger(value) });
const field = (name: string, steps: PathStep[] = []): FilterExpr => ({ kind: 'field', pos: P, field: name as never, steps });
const key = (k: string, quoted = false): PathStep => ({ kind: 'key', pos: P, key: k, quoted });
const index = (i: number): PathStep => ({ kind: 'index', pos: P, index: i });
const call = (name: FilterFunctionName, ...args: FilterExpr[]): FilterExpr => ({ kind: 'call', pos: P, name, args });
const isIdentifier = (k: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k);

/** Fixed LIKE patterns: wildcards, escapes (values keep `\%` / `\_` as the parser does), a trailing lone backslash, Unicode case. */
const LIKE_PATTERNS = [
  '%', '_', '%b', 'a%', '%a%', 'a_b', 'a\\_b', 'a\\%b', '100\\%', 'a\\\\b', 'a\\b', 'a\\', '\\', '\\\\', '_%_', '%\\%%', 'c%', 'C%',
  '%gpt%', '%GPT%', '_é', '_😀_', '%😀%', 'a%b%', '%_%', '__', '___', '', 'É%', 'é%', 'i%', 'İ%', '%K', '%k', 'line1_line2', 'line1%',
  '%\\_%', 'a\\x%', '\\a%', '%~%', '%\uE000%', 'tab_', 'nul_x',
];

/** A LIKE pattern made from a text: escaped exactly, raw, with wildcards in place of parts, case-changed. */
function patternsFrom(text: string): fc.Arbitrary<string> {
  const chars = Array.from(text);
  const escaped = (cs: string[]) => cs.map((c) => (c === '\\' || c === '%' || c === '_' ? `\\${c}` : c)).join('');
  return fc.tuple(fc.nat({ max: 7 }), fc.nat({ max: Math.max(chars.length - 1, 0) }), fc.nat({ max: chars.length })).map(([how, at, len]) => {
    switch (how) {
      case 0:
        return escaped(chars);
      case 1:
        return text;
      case 2:
        return escaped(chars.slice(0, at)) + '_' + escaped(chars.slice(at + 1));
      case 3:
        return escaped(chars.slice(0, at)) + '%';
      case 4:
        return '%' + escaped(chars.slice(at));
      case 5:
        return '%' + escaped(chars.slice(at, at + len)) + '%';
      case 6:
        return escaped(Array.from(text.toUpperCase()));
      default:
        return escaped(Array.from(text.toLowerCase()));
    }
  });
}

/** Every path (up to three steps) that exists in a JSON text. */
function pathsIn(text: string): PathStep[][] {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    return [];
  }
  const out: PathStep[][] = [];
  const walk = (value: unknown, steps: PathStep[]) => {
    if (steps.length === 3 || typeof value !== 'object' || value === null) return;
    const children: [PathStep, unknown][] = Array.isArray(value)
      ? value.slice(0, 3).map((v, i) => [index(i), v])
      : Object.entries(value).map(([k, v]) => [key(k, !isIdentifier(k)), v]);
    for (const [step, child] of children) {
      out.push([...steps, step]);
      walk(child, [...steps, step]);
    }
  };
  walk(root, []);
  return out;
}

const STRING_COLUMNS = ['name', 'span_kind', 'service_name', 'status', 'status_message', 'parent_span_id', 'scope_name', 'span_id'];
const MAP_KEYS = ['k', 'n', 'flag', 'txt', 'pat', 'doc', 'missing', 'input.value', 'metadata', 'é', 'weird key', 'gen_ai.request.model', 'metadata.tier'];
const PATH_KEYS = ['a', 'b', 'k', 'n', 'x', 'role', 'content', 'é', 'user', 'id', 'tier', 'true', '', 'a.b', 'missing'];
const COMPARE_OPS: CompareOp[] = ['=', '!=', '<', '<=', '>', '>='];
const ARITHMETIC_OPS: ArithmeticOp[] = ['+', '-', '*', '/', '%'];

/** Plain STRING fields: columns, attributes (bare, dotted and bracketed keys), resource attributes, the documents' raw text. */
const stringField = fc.oneof(
  fc.constantFrom(...STRING_COLUMNS).map((name) => field(name)),
  fc.tuple(fc.constantFrom(...MAP_KEYS), fc.boolean()).map(([k, quoted]) => field('attributes', quoted ? [key(k, true)] : k.split('.').map((part) => key(part)))),
  fc.constantFrom(...RESOURCE_KEYS, 'missing').map((k) => field('resource', [key(k, true)])),
  fc.constantFrom('input', 'output', 'expected', 'metadata').map((name) => field(name)),
);

const randomStep: fc.Arbitrary<PathStep> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PATH_KEYS.filter(isIdentifier)).map((k) => key(k)) },
  { weight: 1, arbitrary: fc.constantFrom(...PATH_KEYS).map((k) => key(k, true)) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 2, 4).map(index) },
);

interface Gen {
  bool: FilterExpr;
  number: FilterExpr;
  string: FilterExpr;
  dynamic: FilterExpr;
  any: FilterExpr;
}

/** Random typed filter trees over a theme (any shape, mostly NULL-heavy); the result is a whole (boolean) filter. */
function randomFilterArb(theme: Theme): fc.Arbitrary<FilterExpr> {
  const docPaths = theme.docs.flatMap(pathsIn);
  const steps = fc.oneof(
    { weight: docPaths.length > 0 ? 4 : 0, arbitrary: docPaths.length > 0 ? fc.constantFrom(...docPaths) : fc.constant<PathStep[]>([index(0)]) },
    { weight: 1, arbitrary: fc.array(randomStep, { minLength: 1, maxLength: 3 }) },
  );
  /** JSON paths (typed at run time): documents, attributes' texts, metadata (prefixed attributes, or the metadata JSON). */
  const jsonPath = fc.oneof(
    fc.tuple(fc.constantFrom('input', 'output', 'expected'), steps).map(([f, s]) => field(f, s)),
    fc.tuple(fc.constantFrom('doc', 'input.value', 'metadata', 'k'), steps).map(([k, s]) => field('attributes', [key(k, true), ...s])),
    steps.map((s) => field('metadata', s)),
    fc
      .tuple(fc.constantFrom(['tier'], ['user'], ['user', 'id'], ['a', 'b'], ['user', 'id', 'x'], ['a', 'b', 'c']), fc.array(randomStep, { maxLength: 1 }))
      .map(([ks, rest]) => field('metadata', [...ks.map((k) => key(k)), ...rest])),
  );
  const numbers = theme.scalars.filter((s) => /^[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?$/i.test(s) && Number.isFinite(Number(s))).map(Number);
  const numberLiteral = fc
    .oneof(
      { weight: 2, arbitrary: fc.constantFrom(0, 0.5, 1.5, 3, 7, 10, 1000, 1e20, 1e300, 1e-5, 1500, 2 ** 53, 4.9e-324, 0.1, 1700000000123.4568) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 20 }) },
      { weight: numbers.length > 0 ? 3 : 0, arbitrary: numbers.length > 0 ? fc.constantFrom(...numbers) : fc.constant(0) },
    )
    .map(num);
  const stringLiteral = fc
    .oneof(
      { weight: 5, arbitrary: fc.constantFrom(...theme.scalars) },
      { weight: 1, arbitrary: fc.constantFrom(...theme.docs) },
      { weight: 1, arbitrary: fc.constantFrom(...SCALAR_TEXTS, ...LIKE_PATTERNS, 'client', 'error', 'ok', 'unset', 'server', 'chat gpt-4o') },
    )
    .map(str);
  const patternLiteral = fc
    .oneof({ weight: 4, arbitrary: fc.constantFrom(...theme.scalars).chain(patternsFrom) }, { weight: 1, arbitrary: fc.constantFrom(...LIKE_PATTERNS) })
    .map(str);

  return fc.letrec((tie) => {
    const bool = tie('bool') as fc.Arbitrary<FilterExpr>;
    const number = tie('number') as fc.Arbitrary<FilterExpr>;
    const string = tie('string') as fc.Arbitrary<FilterExpr>;
    const dynamic = tie('dynamic') as fc.Arbitrary<FilterExpr>;
    const any = tie('any') as fc.Arbitrary<FilterExpr>;
    const nullLit = fc.constant<FilterExpr>({ kind: 'null', pos: P });
    const numeric = fc.oneof({ weight: 3, arbitrary: number }, { weight: 2, arbitrary: string }, { weight: 2, arbitrary: dynamic });
    const stringish = fc.oneof({ weight: 5, arbitrary: string }, { weight: 2, arbitrary: dynamic }, { weight: 1, arbitrary: nullLit });
    /** Operand pairs of matching static types, so that most comparisons are not trivially NULL. */
    const comparable = fc.oneof(
      { weight: 3, arbitrary: fc.tuple(fc.oneof(stringField, jsonPath), stringLiteral) },
      { weight: 2, arbitrary: fc.tuple(fc.oneof(number, stringField, jsonPath), numberLiteral) },
      { weight: 1, arbitrary: fc.tuple(number, fc.oneof(number, string, dynamic)) },
      { weight: 1, arbitrary: fc.tuple(string, fc.oneof(string, number, bool, dynamic)) },
      { weight: 1, arbitrary: fc.tuple(dynamic, any) },
      { weight: 1, arbitrary: fc.tuple(bool, fc.oneof(bool, string)) },
      { weight: 1, arbitrary: fc.tuple(any, any) },
    );
    const arbitraries: { [K in keyof Gen]: fc.Arbitrary<Gen[K]> } = {
      bool: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        { weight: 8, arbitrary: fc.tuple(comparable, fc.constantFrom(...COMPARE_OPS), fc.boolean()).map(([[a, b], op, swap]): FilterExpr => ({ kind: 'compare', pos: P, op, left: swap ? b : a, right: swap ? a : b, opPos: P })) },
        { weight: 2, arbitrary: fc.tuple(fc.oneof(stringField, jsonPath, any), fc.boolean()).map(([operand, negated]): FilterExpr => ({ kind: 'is_null', pos: P, operand, negated, opPos: P })) },
        {
          weight: 2,
          arbitrary: fc
            .tuple(fc.oneof(stringField, jsonPath, any), fc.array(fc.oneof({ weight: 3, arbitrary: stringLiteral }, { weight: 2, arbitrary: numberLiteral }, { weight: 1, arbitrary: nullLit }, { weight: 1, arbitrary: any }), { minLength: 1, maxLength: 4 }), fc.boolean())
            .map(([operand, list, negated]): FilterExpr => ({ kind: 'in', pos: P, operand, list, negated, opPos: P })),
        },
        {
          weight: 4,
          arbitrary: fc
            .tuple(fc.oneof({ weight: 4, arbitrary: stringField }, { weight: 1, arbitrary: stringish }), fc.oneof({ weight: 5, arbitrary: patternLiteral }, { weight: 1, arbitrary: stringish }), fc.boolean(), fc.boolean())
            .map(([operand, pattern, negated, caseInsensitive]): FilterExpr => ({ kind: 'like', pos: P, operand, pattern, negated, caseInsensitive, opPos: P })),
        },
        {
          weight: 2,
          arbitrary: fc
            .tuple(fc.oneof(number, stringField, jsonPath), fc.oneof(numberLiteral, stringLiteral, any), fc.oneof(numberLiteral, stringLiteral, any), fc.boolean())
            .map(([operand, low, high, negated]): FilterExpr => ({ kind: 'between', pos: P, operand, low, high, negated, opPos: P })),
        },
        { weight: 3, arbitrary: fc.tuple(fc.constantFrom('and', 'or'), fc.array(bool, { minLength: 2, maxLength: 3 })).map(([kind, operands]) => ({ kind, pos: P, operands }) as FilterExpr) },
        { weight: 2, arbitrary: bool.map((operand): FilterExpr => ({ kind: 'not', pos: P, operand })) },
        { weight: 2, arbitrary: fc.tuple(fc.oneof(stringField, jsonPath, stringish), fc.oneof(stringLiteral, numberLiteral, any)).map(([h, n]) => call('contains', h, n)) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom<FilterFunctionName>('starts_with', 'ends_with'), fc.oneof(stringField, stringish), fc.oneof(stringLiteral, stringish)).map(([name, s, p]) => call(name, s, p)) },
        { weight: 1, arbitrary: fc.oneof(stringField, jsonPath, any).map((x) => call('json_valid', x)) },
        { weight: 1, arbitrary: fc.constantFrom(field('is_root'), { kind: 'boolean', pos: P, value: true } as FilterExpr, { kind: 'boolean', pos: P, value: false } as FilterExpr) },
        { weight: 1, arbitrary: jsonPath },
      ),
      number: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        { weight: 3, arbitrary: numberLiteral },
        { weight: 2, arbitrary: fc.constantFrom(field('duration_ms'), field('timestamp')) },
        { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...ARITHMETIC_OPS), numeric, numeric).map(([op, left, right]): FilterExpr => ({ kind: 'arithmetic', pos: P, op, left, right, opPos: P })) },
        { weight: 1, arbitrary: numeric.map((operand): FilterExpr => ({ kind: 'negate', pos: P, operand })) },
        { weight: 1, arbitrary: fc.oneof(stringField, jsonPath, string).map((x) => call('length', x)) },
      ),
      string: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        { weight: 4, arbitrary: stringLiteral },
        { weight: 5, arbitrary: stringField },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom<FilterFunctionName>('lower', 'upper'), stringish).map(([name, x]) => call(name, x)) },
        { weight: 1, arbitrary: fc.array(string, { minLength: 1, maxLength: 3 }).map((args) => call('coalesce', ...args)) },
      ),
      dynamic: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        { weight: 6, arbitrary: jsonPath },
        { weight: 1, arbitrary: fc.array(fc.oneof(dynamic, string, number, nullLit, bool), { minLength: 2, maxLength: 3 }).map((args) => call('coalesce', ...args)) },
      ),
      any: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        { weight: 3, arbitrary: number },
        { weight: 3, arbitrary: string },
        { weight: 2, arbitrary: bool },
        { weight: 3, arbitrary: dynamic },
        { weight: 1, arbitrary: nullLit },
      ),
    };
    return arbitraries;
  }).bool as fc.Arbitrary<FilterExpr>;
}

// ---------------------------------------------------------------------------------------------
// Focused filters: shallow combinations of atoms whose literals come from the theme (and, for
// arithmetic, length and case mapping, are computed by an oracle from the theme's values), so
// that each atom is TRUE on some spans and FALSE on others.

interface Leaves {
  strings: string[];
  numbers: number[];
  lengths: number[];
}

function leavesOf(theme: Theme): Leaves {
  const strings = new Set<string>(theme.scalars);
  const numbers = new Set<number>([0, 0.1, 0.5, 1.5, 2, 3, 7, 10, 1e3, 1e20, 2 ** 53, 1e-300, 5e-324, ...[...TIMESTAMPS, ...DURATIONS].map((ns) => Number(ns) / 1e6)]);
  const lengths = new Set<number>([0, 1, 2, 3]);
  for (const text of theme.scalars) {
    lengths.add(Array.from(text).length);
    if (/^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(text) && Number.isFinite(Number(text))) numbers.add(Number(text));
  }
  const walk = (value: unknown) => {
    if (typeof value === 'string') {
      strings.add(value);
      lengths.add(Array.from(value).length);
    } else if (typeof value === 'number' && Number.isFinite(value)) numbers.add(value);
    else if (Array.isArray(value)) {
      lengths.add(value.length);
      value.forEach(walk);
    } else if (typeof value === 'object' && value !== null) {
      lengths.add(Object.keys(value).length);
      Object.values(value).forEach(walk);
    }
  };
  for (const text of theme.docs) {
    try {
      walk(JSON.parse(text));
    } catch {
      // not JSON: no leaves
    }
  }
  return { strings: [...strings], numbers: [...numbers], lengths: [...lengths] };
}

/** A number literal for any finite value (negative ones as unary minus, as the parser builds them). */
function numberValue(value: number): FilterExpr {
  return value < 0 || Object.is(value, -0) ? { kind: 'negate', pos: P, operand: num(-value) } : num(value);
}

/** The doc's arithmetic on two numbers: NULL for division / modulo by zero. */
function arithmetic(op: ArithmeticOp, a: number, b: number): number | null {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return b === 0 ? null : a / b;
    case '%':
      return b === 0 ? null : a % b;
  }
}

const asciiCase = (text: string, upper: boolean) => text.replace(upper ? /[a-z]+/g : /[A-Z]+/g, (run) => (upper ? run.toUpperCase() : run.toLowerCase()));

function focusedFilterArb(theme: Theme): fc.Arbitrary<FilterExpr> {
  const leaves = leavesOf(theme);
  const docPaths = theme.docs.flatMap(pathsIn);
  const steps = docPaths.length > 0 ? fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...docPaths) }, fc.array(randomStep, { minLength: 1, maxLength: 2 })) : fc.array(randomStep, { minLength: 1, maxLength: 2 });
  const jsonPath = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom('input', 'output', 'expected'), steps).map(([f, s]) => field(f, s)) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('doc', 'input.value', 'metadata', 'k', 'txt'), steps).map(([k, s]) => field('attributes', [key(k, true), ...s])) },
    { weight: 2, arbitrary: steps.map((s) => field('metadata', s)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(['tier'], ['user'], ['user', 'id'], ['a', 'b'], ['user', 'id', 'x'], ['user', 'name']), fc.array(randomStep, { maxLength: 1 }))
        .map(([ks, rest]) => field('metadata', [...ks.map((k) => key(k)), ...rest])),
    },
  );
  const holder = fc.oneof({ weight: 3, arbitrary: stringField }, { weight: 3, arbitrary: jsonPath }, { weight: 1, arbitrary: fc.constantFrom(field('duration_ms'), field('timestamp'), field('is_root')) });
  const stringLit = fc.constantFrom(...leaves.strings).map(str);
  const numberLit = fc.constantFrom(...leaves.numbers).map(numberValue);
  const boolLit = fc.boolean().map((value): FilterExpr => ({ kind: 'boolean', pos: P, value }));
  const nullLit = fc.constant<FilterExpr>({ kind: 'null', pos: P });
  const literal = fc.oneof({ weight: 4, arbitrary: stringLit }, { weight: 3, arbitrary: numberLit }, { weight: 1, arbitrary: boolLit });
  /** Operands: mostly span values; sometimes a literal, which tests the operator's semantics on known values (the JS side folds it, ClickHouse computes it). */
  const operand = fc.oneof({ weight: 3, arbitrary: holder }, { weight: 1, arbitrary: stringLit });
  const compareOp = fc.constantFrom<CompareOp>('=', '=', '!=', '<', '<=', '>', '>=');
  const compare = (left: FilterExpr, op: CompareOp, right: FilterExpr): FilterExpr => ({ kind: 'compare', pos: P, op, left, right, opPos: P });

  /** `x op y` against its own value, computed here: the two back ends must agree on every bit. */
  const arithmeticOracle = fc
    .tuple(fc.constantFrom(...ARITHMETIC_OPS), fc.constantFrom(...leaves.numbers, -3.5, -7, 0.1, 0.3, -1e17, 4999, 2.5, 1e-5), fc.constantFrom(...leaves.numbers, -2, 3, -0.1, 7, 4999, 1e300, 0), fc.nat({ max: 3 }), compareOp)
    .map(([op, x, y, form, cmp]) => {
      // Operands as number literals or as numeric strings (converted at run time).
      const operand = (v: number, asString: boolean) => (asString ? str(String(v)) : numberValue(v));
      const expr: FilterExpr = { kind: 'arithmetic', pos: P, op, left: operand(x, form === 1), right: operand(y, form === 2), opPos: P };
      const result = arithmetic(op, x, y);
      if (result === null) return { kind: 'is_null', pos: P, operand: expr, negated: form === 3, opPos: P } as FilterExpr;
      if (!Number.isFinite(result)) return compare(expr, cmp, numberValue(1e308));
      return compare(expr, form === 3 ? cmp : '=', numberValue(result));
    });
  const arithmeticOnFields = fc
    .tuple(fc.constantFrom(...ARITHMETIC_OPS), holder, fc.oneof(numberLit, holder), compareOp, numberLit)
    .map(([op, left, right, cmp, bound]) => compare({ kind: 'arithmetic', pos: P, op, left, right, opPos: P }, cmp, bound));

  const likePattern = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...leaves.strings).chain(patternsFrom) }, { weight: 1, arbitrary: fc.constantFrom(...LIKE_PATTERNS) }).map(str);
  const like = fc
    .tuple(operand, fc.oneof({ weight: 6, arbitrary: likePattern }, { weight: 1, arbitrary: holder }), fc.boolean(), fc.boolean())
    .map(([operand, pattern, negated, caseInsensitive]): FilterExpr => ({ kind: 'like', pos: P, operand, pattern, negated, caseInsensitive, opPos: P }));

  const caseMapped = fc
    .tuple(fc.constantFrom<FilterFunctionName>('lower', 'upper'), operand, fc.constantFrom(...leaves.strings), fc.boolean())
    .map(([name, operand, text, ascii]) => {
      const upper = name === 'upper';
      const expected = ascii ? asciiCase(text, upper) : upper ? text.toUpperCase() : text.toLowerCase();
      return compare(call(name, operand), '=', str(expected));
    });
  const affix = fc
    .tuple(fc.constantFrom<FilterFunctionName>('starts_with', 'ends_with', 'contains'), operand, fc.constantFrom(...leaves.strings), fc.nat({ max: 4 }))
    .map(([name, operand, text, cut]) => {
      const chars = Array.from(text);
      const part = name === 'ends_with' ? chars.slice(Math.min(cut, chars.length)) : chars.slice(0, Math.max(chars.length - cut, 0));
      return call(name, operand, str(part.join('')));
    });
  const containsJson = fc.tuple(jsonPath, fc.oneof(literal, nullLit, holder)).map(([h, n]) => call('contains', h, n));
  const length = fc.tuple(fc.oneof(operand, jsonPath), compareOp, fc.constantFrom(...leaves.lengths)).map(([x, op, n]) => compare(call('length', x), op, num(n)));
  const coalesce = fc
    .tuple(
      fc.oneof(
        fc.array(fc.oneof(holder, literal, nullLit), { minLength: 1, maxLength: 3 }),
        // Statically STRING: ClickHouse's own coalesce.
        fc.tuple(fc.array(stringField, { minLength: 1, maxLength: 3 }), stringLit).map(([fields, last]) => [...fields, last]),
      ),
      compareOp,
      literal,
    )
    .map(([args, op, lit]) => compare(call('coalesce', ...args), op, lit));

  const atom: fc.Arbitrary<FilterExpr> = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(holder, compareOp, literal, fc.boolean()).map(([h, op, lit, swap]) => (swap ? compare(lit, op, h) : compare(h, op, lit))) },
    { weight: 2, arbitrary: fc.tuple(operand, compareOp, operand).map(([a, op, b]) => compare(a, op, b)) },
    { weight: 1, arbitrary: fc.tuple(literal, compareOp, literal).map(([a, op, b]) => compare(a, op, b)) },
    { weight: 4, arbitrary: arithmeticOracle },
    { weight: 2, arbitrary: arithmeticOnFields },
    { weight: 5, arbitrary: like },
    { weight: 2, arbitrary: fc.tuple(holder, fc.boolean()).map(([operand, negated]): FilterExpr => ({ kind: 'is_null', pos: P, operand, negated, opPos: P })) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(holder, fc.array(fc.oneof({ weight: 4, arbitrary: literal }, { weight: 1, arbitrary: nullLit }, { weight: 1, arbitrary: holder }), { minLength: 1, maxLength: 4 }), fc.boolean())
        .map(([operand, list, negated]): FilterExpr => ({ kind: 'in', pos: P, operand, list, negated, opPos: P })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(holder, literal, literal, fc.boolean())
        .map(([operand, low, high, negated]): FilterExpr => ({ kind: 'between', pos: P, operand, low, high, negated, opPos: P })),
    },
    { weight: 2, arbitrary: caseMapped },
    { weight: 2, arbitrary: affix },
    { weight: 2, arbitrary: containsJson },
    { weight: 2, arbitrary: length },
    { weight: 1, arbitrary: holder.map((x) => call('json_valid', x)) },
    { weight: 2, arbitrary: coalesce },
    { weight: 1, arbitrary: fc.oneof(jsonPath, fc.constant(field('is_root'))) },
    { weight: 1, arbitrary: fc.tuple(jsonPath, boolLit).map(([path, b]) => compare(path, '=', b)) },
  );
  return fc.letrec((tie) => ({
    filter: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { weight: 6, arbitrary: atom },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom('and', 'or'), fc.array(tie('filter') as fc.Arbitrary<FilterExpr>, { minLength: 2, maxLength: 3 })).map(([kind, operands]) => ({ kind, pos: P, operands }) as FilterExpr) },
      { weight: 1, arbitrary: (tie('filter') as fc.Arbitrary<FilterExpr>).map((operand): FilterExpr => ({ kind: 'not', pos: P, operand })) },
    ),
  })).filter as fc.Arbitrary<FilterExpr>;
}

/** Three focused filters for every random tree. */
function filterArb(theme: Theme): fc.Arbitrary<FilterExpr> {
  return fc.oneof({ weight: 3, arbitrary: focusedFilterArb(theme) }, { weight: 1, arbitrary: randomFilterArb(theme) });
}

/** One differential case: a span set and the filters run over it. */
export interface DifferentialCase {
  theme: Theme;
  spans: SpanRow[];
  filters: FilterExpr[];
}

export function differentialCaseArb(filtersPerCase: number): fc.Arbitrary<DifferentialCase> {
  return themeArb.chain((theme) =>
    fc.record({
      theme: fc.constant(theme),
      spans: fc.array(spanArb(theme), { minLength: 1, maxLength: 5 }),
      filters: fc.array(filterArb(theme), { minLength: filtersPerCase, maxLength: filtersPerCase }),
    }),
  );
}
