import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import type { WorkerScorerSpec as ScorerSpec } from '../../src/scoring/rule-spec.js';
import type { ScoreOutcome, ScorerArgs } from '../../src/scoring/scorer-args.js';
import { ScorerPool, type ScorerTask } from '../../src/scoring/scorer-pool.js';

// The pool runs the compiled worker (dist/scoring/scorer-worker.js): `npm test` builds first.

const dir = mkdtempSync(join(tmpdir(), 'spanscore-scorer-pool-'));
const moduleFile = (name: string, source: string): string => {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
};

const throwsFile = moduleFile('throws.mjs', `export default function throws(args) {\n  throw new TypeError('boom on ' + args.span.name);\n}\n`);
const throwsValueFile = moduleFile('throws-value.mjs', `export default () => { throw 'just a string'; };\n`);
const loopsFile = moduleFile('loops.mjs', `export default function loops() {\n  while (true) {}\n}\n`);
const loopsLaterFile = moduleFile('loops-later.mjs', `export default async function loopsLater() {\n  await null;\n  while (true) {}\n}\n`);
const garbageFile = moduleFile(
  'garbage.mjs',
  [
    `export const yes = () => 'yes';`,
    `export const nan = () => NaN;`,
    `export const two = () => 2;`,
    `export const empty = () => ({});`,
    `export const nothing = () => undefined;`,
    `export const badElement = () => [{ name: 'a', score: 0.5 }, { score: 1 }];`,
    `export const notAFunction = 42;`,
  ].join('\n'),
);
const multiFile = moduleFile(
  'multi.mjs',
  `export default ({ output }) => [\n  { name: 'relevance', score: 0.75, metadata: { output } },\n  { name: 'tone', score: 1 },\n];\n`,
);
const asyncFile = moduleFile(
  'async.mjs',
  [
    `export default async ({ output, expected }) => {`,
    `  await new Promise((resolve) => setTimeout(resolve, 20));`,
    `  return { name: 'ignored', score: output === expected ? 1 : 0.25, metadata: { compared: true } };`,
    `};`,
    `export const never = () => new Promise(() => {});`,
    `export const rejects = async () => { throw new RangeError('async nope'); };`,
  ].join('\n'),
);
const exitsFile = moduleFile('exits.mjs', `export default () => process.exit(3);\n`);
const booleansFile = moduleFile(
  'booleans.mjs',
  [
    `export const alone = ({ output }) => output === 'yes';`,
    `export const inObject = () => ({ score: false, metadata: { why: 'no' } });`,
    `export const inList = () => [{ name: 'pass', score: true }, { name: 'fail', score: false }];`,
  ].join('\n'),
);

const builtin = (name: string, builtinName: string, options: Record<string, unknown> = {}): ScorerSpec => ({
  name,
  timeoutMs: 0,
  kind: 'builtin',
  builtin: builtinName,
  options,
});
const fromModule = (name: string, module: string, exportName = 'default', timeoutMs = 0): ScorerSpec => ({
  name,
  timeoutMs,
  kind: 'module',
  module,
  exportName,
});

const scorers: ScorerSpec[] = [
  builtin('exact', 'ExactMatch'),
  { ...builtin('exact-fast', 'ExactMatch'), timeoutMs: 300 },
  builtin('levenshtein', 'Levenshtein'),
  builtin('typo', 'ExactMatch', { caseSensitive: true }),
  builtin('unknown-builtin', 'NoSuchScorer'),
  fromModule('throws', throwsFile),
  fromModule('throws-value', throwsValueFile),
  fromModule('loops', loopsFile, 'default', 300),
  fromModule('loops-later', loopsLaterFile, 'default', 300),
  fromModule('garbage-yes', garbageFile, 'yes'),
  fromModule('garbage-nan', garbageFile, 'nan'),
  fromModule('garbage-two', garbageFile, 'two'),
  fromModule('garbage-empty', garbageFile, 'empty'),
  fromModule('garbage-nothing', garbageFile, 'nothing'),
  fromModule('garbage-element', garbageFile, 'badElement'),
  fromModule('not-a-function', garbageFile, 'notAFunction'),
  fromModule('missing-module', join(dir, 'does-not-exist.mjs')),
  fromModule('multi', multiFile),
  fromModule('async', asyncFile),
  fromModule('never', asyncFile, 'never', 200),
  fromModule('rejects', asyncFile, 'rejects'),
  fromModule('exits', exitsFile),
  fromModule('bool-alone', booleansFile, 'alone'),
  fromModule('bool-object', booleansFile, 'inObject'),
  fromModule('bool-list', booleansFile, 'inList'),
];

const args = (output: unknown, expected?: unknown): ScorerArgs => ({
  input: 'question',
  output,
  expected,
  metadata: {},
  span: {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    parentSpanId: '',
    name: 'chat',
    kind: 'Client',
    serviceName: 'app',
    scopeName: 'test',
    attributes: {},
    resource: {},
    timestamp: '1700000000000000000',
    durationMs: 12,
    status: 'ok',
    statusMessage: '',
  },
});

let pool: ScorerPool;
let nextId = 0;

/** Runs the calls as one batch and returns each call's outcomes, in order. */
async function runAsBatch(calls: Array<[scorer: string, args: ScorerArgs]>): Promise<ScoreOutcome[][]> {
  const tasks: ScorerTask[] = calls.map(([scorer, taskArgs]) => ({ id: nextId++, scorer, args: taskArgs }));
  const results = await pool.runBatch(tasks);
  expect(results.size).toBe(tasks.length);
  return tasks.map((task) => results.get(task.id)!);
}

async function runOne(scorer: string, taskArgs: ScorerArgs): Promise<ScoreOutcome> {
  const [outcomes] = await runAsBatch([[scorer, taskArgs]]);
  expect(outcomes).toHaveLength(1);
  return outcomes![0]!;
}

beforeAll(() => {
  pool = new ScorerPool({ workers: 2, taskTimeoutMs: 5_000, dispatchGraceMs: 500, scorers, logger: silentLogger() });
});

afterAll(async () => {
  await pool.close();
});

describe('ScorerPool with the compiled worker', () => {
  it('runs built-ins and reports their scores under the configured name', async () => {
    const [match, miss, distance] = await runAsBatch([
      ['exact', args('Paris', 'Paris')],
      ['exact', args('Paris', 'Lyon')],
      ['levenshtein', args('kitten', 'sitting')],
    ]);
    expect(match).toEqual([expect.objectContaining({ scorer: 'exact', score: 1, error: '' })]);
    expect(miss).toEqual([expect.objectContaining({ scorer: 'exact', score: 0, error: '' })]);
    expect(distance![0]!.score).toBeCloseTo(1 - 3 / 7, 10);
  });

  it('times each call and stamps its start in ns since epoch', async () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const outcome = await runOne('async', args('a', 'a'));
    const after = BigInt(Date.now()) * 1_000_000n;
    expect(BigInt(outcome.startedAt)).toBeGreaterThanOrEqual(before - 1_000_000n);
    expect(BigInt(outcome.startedAt)).toBeLessThanOrEqual(after);
    // The module sleeps 20 ms.
    expect(outcome.durationNs).toBeGreaterThanOrEqual(15e6);
    expect(outcome.durationNs).toBeLessThan(5e9);
  });

  it('a built-in that throws on a missing `expected` yields an error outcome', async () => {
    const outcome = await runOne('levenshtein', args('kitten'));
    expect(outcome.score).toBeNull();
    expect(outcome.error).toMatch(/^scorer "levenshtein" threw /);
  });

  it('a throwing module: the error names the message and the file:line that threw', async () => {
    const outcome = await runOne('throws', args('x'));
    expect(outcome).toMatchObject({ scorer: 'throws', score: null, metadata: {} });
    expect(outcome.error).toContain('scorer "throws" threw TypeError: boom on chat');
    expect(outcome.error).toContain(`${throwsFile}:2:`);
  });

  it('a thrown non-Error is reported too', async () => {
    const outcome = await runOne('throws-value', args('x'));
    expect(outcome.score).toBeNull();
    expect(outcome.error).toBe('scorer "throws-value" threw "just a string"');
  });

  it('garbage return values are "not a score", each named in the error', async () => {
    const outcomes = await runAsBatch([
      ['garbage-yes', args('x')],
      ['garbage-nan', args('x')],
      ['garbage-two', args('x')],
      ['garbage-empty', args('x')],
      ['garbage-nothing', args('x')],
      ['garbage-element', args('x')],
    ]);
    const errors = outcomes.map((taskOutcomes) => {
      expect(taskOutcomes).toHaveLength(1);
      expect(taskOutcomes[0]!.score).toBeNull();
      return taskOutcomes[0]!.error;
    });
    const suffix = ', not a score (a number in 0..1, a boolean, null, {score}, or [{name, score}])';
    expect(errors).toEqual([
      `scorer "garbage-yes" returned "yes"${suffix}`,
      `scorer "garbage-nan" returned NaN${suffix}`,
      `scorer "garbage-two" returned 2${suffix}`,
      `scorer "garbage-empty" returned {}${suffix}`,
      `scorer "garbage-nothing" returned undefined${suffix}`,
      expect.stringMatching(/^scorer "garbage-element" returned \[.*\], not a score/),
    ]);
  });

  it('booleans count as 1 and 0, alone, as {score} and in a list', async () => {
    const [yes, no, object, list] = await runAsBatch([
      ['bool-alone', args('yes')],
      ['bool-alone', args('no')],
      ['bool-object', args('x')],
      ['bool-list', args('x')],
    ]);
    expect(yes).toEqual([expect.objectContaining({ scorer: 'bool-alone', score: 1, error: '' })]);
    expect(no).toEqual([expect.objectContaining({ scorer: 'bool-alone', score: 0, error: '' })]);
    expect(object).toEqual([expect.objectContaining({ scorer: 'bool-object', score: 0, error: '', metadata: { why: 'no' } })]);
    expect(list).toEqual([
      expect.objectContaining({ scorer: 'bool-list.pass', score: 1, error: '' }),
      expect.objectContaining({ scorer: 'bool-list.fail', score: 0, error: '' }),
    ]);
  });

  it('an array of named scores yields one outcome each, named <scorer>.<name>', async () => {
    const [outcomes] = await runAsBatch([['multi', args('an answer')]]);
    expect(outcomes).toEqual([
      expect.objectContaining({ scorer: 'multi.relevance', score: 0.75, error: '', metadata: { output: 'an answer' } }),
      expect.objectContaining({ scorer: 'multi.tone', score: 1, error: '', metadata: {} }),
    ]);
  });

  it('an async module is awaited; a single score keeps the configured name', async () => {
    const [same, different] = await runAsBatch([
      ['async', args('a', 'a')],
      ['async', args('a', 'b')],
    ]);
    expect(same).toEqual([expect.objectContaining({ scorer: 'async', score: 1, error: '', metadata: { compared: true } })]);
    expect(different![0]!.score).toBe(0.25);
  });

  it('an async rejection and a promise that never settles become errors without losing the batch', async () => {
    const started = Date.now();
    const [rejects, never, exact] = await runAsBatch([
      ['rejects', args('x')],
      ['never', args('x')],
      ['exact', args('y', 'y')],
    ]);
    expect(rejects![0]!.error).toContain('scorer "rejects" threw RangeError: async nope');
    expect(rejects![0]!.error).toContain(`${asyncFile}:`);
    expect(never![0]).toMatchObject({ score: null, error: 'scorer "never" timed out after 200 ms' });
    expect(exact![0]).toMatchObject({ score: 1, error: '' });
    // Settled by the worker's own timer, not by the backstop (5 s + 500 ms grace, then re-runs).
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('a scorer that cannot be loaded fails each of its calls with the reason', async () => {
    const [unknown, typo, notFunction, missing] = await runAsBatch([
      ['unknown-builtin', args('x')],
      ['typo', args('x', 'x')],
      ['not-a-function', args('x')],
      ['missing-module', args('x')],
    ]);
    expect(unknown![0]!.error).toMatch(/^scorer "unknown-builtin" could not be loaded: unknown built-in "NoSuchScorer"/);
    expect(typo![0]!.error).toMatch(/^scorer "typo" could not be loaded: .*caseSensitive/);
    expect(notFunction![0]!.error).toBe(`scorer "not-a-function" could not be loaded: export "notAFunction" of ${garbageFile} is 42, not a function`);
    expect(missing![0]!.error).toMatch(/^scorer "missing-module" could not be loaded: /);
    expect(missing![0]!.score).toBeNull();
  });

  it('an unconfigured scorer name is an error outcome, not a rejection', async () => {
    const outcome = await runOne('nobody', args('x'));
    expect(outcome).toMatchObject({ scorer: 'nobody', score: null, error: 'scorer "nobody" is not configured' });
  });

  it('a synchronous infinite loop times out alone; its batch-mates get real scores; the pool goes on', async () => {
    const started = Date.now();
    const [before, loops, multi, after] = await runAsBatch([
      ['exact', args('a', 'a')],
      ['loops', args('x')],
      ['multi', args('o')],
      ['async', args('a', 'a')],
    ]);
    expect(loops).toEqual([expect.objectContaining({ scorer: 'loops', score: null, error: 'scorer "loops" timed out after 300 ms' })]);
    expect(loops![0]!.durationNs).toBeGreaterThanOrEqual(300e6);
    expect(before).toEqual([expect.objectContaining({ scorer: 'exact', score: 1, error: '' })]);
    expect(multi!.map((outcome) => outcome.scorer)).toEqual(['multi.relevance', 'multi.tone']);
    expect(after).toEqual([expect.objectContaining({ scorer: 'async', score: 1, error: '' })]);
    // Caught at ITS deadline (300 ms) by the watchdog, not by the backstop (longest deadline 5 s + grace).
    expect(Date.now() - started).toBeLessThan(3_000);

    // The terminated threads were replaced: both workers take work again.
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, (_, index) => runAsBatch(Array.from({ length: 10 }, () => ['exact', args(index, index)] as [string, ScorerArgs]))),
    );
    expect(outcomes.flat(2).every((outcome) => outcome.score === 1 && outcome.error === '')).toBe(true);
  });

  it('a hang the watchdog cannot see (after an await) is caught by the backstop and isolated', async () => {
    const [exact, loopsLater] = await runAsBatch([
      ['exact-fast', args('a', 'a')],
      ['loops-later', args('x')],
    ]);
    expect(exact).toEqual([expect.objectContaining({ score: 1, error: '' })]);
    expect(loopsLater).toEqual([expect.objectContaining({ score: null, error: 'scorer "loops-later" timed out after 300 ms' })]);
    expect((await runOne('exact', args(2, 2))).score).toBe(1);
  });

  it('a scorer that kills its worker is reported as a crash; the others still score', async () => {
    const [exits, exact] = await runAsBatch([
      ['exits', args('x')],
      ['exact', args('q', 'q')],
    ]);
    expect(exits![0]!.score).toBeNull();
    expect(exits![0]!.error).toBe('scorer "exits" crashed its worker: called process.exit(3)');
    expect(exact![0]).toMatchObject({ score: 1, error: '' });
    expect((await runOne('exact', args(1, 1))).score).toBe(1);
  });

  it('never hands Piscina more calls than threads, so a call queued behind hangs keeps its deadline', async () => {
    // 2 threads, both hung (past their deadline only after 300 ms + 500 ms grace); calls
    // queued inside Piscina meanwhile would reach their own 800 ms deadline before running.
    const hangs = [runOne('loops-later', args('x')), runOne('loops-later', args('x'))];
    const quick = Array.from({ length: 4 }, (_, index) => runOne('exact-fast', args(index, index)));
    for (const outcome of await Promise.all(quick)) expect(outcome).toMatchObject({ score: 1, error: '' });
    for (const outcome of await Promise.all(hangs)) expect(outcome.error).toBe('scorer "loops-later" timed out after 300 ms');
  });
});

describe('ScorerPool after close', () => {
  it('answers with "pool closed" outcomes instead of rejecting', async () => {
    const closing = new ScorerPool({ workers: 1, scorers: [builtin('exact', 'ExactMatch')], logger: silentLogger() });
    await closing.close();
    const results = await closing.runBatch([{ id: 7, scorer: 'exact', args: args('a', 'a') }]);
    expect(results.get(7)).toEqual([expect.objectContaining({ score: null, error: expect.stringContaining('pool closed') })]);
  });
});
