/**
 * Differential test: our built-ins against the real autoevals 0.3.0 (pinned devDependency) on
 * seeded generated corpora. The heuristic scorers of autoevals are pure functions — no API
 * calls — so they run here offline. Any difference in score (beyond 1e-9; NaN only equals
 * NaN) or in throw/no-throw fails the test and lists the first offending cases.
 */
import * as autoevals from 'autoevals';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { builtinScorers } from '../../src/scoring/builtins/index.js';
import { SPAN } from './scored-span-fixture.js';

const SEED = 20240607;
const CASES_PER_SCORER = 400;
const TOLERANCE = 1e-9;


/** What one implementation did with one case. */
type Outcome = { threw: true } | { threw: false; score: number | null };

interface DifferentialCase {
  output: unknown;
  expected: unknown;
  /** Our config options; `theirs` are the same options in autoevals' argument form. */
  options: Record<string, unknown>;
  theirs: Record<string, unknown>;
}

interface Comparison {
  total: number;
  mismatches: { case: DifferentialCase; ours: Outcome; theirs: Outcome }[];
  threw: number;
  fractional: number;
  /** Cases where both gave the very same double (or both NaN/null/threw). */
  bitIdentical: number;
}

async function outcomeOf(call: () => unknown): Promise<Outcome> {
  try {
    const result = (await call()) as { score: number | null };
    return { threw: false, score: result.score };
  } catch {
    return { threw: true };
  }
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.threw || b.threw) return a.threw === b.threw;
  if (a.score === null || b.score === null) return a.score === b.score;
  if (Number.isNaN(a.score) || Number.isNaN(b.score)) return Number.isNaN(a.score) && Number.isNaN(b.score);
  return Math.abs(a.score - b.score) <= TOLERANCE;
}

type AutoevalsScorer = (args: Record<string, unknown>) => unknown;

async function compare(name: string, theirScorer: AutoevalsScorer, cases: DifferentialCase[]): Promise<Comparison> {
  const comparison: Comparison = { total: cases.length, mismatches: [], threw: 0, fractional: 0, bitIdentical: 0 };
  for (const testCase of cases) {
    const { output, expected } = testCase;
    const ours = await outcomeOf(() =>
      builtinScorers[name]!(testCase.options)({ input: undefined, output, expected, metadata: {}, span: SPAN }),
    );
    const theirs = await outcomeOf(() => theirScorer({ output, expected, ...testCase.theirs }));
    if (!sameOutcome(ours, theirs)) comparison.mismatches.push({ case: testCase, ours, theirs });
    if (JSON.stringify(ours) === JSON.stringify(theirs) && (ours.threw || theirs.threw || Object.is(ours.score, theirs.score))) {
      comparison.bitIdentical++;
    }
    if (theirs.threw) comparison.threw++;
    else if (theirs.score !== null && theirs.score > 0 && theirs.score < 1) comparison.fractional++;
  }
  return comparison;
}

function describeMismatches(comparison: Comparison): string {
  return comparison.mismatches
    .slice(0, 5)
    .map((m) => `${safeText(m.case.output)} vs ${safeText(m.case.expected)}: ours ${JSON.stringify(m.ours)} autoevals ${JSON.stringify(m.theirs)}`)
    .join('\n');
}

function safeText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

// ---- generators -------------------------------------------------------------------------

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }), // emoji, combining marks, CJK
  fc.string({ unit: 'binary', maxLength: 40 }), // lone surrogates, longer than 32 units
  fc.string({ unit: 'grapheme-ascii', maxLength: 6 }),
);
const numericText = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc.double({ noNaN: false }).map(String),
  fc.constantFrom('0', '-0', ' 1.0 ', '1e3', '0x10', '', 'abc'),
);
const number = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double(),
  fc.constantFrom(0, -0, 1, -1, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN),
);
const special = fc.constantFrom(null, undefined, true, false, '', 'null', 'undefined', '[]', '{}', '[object Object]');
const leaf = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 6 }), fc.integer({ min: -20, max: 20 }), fc.boolean(), fc.constant(null));

/** JSON-ish trees over a small key pool, so two independent draws share keys and partly match. */
const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('tree'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c', '0', '10', '2', 'name', '__proto__', 'constructor'), tie('tree'), {
      maxKeys: 4,
    }),
  ),
}));
const exotic = fc.anything({
  maxDepth: 2,
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withSparseArray: true,
  withDate: true,
});

const value = fc.oneof(text, numericText, number, special, tree, fc.jsonValue({ maxDepth: 2 }), fc.json({ maxDepth: 2 }), exotic);
const asJsonText = (v: unknown): unknown => {
  try {
    return JSON.stringify(v) ?? v;
  } catch {
    return v;
  }
};

/** Independent pairs, identical pairs, a side turned into JSON text, and small string edits. */
const pair = fc.oneof(
  fc.tuple(value, value),
  value.map((v) => [v, v] as [unknown, unknown]),
  fc.tuple(tree, fc.boolean()).map(([v, flip]) => (flip ? [asJsonText(v), v] : [v, asJsonText(v)]) as [unknown, unknown]),
  fc.tuple(tree, tree),
  fc.tuple(text, fc.nat(12), text).map(([s, at, insert]) => [s, s.slice(0, at) + insert + s.slice(at + 1)] as [unknown, unknown]),
  fc.tuple(value, special).map(([a, b]) => [a, b] as [unknown, unknown]),
);

function sampleCases(arbitrary: fc.Arbitrary<DifferentialCase>): DifferentialCase[] {
  return fc.sample(arbitrary, { seed: SEED, numRuns: CASES_PER_SCORER });
}

const plainCases = (pairs: fc.Arbitrary<[unknown, unknown]>) =>
  sampleCases(pairs.map(([output, expected]) => ({ output, expected, options: {}, theirs: {} })));

const LEAF_SCORERS: Record<string, AutoevalsScorer> = {
  Levenshtein: autoevals.Levenshtein as unknown as AutoevalsScorer,
  ExactMatch: autoevals.ExactMatch as unknown as AutoevalsScorer,
  NumericDiff: autoevals.NumericDiff as unknown as AutoevalsScorer,
};

const jsonDiffCases = sampleCases(
  fc
    .tuple(
      pair,
      fc.option(fc.constantFrom('Levenshtein', 'ExactMatch'), { nil: undefined, freq: 3 }),
      fc.option(fc.constantFrom('NumericDiff', 'ExactMatch', 'Levenshtein'), { nil: undefined, freq: 3 }),
      fc.option(fc.boolean(), { nil: undefined, freq: 3 }),
    )
    .map(([[output, expected], stringScorer, numberScorer, preserveStrings]) => {
      const options: Record<string, unknown> = {};
      const theirs: Record<string, unknown> = {};
      if (stringScorer) [options.stringScorer, theirs.stringScorer] = [stringScorer, LEAF_SCORERS[stringScorer]];
      if (numberScorer) [options.numberScorer, theirs.numberScorer] = [numberScorer, LEAF_SCORERS[numberScorer]];
      if (preserveStrings !== undefined) options.preserveStrings = theirs.preserveStrings = preserveStrings;
      return { output, expected, options, theirs };
    }),
);

const SCHEMAS = [
  undefined,
  {},
  { type: 'object' },
  { type: 'number' },
  { type: 'array', items: { type: 'integer' } },
  { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
];
const brokenJson = fc.json({ maxDepth: 2 }).chain((s) => fc.nat(Math.max(0, s.length - 1)).map((cut) => s.slice(0, cut)));
/** Values near the schemas' boundaries, as objects or as JSON text. */
const schemaShaped = fc
  .tuple(
    fc.oneof(
      fc.record({ a: fc.oneof(fc.string({ maxLength: 3 }), fc.integer()) }, { requiredKeys: [] }),
      fc.array(fc.oneof(fc.integer(), fc.double()), { maxLength: 3 }),
    ),
    fc.boolean(),
  )
  .map(([v, asText]) => (asText ? JSON.stringify(v) : v));
const validJsonCases = sampleCases(
  fc
    .tuple(fc.oneof(fc.json({ maxDepth: 2 }), brokenJson, value, schemaShaped), fc.constantFrom(...SCHEMAS.keys()))
    .map(([output, schemaIndex]) => {
      const schema = SCHEMAS[schemaIndex];
      const options = schema === undefined ? {} : { schema };
      return { output, expected: undefined, options, theirs: { ...options } };
    }),
);

const numericPair = fc.oneof(
  { arbitrary: fc.tuple(fc.integer({ min: -50, max: 50 }), fc.integer({ min: -50, max: 50 })), weight: 3 },
  fc.tuple(number, number),
  fc.tuple(numericText, numericText),
  fc.tuple(fc.oneof(number, numericText), fc.oneof(number, numericText, special)),
  number.map((n) => [n, n] as [unknown, unknown]),
  fc.tuple(value, value),
);

/**
 * ListContains: lists of short words from a small vocabulary with near-spellings, so pairs
 * partly match and the assignment has real choices to make; some non-string items; and a few
 * sides that are not lists at all, where autoevals either throws or answers from `.length`.
 */
const listItem = fc.oneof(
  { arbitrary: fc.constantFrom('cat', 'cats', 'bat', 'dog', 'dig', 'paris', 'Paris', 'london', 'a', 'ab', ''), weight: 8 },
  { arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 5 }), weight: 1 },
  { arbitrary: fc.constantFrom(5, 55, 0, null), weight: 1 },
);
const list = fc.array(listItem, { maxLength: 5 });
/** Output drawn from expected: some of its items, reordered, with extras mixed in. */
const relatedLists = fc
  .tuple(fc.array(listItem, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(4), { maxLength: 5 }), list)
  .map(([expected, picks, extras]) => {
    const picked = picks.map((at) => expected[at % expected.length]);
    return [[...extras.slice(0, 2), ...picked], expected] as [unknown, unknown];
  });
const notAList = fc.constantFrom<unknown>('', 'cat', 'cat,dog', 5, 0, true, null, {}, { a: 1 });
const listPair = fc.oneof(
  { arbitrary: fc.tuple(list, list), weight: 4 },
  { arbitrary: relatedLists, weight: 4 },
  // The same item lists on both sides, so perfect scores (and ties) come up.
  { arbitrary: list.map((l) => [l, [...l].reverse()] as [unknown, unknown]), weight: 1 },
  { arbitrary: fc.tuple(notAList, fc.oneof(list, notAList)), weight: 1 },
  { arbitrary: fc.tuple(list, fc.oneof(notAList, fc.constant(undefined))), weight: 1 },
  // An undefined item: as Levenshtein's expected it throws, as its output it is the text.
  { arbitrary: fc.tuple(list, list).map(([o, e]) => [[...o, undefined], e] as [unknown, unknown]), weight: 1 },
  { arbitrary: fc.tuple(list, list).map(([o, e]) => [o, [...e, undefined]] as [unknown, unknown]), weight: 1 },
);
const listContainsCases = sampleCases(
  fc.tuple(listPair, fc.option(fc.boolean(), { nil: undefined, freq: 4 })).map(([[output, expected], allowExtra]) => ({
    output,
    expected,
    options: allowExtra === undefined ? {} : { allow_extra_entities: allowExtra },
    theirs: allowExtra === undefined ? {} : { allowExtraEntities: allowExtra },
  })),
);

// ---- the tests --------------------------------------------------------------------------

const SUITES: { name: string; theirs: AutoevalsScorer; cases: DifferentialCase[]; expectThrows: boolean }[] = [
  { name: 'ExactMatch', theirs: autoevals.ExactMatch as unknown as AutoevalsScorer, cases: plainCases(pair), expectThrows: false },
  { name: 'Levenshtein', theirs: autoevals.Levenshtein as unknown as AutoevalsScorer, cases: plainCases(pair), expectThrows: true },
  { name: 'NumericDiff', theirs: autoevals.NumericDiff as unknown as AutoevalsScorer, cases: plainCases(numericPair), expectThrows: true },
  { name: 'JSONDiff', theirs: autoevals.JSONDiff as unknown as AutoevalsScorer, cases: jsonDiffCases, expectThrows: false },
  { name: 'ValidJSON', theirs: autoevals.ValidJSON as unknown as AutoevalsScorer, cases: validJsonCases, expectThrows: false },
  { name: 'ListContains', theirs: autoevals.ListContains as unknown as AutoevalsScorer, cases: listContainsCases, expectThrows: true },
];

describe('built-ins agree with autoevals 0.3.0', () => {
  it.each(SUITES)('$name: same score and same throw/no-throw on every generated case', async (suite) => {
    const comparison = await compare(suite.name, suite.theirs, suite.cases);
    console.info(
      `${suite.name}: ${comparison.total} cases, ${comparison.mismatches.length} mismatches, ` +
        `${comparison.bitIdentical} bit-identical, ${comparison.threw} throws, ${comparison.fractional} fractional scores`,
    );
    expect(comparison.total).toBeGreaterThanOrEqual(200);
    expect(comparison.mismatches, describeMismatches(comparison)).toHaveLength(0);
    // The corpus must exercise the interesting paths, or agreement means little.
    if (suite.expectThrows) expect(comparison.threw).toBeGreaterThan(0);
    if (suite.name !== 'ValidJSON' && suite.name !== 'ExactMatch') expect(comparison.fractional).toBeGreaterThan(20);
  });

  it('ValidJSON corpus has both valid and invalid outputs for every schema', async () => {
    const scoresBySchema = new Map<unknown, Set<unknown>>();
    for (const testCase of validJsonCases) {
      const result = (await autoevals.ValidJSON({ output: testCase.output, ...testCase.theirs })) as { score: number };
      const seen = scoresBySchema.get(testCase.options.schema) ?? new Set();
      seen.add(result.score);
      scoresBySchema.set(testCase.options.schema, seen);
    }
    for (const schema of SCHEMAS) expect([...(scoresBySchema.get(schema) ?? [])].sort()).toEqual([0, 1]);
  });

  it('ExactMatch corpus has both matches and non-matches', async () => {
    const scores = new Set<unknown>();
    for (const testCase of plainCases(pair)) {
      scores.add(((await autoevals.ExactMatch({ output: testCase.output, expected: testCase.expected })) as { score: number }).score);
    }
    expect([...scores].sort()).toEqual([0, 1]);
  });

  it('ListContains corpus reaches 0, 1, fractions and the assignment, with both option values', async () => {
    const scores: number[] = [];
    let assignments = 0;
    for (const testCase of listContainsCases) {
      try {
        const result = (await autoevals.ListContains({
          output: testCase.output as string[],
          expected: testCase.expected as string[],
          ...testCase.theirs,
        })) as { score: number; metadata?: unknown };
        scores.push(result.score);
        if (result.metadata !== undefined) assignments++;
      } catch {
        // Throwing cases are counted by the comparison above.
      }
    }
    expect(listContainsCases.length).toBeGreaterThanOrEqual(300);
    expect(scores).toContain(0);
    expect(scores).toContain(1);
    expect(scores.filter((s) => s > 0 && s < 1).length).toBeGreaterThan(50);
    expect(assignments).toBeGreaterThan(100);
    const optionValues = new Set(listContainsCases.map((testCase) => testCase.theirs.allowExtraEntities));
    expect([...optionValues].sort()).toEqual([false, true, undefined]);
  });
});
