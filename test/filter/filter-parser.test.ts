import { describe, expect, it } from 'vitest';
import { FILTER_FIELDS, FILTER_FUNCTIONS, PATH_FIELDS, type FilterExpr } from '../../src/filter/filter-ast.js';
import { formatFilter } from '../../src/filter/filter-format.js';
import { parseFilter } from '../../src/filter/filter-parser.js';
import { FilterSyntaxError } from '../../src/filter/filter-syntax-error.js';

// Position-free builders: the expected trees below are compared with `strip(parseFilter(...))`.
type Bare = Record<string, unknown>;
const field = (name: string, ...steps: Bare[]): Bare => ({ kind: 'field', field: name, steps });
const key = (k: string, quoted = false): Bare => ({ kind: 'key', key: k, quoted });
const idx = (index: number): Bare => ({ kind: 'index', index });
const str = (value: string): Bare => ({ kind: 'string', value });
const num = (value: number, integer = true): Bare => ({ kind: 'number', value, integer });
const bool = (value: boolean): Bare => ({ kind: 'boolean', value });
const NULL: Bare = { kind: 'null' };
const cmp = (op: string, left: Bare, right: Bare): Bare => ({ kind: 'compare', op, left, right });
const and = (...operands: Bare[]): Bare => ({ kind: 'and', operands });
const or = (...operands: Bare[]): Bare => ({ kind: 'or', operands });
const not = (operand: Bare): Bare => ({ kind: 'not', operand });
const neg = (operand: Bare): Bare => ({ kind: 'negate', operand });
const ar = (op: string, left: Bare, right: Bare): Bare => ({ kind: 'arithmetic', op, left, right });
const isNull = (operand: Bare, negated = false): Bare => ({ kind: 'is_null', operand, negated });
const inList = (operand: Bare, list: Bare[], negated = false): Bare => ({ kind: 'in', operand, list, negated });
const like = (operand: Bare, pattern: Bare, negated = false, caseInsensitive = false): Bare => ({ kind: 'like', operand, pattern, negated, caseInsensitive });
const between = (operand: Bare, low: Bare, high: Bare, negated = false): Bare => ({ kind: 'between', operand, low, high, negated });
const call = (name: string, ...args: Bare[]): Bare => ({ kind: 'call', name, args });
const [NAME, DUR, ROOT] = [field('name'), field('duration_ms'), field('is_root')];

function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'pos' && k !== 'opPos').map(([k, v]) => [k, strip(v)]));
}

const parse = (text: string) => strip(parseFilter(text));

function errorOf(text: string): FilterSyntaxError {
  try {
    parseFilter(text);
  } catch (error) {
    expect(error).toBeInstanceOf(FilterSyntaxError);
    return error as FilterSyntaxError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

const headline = (text: string) => errorOf(text).headline;
const FIELD_LIST = FILTER_FIELDS.join(', ');
const FUNCTION_LIST = Object.keys(FILTER_FUNCTIONS).join(', ');

describe('parseFilter: literals', () => {
  it.each<[string, Bare]>([
    ["'abc'", str('abc')],
    ["''", str('')],
    ["'it''s'", str("it's")],
    ["'a\\\\b'", str('a\\b')],
    ["'it\\'s'", str("it's")],
    ["'a\\nb\\tc\\rd\\0e'", str('a\nb\tc\rd\0e')],
    ["'100\\%'", str('100\\%')],
    ["'100\\\\%'", str('100\\%')],
    ["'a\\_b'", str('a\\_b')],
    ["'two\nlines'", str('two\nlines')],
    ["'café 😀 \"x\" `y`'", str('café 😀 "x" `y`')],
    ['0', num(0)],
    ['42', num(42)],
    ['007', num(7)],
    ['9007199254740991', num(9007199254740991)],
    ['1.5', num(1.5, false)],
    ['1e3', num(1000, false)],
    ['1.5E-3', num(0.0015, false)],
    ['2e+2', num(200, false)],
    ['TRUE', bool(true)],
    ['false', bool(false)],
    ['True', bool(true)],
    ['NULL', NULL],
    ['nUlL', NULL],
  ])('%s', (text, expected) => {
    expect(parse(text)).toEqual(expected);
  });

  it.each([
    ['1e400', 'number 1e400 is out of range at 1:1'],
    ['9007199254740992', 'integer 9007199254740992 is too large at 1:1: integers go up to 9007199254740991'],
    ['name = 1e', 'malformed number 1e at 1:8'],
    ['name = 1e+', 'malformed number 1e+ at 1:8'],
    ['name = 12abc', 'malformed number 12abc at 1:8'],
    ['name = 0x1F', 'malformed number 0x1F at 1:8'],
    ['name = 1.5.2', "unexpected token '.' at 1:11: a filter is a single expression: join conditions with AND or OR"],
    ["name = 'abc", 'unterminated string starting at 1:8'],
    ["1 = 'abc", 'unterminated string starting at 1:5'],
    ["name = 'abc\\", 'unterminated string starting at 1:8'],
    ["name = 'a\\'", 'unterminated string starting at 1:8'],
    ["name = 'a\\qb'", "unknown escape \\q in string at 1:10: supported escapes are \\\\ \\' \\n \\t \\r \\0 \\% \\_, and '' is a quote"],
    ["name = 'a\\\"'", "unknown escape \\\" in string at 1:10: supported escapes are \\\\ \\' \\n \\t \\r \\0 \\% \\_, and '' is a quote"],
    ['name = "ok"', '"ok" is a quoted identifier, not a string at 1:8: strings use single quotes; double quotes and backticks quote keys in paths such as metadata."user id"'],
    ['name = `ok`', '`ok` is a quoted identifier, not a string at 1:8: strings use single quotes; double quotes and backticks quote keys in paths such as metadata."user id"'],
  ])('refuses %s', (text, message) => {
    expect(headline(text)).toBe(message);
  });
});

describe('parseFilter: fields and paths', () => {
  it.each(FILTER_FIELDS.map((name) => [name]))('field %s', (name) => {
    expect(parse(name)).toEqual(field(name));
    expect(parse(name.toUpperCase())).toEqual(field(name));
  });

  it.each<[string, Bare]>([
    ['metadata.model', field('metadata', key('model'))],
    ['METADATA.Model', field('metadata', key('Model'))],
    ['metadata.user.tier', field('metadata', key('user'), key('tier'))],
    ['input.messages[0].role', field('input', key('messages'), idx(0), key('role'))],
    ["attributes['gen_ai.request.model']", field('attributes', key('gen_ai.request.model', true))],
    ['attributes.gen_ai.request.model', field('attributes', key('gen_ai'), key('request'), key('model'))],
    ['attributes.gen_ai.prompt.0.content', field('attributes', key('gen_ai'), key('prompt'), key('0'), key('content'))],
    ['resource.k8s.pod.0name', field('resource', key('k8s'), key('pod'), key('0name'))],
    ['metadata."user id"', field('metadata', key('user id', true))],
    ['metadata.`a.b`', field('metadata', key('a.b', true))],
    ['metadata."say ""hi"""', field('metadata', key('say "hi"', true))],
    ['metadata.`a``b`', field('metadata', key('a`b', true))],
    ['metadata.""', field('metadata', key('', true))],
    ["metadata['it''s']", field('metadata', key("it's", true))],
    ['metadata.and.NOT.null', field('metadata', key('and'), key('NOT'), key('null'))],
    ['output [ 12 ] . x', field('output', idx(12), key('x'))],
    ['expected[0][1]', field('expected', idx(0), idx(1))],
  ])('%s', (text, expected) => {
    expect(parse(text)).toEqual(expected);
  });

  it.each(PATH_FIELDS.map((name) => [name]))('%s accepts every step form', (name) => {
    expect(parse(`${name}.a."b"['c'][3]`)).toEqual(field(name, key('a'), key('b', true), key('c', true), idx(3)));
  });

  it.each([
    ['nmae', `unknown field "nmae" at 1:1: did you mean name? fields are ${FIELD_LIST}`],
    ['foo = 1', `unknown field "foo" at 1:1: fields are ${FIELD_LIST}`],
    ['name = 1 AND Statsu = 2', `unknown field "Statsu" at 1:14: did you mean status? fields are ${FIELD_LIST}`],
    ['lower = 1', 'unknown field "lower" at 1:1: lower is a function: call it as lower(...)'],
    ['name.x = 1', 'field name takes no path at 1:5: only input, output, expected, metadata, attributes, resource have keys or indexes'],
    ["status['x']", 'field status takes no path at 1:7: only input, output, expected, metadata, attributes, resource have keys or indexes'],
    ['input.messages.0.role', 'key 0 starts with a digit at 1:16: use [0] for an array index, or ."0" for a key'],
    ['metadata.1st', 'key 1st starts with a digit at 1:10: quote it: ."1st"'],
    ['metadata.', 'expected a key after ., found end of filter at 1:10'],
    ['metadata. = 1', "expected a key after ., found '=' at 1:11"],
    ["metadata.'x'", "expected a key after ., found string 'x' at 1:10"],
    ['input[-1]', 'an array index must be a non-negative integer at 1:7'],
    ['input[1.5]', 'an array index must be a non-negative integer at 1:7'],
    ['input[1e2]', 'an array index must be a non-negative integer at 1:7'],
    ['resource["service.name"]', `expected a 'string key' or an integer index after [, found "service.name" at 1:10`],
    ['input[x]', "expected a 'string key' or an integer index after [, found 'x' at 1:7"],
    ['input[', "expected a 'string key' or an integer index after [, found end of filter at 1:7"],
    ['input[0', 'expected ] to close [ opened at 1:6, found end of filter at 1:8'],
    ["input['a' = 1", 'expected ] to close [ opened at 1:6, found \'=\' at 1:11'],
    ['metadata."user id', 'unterminated quoted identifier starting at 1:10'],
    ['metadata.`a', 'unterminated quoted identifier starting at 1:10'],
  ])('refuses %s', (text, message) => {
    expect(headline(text)).toBe(message);
  });
});

describe('parseFilter: operators', () => {
  it.each<[string, Bare]>([
    ['name = 1', cmp('=', NAME, num(1))],
    ['name != 1', cmp('!=', NAME, num(1))],
    ['name <> 1', cmp('!=', NAME, num(1))],
    ['name < 1', cmp('<', NAME, num(1))],
    ['name <= 1', cmp('<=', NAME, num(1))],
    ['name > 1', cmp('>', NAME, num(1))],
    ['name >= 1', cmp('>=', NAME, num(1))],
    ["name='x'", cmp('=', NAME, str('x'))],
    ['is_root AND name', and(ROOT, NAME)],
    ['is_root and name AND status', and(ROOT, NAME, field('status'))],
    ['is_root OR name or status', or(ROOT, NAME, field('status'))],
    ['(is_root AND name) AND status', and(and(ROOT, NAME), field('status'))],
    ['is_root AND (name AND status)', and(ROOT, and(NAME, field('status')))],
    ['is_root OR name AND status', or(ROOT, and(NAME, field('status')))],
    ['is_root AND name OR status', or(and(ROOT, NAME), field('status'))],
    ['(is_root OR name) AND status', and(or(ROOT, NAME), field('status'))],
    ['NOT is_root', not(ROOT)],
    ['not not is_root', not(not(ROOT))],
    ['NOT is_root AND name', and(not(ROOT), NAME)],
    ['NOT (is_root AND name)', not(and(ROOT, NAME))],
    ['NOT name = 1', not(cmp('=', NAME, num(1)))],
    ['is_root AND NOT name OR status', or(and(ROOT, not(NAME)), field('status'))],
    ['1 + 2 * 3', ar('+', num(1), ar('*', num(2), num(3)))],
    ['(1 + 2) * 3', ar('*', ar('+', num(1), num(2)), num(3))],
    ['1 - 2 - 3', ar('-', ar('-', num(1), num(2)), num(3))],
    ['1 - (2 - 3)', ar('-', num(1), ar('-', num(2), num(3)))],
    ['8 / 4 % 3 * 2', ar('*', ar('%', ar('/', num(8), num(4)), num(3)), num(2))],
    ['duration_ms / 1000 > 2 + 1', cmp('>', ar('/', DUR, num(1000)), ar('+', num(2), num(1)))],
    ['-1', neg(num(1))],
    ['- - 1', neg(neg(num(1)))],
    ['-(-1)', neg(neg(num(1)))],
    ['1-1', ar('-', num(1), num(1))],
    ['1 - -1', ar('-', num(1), neg(num(1)))],
    ['-duration_ms * 2', ar('*', neg(DUR), num(2))],
    ['-(duration_ms * 2)', neg(ar('*', DUR, num(2)))],
    ['2 * -duration_ms', ar('*', num(2), neg(DUR))],
    ['duration_ms = -1.5', cmp('=', DUR, neg(num(1.5, false)))],
    ['-duration_ms < 0', cmp('<', neg(DUR), num(0))],
    ['(name = 1) = TRUE', cmp('=', cmp('=', NAME, num(1)), bool(true))],
    ['name IS NULL', isNull(NAME)],
    ['name is not null', isNull(NAME, true)],
    ['name + 1 IS NULL', isNull(ar('+', NAME, num(1)))],
    ["name IN ('a')", inList(NAME, [str('a')])],
    ["name in ('a', 'b', lower('C'))", inList(NAME, [str('a'), str('b'), call('lower', str('C'))])],
    ["name NOT IN ('a', 'b')", inList(NAME, [str('a'), str('b')], true)],
    ['is_root IN (name = 1, TRUE)', inList(ROOT, [cmp('=', NAME, num(1)), bool(true)])],
    ["name LIKE 'gpt%'", like(NAME, str('gpt%'))],
    ["name NOT LIKE 'gpt\\%'", like(NAME, str('gpt\\%'), true)],
    ["name ILIKE 'GPT%'", like(NAME, str('GPT%'), false, true)],
    ["name not ilike 'x_'", like(NAME, str('x_'), true, true)],
    ["lower(name) LIKE lower('%X%')", like(call('lower', NAME), call('lower', str('%X%')))],
    ["name LIKE 'a' + name", like(NAME, ar('+', str('a'), NAME))],
    ['duration_ms BETWEEN 1 AND 2', between(DUR, num(1), num(2))],
    ['duration_ms NOT BETWEEN 1 AND 2', between(DUR, num(1), num(2), true)],
    ['duration_ms between 1 + 1 and 2 * 3', between(DUR, ar('+', num(1), num(1)), ar('*', num(2), num(3)))],
    ['duration_ms BETWEEN 1 AND 2 AND is_root', and(between(DUR, num(1), num(2)), ROOT)],
    ['is_root AND duration_ms BETWEEN 1 AND 2 OR name', or(and(ROOT, between(DUR, num(1), num(2))), NAME)],
    ['NOT duration_ms BETWEEN -1 AND 2', not(between(DUR, neg(num(1)), num(2)))],
  ])('%s', (text, expected) => {
    expect(parse(text)).toEqual(expected);
  });

  it.each([
    ['1 = 234 = 5', 'comparison operators do not chain: add parentheses at 1:9'],
    ['name < 1 IS NULL', 'comparison operators do not chain: add parentheses at 1:10'],
    ['name IS NULL = TRUE', 'comparison operators do not chain: add parentheses at 1:14'],
    ['name IN (1) IN (2)', 'comparison operators do not chain: add parentheses at 1:13'],
    ["name LIKE 'a' NOT LIKE 'b'", 'comparison operators do not chain: add parentheses at 1:15'],
    ['name BETWEEN 1 AND 2 BETWEEN 3 AND 4', 'comparison operators do not chain: add parentheses at 1:22'],
    ['name = 1 NOT name', 'unexpected token NOT at 1:10: a filter is a single expression: join conditions with AND or OR'],
    ['name NOT = 1', "expected IN, LIKE, ILIKE or BETWEEN after NOT, found '=' at 1:10"],
    ['name NOT', 'expected IN, LIKE, ILIKE or BETWEEN after NOT, found end of filter at 1:9'],
    ['name IS 1', "expected NULL or NOT NULL after IS, found '1' at 1:9"],
    ['name IS NOT TRUE', 'expected NULL after IS NOT, found TRUE at 1:13'],
    ['span_id IN \'x\'', "IN expects a parenthesised list at 1:12: write IN ('a', 'b')"],
    ['name IN', "IN expects a parenthesised list at 1:8: write IN ('a', 'b')"],
    ['name IN ()', 'IN needs at least one value at 1:10'],
    ['name IN (1,', 'expected an expression after , at 1:12'],
    ['name IN (1,)', "expected an expression after ,, found ')' at 1:12"],
    ['name IN (1 2)', "expected , or ) to close ( opened at 1:9, found '2' at 1:12"],
    ['name IN (1', 'expected , or ) to close ( opened at 1:9, found end of filter at 1:11'],
    ["name LIKE 'a!%' ESCAPE '!'", 'LIKE ... ESCAPE is not supported at 1:17: the escape character is always a backslash'],
    ["name ILIKE 'a' escape '!'", 'ILIKE ... ESCAPE is not supported at 1:16: the escape character is always a backslash'],
    ['duration_ms BETWEEN 1 OR 2', 'expected AND between the bounds of BETWEEN, found OR at 1:23'],
    ['duration_ms BETWEEN 1', 'expected AND between the bounds of BETWEEN, found end of filter at 1:22'],
    ['duration_ms BETWEEN 1 AND', 'expected an expression after AND at 1:26'],
    ['name = NOT is_root', 'expected an expression after =, found NOT at 1:8: NOT applies to a whole condition, so parenthesise it: (NOT ...)'],
    ['1 + AND', 'expected an expression after +, found AND at 1:5'],
    ['+1', "expected an expression, found '+' at 1:1"],
    ['name = (1 + 2', 'expected ) to close ( opened at 1:8, found end of filter at 1:14'],
    ['1=(duration_ms + 12', 'expected ) to close ( opened at 1:3, found end of filter at 1:20'],
    ['(name = 1 is_root)', "expected ) to close ( opened at 1:1, found 'is_root' at 1:11"],
    ['(name = 1))', 'unmatched ) at 1:11'],
    ['()', "expected an expression after (, found ')' at 1:2"],
    [')', "expected an expression, found ')' at 1:1"],
  ])('refuses %s', (text, message) => {
    expect(headline(text)).toBe(message);
  });
});

describe('parseFilter: functions', () => {
  it.each<[string, Bare]>([
    ['lower(name)', call('lower', NAME)],
    ['upper(name)', call('upper', NAME)],
    ['length(input)', call('length', field('input'))],
    ["contains(output, 'sorry')", call('contains', field('output'), str('sorry'))],
    ["starts_with(name, 'chat')", call('starts_with', NAME, str('chat'))],
    ["ends_with(name, 'gpt')", call('ends_with', NAME, str('gpt'))],
    ['json_valid(output)', call('json_valid', field('output'))],
    ['coalesce(name)', call('coalesce', NAME)],
    ["coalesce(metadata.a, metadata.b, 'none')", call('coalesce', field('metadata', key('a')), field('metadata', key('b')), str('none'))],
    ['LOWER(name)', call('lower', NAME)],
    ["Starts_With(name, 'x')", call('starts_with', NAME, str('x'))],
    ['lower (name)', call('lower', NAME)],
    ['length(lower(upper(name))) > 3', cmp('>', call('length', call('lower', call('upper', NAME))), num(3))],
    ['contains(name, 1 + 2)', call('contains', NAME, ar('+', num(1), num(2)))],
  ])('%s', (text, expected) => {
    expect(parse(text)).toEqual(expected);
  });

  it.each([
    ["lower(name, 'x') = 'y'", 'function lower takes 1 argument, got 2 at 1:1'],
    ['lower()', 'function lower takes 1 argument, got 0 at 1:1'],
    ['upper(name, name)', 'function upper takes 1 argument, got 2 at 1:1'],
    ['is_root AND length()', 'function length takes 1 argument, got 0 at 1:13'],
    ['contains(name)', 'function contains takes 2 arguments, got 1 at 1:1'],
    ['starts_with(name, 1, 2)', 'function starts_with takes 2 arguments, got 3 at 1:1'],
    ['ends_with()', 'function ends_with takes 2 arguments, got 0 at 1:1'],
    ['json_valid(input, output)', 'function json_valid takes 1 argument, got 2 at 1:1'],
    ['coalesce()', 'function coalesce takes at least 1 argument, got 0 at 1:1'],
    ['COALESCE()', 'function coalesce takes at least 1 argument, got 0 at 1:1'],
    ['lowr(name)', `unknown function "lowr" at 1:1: did you mean lower? functions are ${FUNCTION_LIST}`],
    ['regexp(name)', `unknown function "regexp" at 1:1: functions are ${FUNCTION_LIST}`],
    ['name(1)', 'name is a field, not a function at 1:1'],
    ['lower(name', 'expected , or ) to close ( opened at 1:6, found end of filter at 1:11'],
    ['lower(name;', "expected , or ) to close ( opened at 1:6, found ';' at 1:11"],
    ['lower(,)', "expected an expression after (, found ',' at 1:7"],
  ])('refuses %s', (text, message) => {
    expect(headline(text)).toBe(message);
  });
});

describe('parseFilter: filter-level errors', () => {
  it.each([
    ['', "empty filter at 1:1: write a boolean expression such as status = 'error'"],
    ['  \n\t ', "empty filter at 1:1: write a boolean expression such as status = 'error'"],
    ['metadata.m = 1 AND', 'expected an expression after AND at 1:19'],
    ['metadata.model = 1 AND', 'expected an expression after AND at 1:23'],
    ['is_root OR  \n ', 'expected an expression after OR at 1:11'],
    ['NOT', 'expected an expression after NOT at 1:4'],
    ['name = ', 'expected an expression after = at 1:7'],
    ['name = 12;', "unexpected token ';' at 1:10: a filter is a single expression"],
    ['name = 1; is_root', "unexpected token ';' at 1:9: a filter is a single expression"],
    ["name = 'a' 'b'", "unexpected string 'b' at 1:12: a filter is a single expression: join conditions with AND or OR"],
    ['name = 1 is_root', "unexpected token 'is_root' at 1:10: a filter is a single expression: join conditions with AND or OR"],
    ['name = 1 -- why', 'comments are not supported (found --) at 1:10: a filter is a single expression'],
    ['name = 1 /* why */', 'comments are not supported (found /*) at 1:10: a filter is a single expression'],
    ['1--1', 'comments are not supported (found --) at 1:2: a filter is a single expression'],
    ['name == 1', "unexpected token '==' at 1:6: use = to compare"],
    ['is_root && name', "unexpected token '&&' at 1:9: use AND"],
    ['is_root || name', "unexpected token '||' at 1:9: use OR"],
    ['!is_root', "unexpected character '!' at 1:1: use NOT, or != to compare"],
    ['name = @x', "unexpected character '@' at 1:8"],
    ['name =\u00a01', 'unexpected character U+00A0 at 1:7'],
    ['name = ?', "unexpected character '?' at 1:8"],
    ['café = 1', "unexpected character 'é' (U+00E9) at 1:4"],
    ['name = 1\u200b', 'unexpected character U+200B at 1:9'],
    ['AND', 'expected an expression, found AND at 1:1'],
  ])('refuses %j', (text, message) => {
    expect(headline(text)).toBe(message);
  });
});

describe('FilterSyntaxError', () => {
  it('quotes the filter with a caret under the column', () => {
    const error = errorOf('metadata.model = 1 AND');
    expect(error).toMatchObject({ name: 'FilterSyntaxError', line: 1, column: 23, offset: 22 });
    expect(error.message).toBe(['expected an expression after AND at 1:23', '  metadata.model = 1 AND', `  ${' '.repeat(22)}^`].join('\n'));
  });

  it('shows only the offending line of a multi-line filter', () => {
    const error = errorOf("status = 'error'\r\n  AND nmae = 'x'\n  OR is_root");
    expect(error).toMatchObject({ line: 2, column: 7, offset: 24 });
    expect(error.message.split('\n').slice(1)).toEqual(["    AND nmae = 'x'", '        ^']);
  });

  it('keeps tabs under tabs so the caret lines up', () => {
    expect(errorOf('\tname ==').message.split('\n').slice(1)).toEqual(['  \tname ==', '  \t     ^']);
  });

  it('counts columns in code points', () => {
    const error = errorOf("'😀😀' = name = 1");
    expect(error.headline).toBe('comparison operators do not chain: add parentheses at 1:13');
    expect(error.offset).toBe(14);
    expect(error.message.split('\n')[2]).toBe(`  ${' '.repeat(12)}^`);
  });

  it('shows a window of a very long line', () => {
    const text = `${'name = 1 AND '.repeat(30)}nmae`;
    const lines = errorOf(text).message.split('\n');
    expect(lines[1]).toBe(`  …${text.slice(text.length - 44)}`);
    expect(lines[2]).toBe(`   ${' '.repeat(40)}^`);
  });

  it('points past a lone \\r line break correctly', () => {
    expect(errorOf('is_root\rAND\rfoo')).toMatchObject({ line: 3, column: 1, offset: 12 });
  });
});

describe('nesting limit', () => {
  const limit = 'at most 100 levels of parentheses, operators and function calls';

  it('accepts 99 nested parentheses and refuses 100', () => {
    expect(parse(`${'('.repeat(99)}is_root${')'.repeat(99)}`)).toEqual(ROOT);
    expect(headline(`${'('.repeat(100)}is_root${')'.repeat(100)}`)).toBe(`the filter nests too deeply at 1:100: ${limit}`);
  });

  it.each([
    ['NOT chains', 'NOT '.repeat(150) + 'is_root'],
    ['unary minus chains', '-'.repeat(150).split('').join(' ') + '1'],
    ['nested calls', 'lower('.repeat(150) + 'name' + ')'.repeat(150)],
    ['nested IN lists', 'name IN ('.repeat(150) + '1' + ')'.repeat(150)],
    ['long + chains', '1' + ' + 1'.repeat(150)],
  ])('refuses deep %s', (_what, text) => {
    expect(headline(text)).toMatch(/^the filter nests too deeply at 1:\d+: at most 100 levels/);
  });

  it('refuses 100 000 open parentheses without overflowing the stack', () => {
    expect(errorOf('('.repeat(100_000)).column).toBe(100);
  });

  it('does not limit flat AND/OR chains, IN lists or coalesce arguments', () => {
    const conditions = Array.from({ length: 1000 }, (_, i) => `duration_ms = ${i}`);
    expect(parseFilter(conditions.join(' OR '))).toHaveProperty('operands.length', 1000);
    expect(parseFilter(conditions.join(' AND '))).toHaveProperty('operands.length', 1000);
    expect(parseFilter(`duration_ms IN (${conditions.map((_, i) => i).join(', ')})`)).toHaveProperty('list.length', 1000);
    expect(parseFilter(`coalesce(${conditions.map(() => 'name').join(', ')})`)).toHaveProperty('args.length', 1000);
  });
});

describe('positions', () => {
  it('records where every node and operator starts', () => {
    const expr = parseFilter("is_root AND\n  metadata.model NOT IN ('a')") as Extract<FilterExpr, { kind: 'and' }>;
    expect(expr.pos).toEqual({ offset: 0, line: 1, column: 1 });
    const inExpr = expr.operands[1] as Extract<FilterExpr, { kind: 'in' }>;
    expect(inExpr.pos).toEqual({ offset: 14, line: 2, column: 3 });
    expect(inExpr.opPos).toEqual({ offset: 29, line: 2, column: 18 });
    expect((inExpr.operand as Extract<FilterExpr, { kind: 'field' }>).steps[0]!.pos).toEqual({ offset: 22, line: 2, column: 11 });
    expect(inExpr.list[0]!.pos).toEqual({ offset: 37, line: 2, column: 26 });
  });
});

describe('formatFilter', () => {
  it.each([
    ['is_root or name AND status', 'is_root OR name AND status'],
    ['(is_root or name) AND status', '(is_root OR name) AND status'],
    ['((is_root AND name)) AND status', '(is_root AND name) AND status'],
    ['not (name = 1)', 'NOT name = 1'],
    ['(NOT is_root) = FALSE', '(NOT is_root) = FALSE'],
    ['1 - (2 - 3) - -4', '1 - (2 - 3) - -4'],
    ['-(-(1))', '-(-1)'],
    ['-(1 + 2) * 3', '-(1 + 2) * 3'],
    ['name <> 1', 'name != 1'],
    ["name not ilike 'a\\%' + 'b'", "name NOT ILIKE 'a\\\\%' + 'b'"],
    ["'it''s\\n\\0\\t\\r'", "'it''s\\n\\0\\t\\r'"],
    ['1.0 + 1e21 + 1e-7 + 007 + 2.50', '1.0 + 1e+21 + 1e-7 + 7 + 2.5'],
    ["metadata.\"a\".b['c d'].`e`[0]", "metadata['a'].b['c d']['e'][0]"],
    ['attributes.gen_ai.prompt.0.content', 'attributes.gen_ai.prompt.0.content'],
    ['duration_ms not between 1 and 2 or name is not null', 'duration_ms NOT BETWEEN 1 AND 2 OR name IS NOT NULL'],
    ["LOWER(name) in ('a', lower('B'))", "lower(name) IN ('a', lower('B'))"],
  ])('%s → %s', (text, canonical) => {
    const formatted = formatFilter(parseFilter(text));
    expect(formatted).toBe(canonical);
    expect(parse(formatted)).toEqual(parse(text));
  });
});
