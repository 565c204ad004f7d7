import { describe, expect, it } from 'vitest';
import { builtinScorers } from '../../src/scoring/builtins/index.js';
import { SPAN } from './scored-span-fixture.js';


/** Runs one configured built-in on (output, expected) and returns what it returned. */
async function run(name: string, output: unknown, expected?: unknown, options: Record<string, unknown> = {}) {
  const scorer = builtinScorers[name]!(options);
  const result = await scorer({ input: undefined, output, expected, metadata: {}, span: SPAN });
  return result as { name: string; score: number; metadata?: Record<string, unknown> };
}

async function score(name: string, output: unknown, expected?: unknown, options: Record<string, unknown> = {}) {
  return (await run(name, output, expected, options)).score;
}

describe('builtinScorers', () => {
  it('offers exactly the autoevals heuristic scorers, under their autoevals names', () => {
    expect(Object.keys(builtinScorers).sort()).toEqual(['ExactMatch', 'JSONDiff', 'Levenshtein', 'ListContains', 'NumericDiff', 'ValidJSON']);
  });

  it('does not treat inherited Object members as scorers', () => {
    expect('toString' in builtinScorers).toBe(false);
    expect('constructor' in builtinScorers).toBe(false);
  });

  it.each(['ExactMatch', 'Levenshtein', 'NumericDiff', 'JSONDiff', 'ValidJSON', 'ListContains'])('%s rejects unknown options', (name) => {
    expect(() => builtinScorers[name]!({ typo: 1 })).toThrow(/unknown option\(s\) typo/);
  });

  it.each(['ExactMatch', 'Levenshtein', 'NumericDiff', 'JSONDiff', 'ValidJSON'])('%s returns its own name', async (name) => {
    expect((await run(name, '1', '1')).name).toBe(name);
  });

  it('ListContains returns its own name', async () => {
    expect((await run('ListContains', ['1'], ['1'])).name).toBe('ListContains');
  });
});

describe('ExactMatch', () => {
  it.each([
    ['identical strings', 'abc', 'abc', 1],
    ['different strings', 'abc', 'abd', 0],
    ['empty strings', '', '', 1],
    ['emoji', '👍🏽', '👍🏽', 1],
    ['number vs numeric string (both as text)', 5, '5', 1],
    ['boolean vs its text', true, 'true', 1],
    ['object vs equivalent JSON text', { a: 1, b: 2 }, '{"a": 1, "b": 2}', 1],
    ['object vs JSON text with other key order (no sorting)', { a: 1, b: 2 }, '{"b":2,"a":1}', 0],
    ['array vs JSON text', [1, 'x'], '[1, "x"]', 1],
    ['JSON numbers are normalised when an object is involved', { a: 1.0 }, '{"a":1.0}', 1],
    ['nested objects', { a: { b: [1, { c: null }] } }, { a: { b: [1, { c: null }] } }, 1],
    ['null vs the text null', null, 'null', 1],
    ['missing output normalises to null', undefined, 'null', 1],
    ['both missing', undefined, undefined, 1],
    ['missing expected scores 0 without throwing', 'x', undefined, 0],
    ['text is not JSON-normalised when no object is involved', ' 1', '1', 0],
  ])('%s', async (_label, output, expected, expectedScore) => {
    expect(await score('ExactMatch', output, expected)).toBe(expectedScore);
  });
});

describe('Levenshtein', () => {
  it.each([
    ['classic kitten/sitting', 'kitten', 'sitting', 1 - 3 / 7],
    ['identical', 'same', 'same', 1],
    ['two empty strings', '', '', 1],
    ['empty vs non-empty', '', 'abc', 0],
    ['emoji count as two UTF-16 units (one differs)', '😀', '😃', 0.5],
    ['appended emoji', 'a😀', 'a', 1 - 2 / 3],
    ['combining accent vs precomposed', 'e\u0301', '\u00e9', 0],
    ['numbers are compared as text', 123, '124', 1 - 1 / 3],
    ['null expected is the text null', 'null', null, 1],
    ['undefined output is the text undefined', undefined, 'undefined', 1],
    ['objects become [object Object]', { a: 1 }, { b: 2 }, 1],
    ['arrays become their comma join', ['a', 'b'], 'a,b', 1],
    ['long strings (other algorithm path in fastest-levenshtein)', 'a'.repeat(40), `${'a'.repeat(39)}b`, 1 - 1 / 40],
  ])('%s', async (_label, output, expected, expectedScore) => {
    expect(await score('Levenshtein', output, expected)).toBeCloseTo(expectedScore, 12);
  });

  it('throws when expected is missing', async () => {
    await expect(score('Levenshtein', 'x', undefined)).rejects.toThrow('Levenshtein requires an expected value');
  });
});

describe('NumericDiff', () => {
  it.each([
    ['close numbers', 3, 4, 1 - 1 / 7],
    ['equal numbers', 10, 10, 1],
    ['both zero', 0, 0, 1],
    ['zero vs non-zero', 0, 5, 0],
    ['opposite signs', 1, -1, 0],
    ['numeric strings are coerced', '5', '4', 1 - 1 / 9],
    ['null expected counts as 0', 5, null, 0],
  ])('%s', async (_label, output, expected, expectedScore) => {
    expect(await score('NumericDiff', output, expected)).toBeCloseTo(expectedScore, 12);
  });

  it.each([
    ['"0" vs "0" (the 0/0 guard is for the number 0 only)', '0', '0'],
    ['non-numeric text', 'abc', 5],
    ['missing output', undefined, 5],
  ])('gives NaN like autoevals for %s', async (_label, output, expected) => {
    expect(await score('NumericDiff', output, expected)).toBeNaN();
  });

  it('throws when expected is missing', async () => {
    await expect(score('NumericDiff', 1, undefined)).rejects.toThrow('NumericDiff requires an expected value');
  });
});

describe('JSONDiff', () => {
  it.each([
    ['object vs JSON text, per-key mean', { a: 1, b: 'x' }, '{"a":2,"b":"y"}', (2 / 3 + 0) / 2],
    ['two empty objects', {}, {}, 1],
    ['two empty arrays', [], [], 1],
    ['empty object vs empty array compare as JSON text', '{}', '[]', 0],
    ['key order does not matter', { a: 1, b: 2 }, { b: 2, a: 1 }, 1],
    ['a key missing on one side scores 0', { a: 1 }, { a: 1, b: 2 }, 0.5],
    ['null vs missing key scores 1', { a: null }, {}, 1],
    ['arrays: extra elements count as 0', [1, 2, 3], [1, 2], 2 / 3],
    ['nested equal structures', { a: { b: [1, 'x', { c: true }] } }, '{"a":{"b":[1,"x",{"c":true}]}}', 1],
    ['nested string leaf uses Levenshtein', { a: { b: 'kitten' } }, { a: { b: 'sitting' } }, 1 - 3 / 7],
    ['numeric text stays text (compared as JSON text against a number)', '5', 5, 1 / 3],
    ['booleans compare as JSON text', true, false, 1 - 4 / 5],
    ['both missing', undefined, undefined, 1],
    ['missing expected scores 0 without throwing', 'x', undefined, 0],
    ['null output vs present expected', null, 'x', 0],
    ['unicode leaves', { t: '日本語' }, { t: '日本' }, 1 - 1 / 3],
  ])('%s', async (_label, output, expected, expectedScore) => {
    expect(await score('JSONDiff', output, expected)).toBeCloseTo(expectedScore, 12);
  });

  it('with preserveStrings, JSON text is not parsed', async () => {
    expect(await score('JSONDiff', '{"a":1}', { a: 1 })).toBe(1);
    expect(await score('JSONDiff', '{"a":1}', { a: 1 }, { preserveStrings: true })).toBeLessThan(1);
  });

  it('takes the leaf scorers by built-in name', async () => {
    expect(await score('JSONDiff', { a: 'abc' }, { a: 'abd' })).toBeCloseTo(2 / 3, 12);
    expect(await score('JSONDiff', { a: 'abc' }, { a: 'abd' }, { stringScorer: 'ExactMatch' })).toBe(0);
    expect(await score('JSONDiff', { a: 3 }, { a: 4 }, { numberScorer: 'ExactMatch' })).toBe(0);
  });

  it('rejects bad options when built', () => {
    expect(() => builtinScorers.JSONDiff!({ stringScorer: 'Nope' })).toThrow(/stringScorer must be one of/);
    expect(() => builtinScorers.JSONDiff!({ numberScorer: 42 })).toThrow(/numberScorer must be one of/);
    expect(() => builtinScorers.JSONDiff!({ preserveStrings: 'yes' })).toThrow(/preserveStrings must be a boolean/);
  });
});

describe('ValidJSON', () => {
  it.each([
    ['JSON object text', '{"a":1}', 1],
    ['JSON array text', ' [1, 2] ', 1],
    ['JSON number text', '5', 0],
    ['JSON string text', '"s"', 0],
    ['JSON null text', 'null', 0],
    ['broken JSON', '{"a":', 0],
    ['plain text', 'hello 👋', 0],
    ['empty string', '', 0],
    ['an object value', { a: 1 }, 1],
    ['an array value', [], 1],
    ['a number value', 5, 0],
    ['undefined', undefined, 0],
    ['null', null, 0],
  ])('without schema: %s', async (_label, output, expectedScore) => {
    expect(await score('ValidJSON', output)).toBe(expectedScore);
  });

  it('validates against a schema, parsing strings first', async () => {
    const schema = { type: 'object', properties: { a: { type: 'number' } }, required: ['a'] };
    expect(await score('ValidJSON', '{"a":1}', undefined, { schema })).toBe(1);
    expect(await score('ValidJSON', '{"a":"1"}', undefined, { schema })).toBe(0);
    expect(await score('ValidJSON', '{"b":1}', undefined, { schema })).toBe(0);
    expect(await score('ValidJSON', 'not json', undefined, { schema })).toBe(0);
  });

  it('with a schema, scalars can be valid too', async () => {
    expect(await score('ValidJSON', '5', undefined, { schema: { type: 'number' } })).toBe(1);
    expect(await score('ValidJSON', '"text"', undefined, { schema: {} })).toBe(1);
  });

  it('reports the schema in metadata, and omits metadata without one', async () => {
    const schema = { type: 'array' };
    expect((await run('ValidJSON', '[]', undefined, { schema })).metadata).toEqual({ schema });
    expect((await run('ValidJSON', '[]')).metadata).toBeUndefined();
  });

  it('treats a falsy schema as no schema', async () => {
    expect(await score('ValidJSON', '5', undefined, { schema: null })).toBe(0);
    expect(await score('ValidJSON', '[5]', undefined, { schema: false })).toBe(1);
  });

  it('fails when built with a schema Ajv cannot compile', () => {
    expect(() => builtinScorers.ValidJSON!({ schema: { type: 'nope' } })).toThrow(/ValidJSON: option schema/);
    expect(() => builtinScorers.ValidJSON!({ schema: { type: 'string', format: 'email' } })).toThrow(/unknown format/);
    expect(() => builtinScorers.ValidJSON!({ schema: 'string' })).toThrow(/must be a JSON schema object or boolean/);
  });
});

describe('ListContains', () => {
  it.each([
    ['identical lists', ['a', 'b'], ['a', 'b'], 1],
    ['order does not matter', ['b', 'a'], ['a', 'b'], 1],
    ['two empty lists', [], [], 1],
    ['empty output', [], ['a'], 0],
    ['empty expected', ['a'], [], 0],
    ['one item each: that similarity', ['kitten'], ['sitting'], 1 - 3 / 7],
    ['best pairing, not positional', ['kitten', 'dog'], ['dog', 'sitting'], (1 + (1 - 3 / 7)) / 2],
    ['a missing item counts as 0', ['a'], ['a', 'b'], 1 / 2],
    ['an extra output item counts against the score', ['a', 'b', 'c'], ['a', 'b'], 2 / 3],
    ['non-string items are compared as text', [5, null], ['null', '5'], 1],
    ['one-to-one: a single output item cannot match two expected ones', ['ab'], ['ab', 'ab'], 1 / 2],
    // The emptiness test is autoevals' loose `x.length == 0`, before any list check.
    ['empty string vs empty list', '', [], 1],
    ['non-empty string vs empty list', 'abc', [], 0],
    ['number (no length) vs empty list', 5, [], 0],
    ['empty list vs non-empty string', [], 'abc', 0],
  ])('%s', async (_label, output, expected, expectedScore) => {
    expect(await score('ListContains', output, expected)).toBeCloseTo(expectedScore, 12);
  });

  it('with allow_extra_entities, extra output items cost nothing but missing ones still do', async () => {
    const options = { allow_extra_entities: true };
    expect(await score('ListContains', ['a', 'b', 'c'], ['a', 'b'], options)).toBe(1);
    expect(await score('ListContains', ['a', 'zzz'], ['a'], options)).toBe(1);
    expect(await score('ListContains', ['a'], ['a', 'b'], options)).toBe(1 / 2);
    expect(await score('ListContains', ['a', 'b', 'c'], ['a', 'b'], { allow_extra_entities: false })).toBeCloseTo(2 / 3, 12);
  });

  it('reports the matched pairs in metadata when it computed an assignment', async () => {
    const result = await run('ListContains', ['kitten', 'dog', 'extra'], ['dog', 'sitting']);
    expect(result.metadata).toEqual({
      pairs: [
        { output: 'kitten', expected: 'sitting', score: 1 - 3 / 7 },
        { output: 'dog', expected: 'dog', score: 1 },
      ],
    });
    // Like autoevals, the shortcuts (an empty side, one item each) carry no metadata.
    expect((await run('ListContains', ['a'], ['b'])).metadata).toBeUndefined();
    expect((await run('ListContains', [], [])).metadata).toBeUndefined();
  });

  it.each([
    ['expected is missing', ['a'], undefined, 'ListContains requires an expected value'],
    ['output is null', null, ['a'], 'ListContains: output must be a list, got null'],
    ['expected is null', ['a'], null, 'ListContains: expected must be a list, got null'],
    ['output is a non-empty string', 'a,b', ['a'], 'ListContains: output must be a list (or empty), got a string'],
    ['expected is a non-empty string', ['a'], 'a', 'ListContains: expected must be a list (or empty), got a string'],
    ['output is a number and expected not empty', 5, ['a'], 'ListContains: output must be a list (or empty), got a number'],
    ['output is an object', { a: 1 }, ['a'], 'ListContains: output must be a list (or empty), got an object'],
  ])('throws, as autoevals does, when %s', async (_label, output, expected, message) => {
    await expect(score('ListContains', output, expected)).rejects.toThrow(message);
  });

  it('rejects bad options when built', () => {
    expect(() => builtinScorers.ListContains!({ allowExtraEntities: true })).toThrow(/unknown option\(s\) allowExtraEntities/);
    expect(() => builtinScorers.ListContains!({ allow_extra_entities: 'yes' })).toThrow(/allow_extra_entities must be a boolean/);
    expect(() => builtinScorers.ListContains!({ allow_extra_entities: null })).toThrow(/allow_extra_entities must be a boolean/);
  });
});
