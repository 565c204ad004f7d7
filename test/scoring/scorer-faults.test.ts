import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import type { WorkerScorerSpec } from '../../src/scoring/rule-spec.js';
import type { ScoreOutcome } from '../../src/scoring/scorer-args.js';
import { ScorerPool, type ScorerTask } from '../../src/scoring/scorer-pool.js';
import { SPAN } from './scored-span-fixture.js';

// Scorers that kill their worker thread, each way a thread can die, on a real pool (the
// compiled worker in dist/: build first). Each case checks the four promises of the pool: the
// culprit's outcome names the fault, its batch-mates get real scores, the pool keeps serving,
// and it keeps its thread count.

const dir = mkdtempSync(join(tmpdir(), 'spanscore-scorer-faults-'));
const moduleFile = (name: string, lines: string[]): string => {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
};

const crashes = moduleFile('crashes.mjs', [
  `const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));`,
  `export const callbackThrow = () => new Promise(() => {`,
  `  setTimeout(() => { throw new Error('x'); }, 5);`,
  `});`,
  `export const callbackThrowString = () => new Promise(() => { setTimeout(() => { throw 'a string'; }, 5); });`,
  `export const unhandledRejection = async () => {`,
  `  Promise.reject(new RangeError('nobody listens'));`,
  `  await sleep(200);`,
  `  return 1;`,
  `};`,
  `export const exitsLater = () => new Promise(() => { setTimeout(() => process.exit(4), 5); });`,
  `export const exitsNow = () => process.exit(3);`,
  `export const eatsMemory = () => {`,
  `  const hoard = [];`,
  `  for (;;) hoard.push(new Array(100_000).fill(hoard.length));`,
  `};`,
  `export const eatsMemoryLater = async () => {`,
  `  await sleep(1);`,
  `  const hoard = [];`,
  `  for (;;) hoard.push(new Array(100_000).fill(hoard.length));`,
  `};`,
  `export const loops = () => { for (;;) {} };`,
  `export const never = () => new Promise(() => {});`,
  `export const slowMatch = async ({ output, expected }) => {`,
  `  await sleep(30);`,
  `  return output === expected ? 1 : 0;`,
  `};`,
]);

const MEMORY_MIB = 32;
const fromModule = (name: string, exportName: string, timeoutMs = 0): WorkerScorerSpec => ({ name, timeoutMs, kind: 'module', module: crashes, exportName });
const scorers: WorkerScorerSpec[] = [
  { name: 'exact', timeoutMs: 0, kind: 'builtin', builtin: 'ExactMatch', options: {} },
  fromModule('slow-match', 'slowMatch'),
  fromModule('callback-throw', 'callbackThrow'),
  fromModule('callback-throw-string', 'callbackThrowString'),
  fromModule('unhandled-rejection', 'unhandledRejection'),
  fromModule('exits-later', 'exitsLater'),
  fromModule('exits-now', 'exitsNow'),
  fromModule('eats-memory', 'eatsMemory'),
  fromModule('eats-memory-later', 'eatsMemoryLater'),
  fromModule('loops', 'loops', 300),
  fromModule('never', 'never', 300),
];

const WORKERS = 2;
let pool: ScorerPool;
let nextId = 0;

const task = (scorer: string, output: unknown = 'a', expected: unknown = 'a'): ScorerTask => ({
  id: nextId++,
  scorer,
  args: { input: 'q', output, expected, metadata: {}, span: SPAN },
});

/** Runs one batch; outcomes in task order. */
async function run(tasks: ScorerTask[]): Promise<ScoreOutcome[][]> {
  const results = await pool.runBatch(tasks);
  expect(results.size).toBe(tasks.length);
  return tasks.map((t) => results.get(t.id)!);
}

/** A batch around the culprit: sync and async batch-mates before and after it. */
async function runAmongMates(culprit: string): Promise<{ culprit: ScoreOutcome; mates: ScoreOutcome[][]; ms: number }> {
  const started = Date.now();
  const tasks = [task('exact'), task('slow-match'), task(culprit), task('exact', 'a', 'b'), task('slow-match')];
  const outcomes = await run(tasks);
  const [first, second, culpritOutcomes, fourth, fifth] = outcomes;
  expect(culpritOutcomes).toHaveLength(1);
  expect(first).toEqual([expect.objectContaining({ scorer: 'exact', score: 1, error: '' })]);
  expect(second).toEqual([expect.objectContaining({ scorer: 'slow-match', score: 1, error: '' })]);
  expect(fourth).toEqual([expect.objectContaining({ scorer: 'exact', score: 0, error: '' })]);
  expect(fifth).toEqual([expect.objectContaining({ scorer: 'slow-match', score: 1, error: '' })]);
  return { culprit: culpritOutcomes![0]!, mates: [first!, second!, fourth!, fifth!], ms: Date.now() - started };
}

/** The pool still has its threads, and they all score. */
async function expectPoolServes(): Promise<void> {
  expect(pool.threads).toBe(WORKERS);
  const batches = await Promise.all(Array.from({ length: 2 * WORKERS }, (_, i) => run([task('exact', i, i), task('slow-match', i, i)])));
  expect(batches.flat(2).every((outcome) => outcome.score === 1 && outcome.error === '')).toBe(true);
  expect(pool.threads).toBe(WORKERS);
}

beforeAll(() => {
  pool = new ScorerPool({ workers: WORKERS, taskTimeoutMs: 5_000, dispatchGraceMs: 500, workerMemoryMib: MEMORY_MIB, scorers, logger: silentLogger() });
});

afterAll(async () => {
  await pool.close();
});

describe('a scorer that kills its worker costs only its own call', () => {
  it('a throw in a timer callback while its promise is pending', async () => {
    const { culprit, ms } = await runAmongMates('callback-throw');
    expect(culprit).toMatchObject({ scorer: 'callback-throw', score: null });
    expect(culprit.error).toMatch(new RegExp(`^scorer "callback-throw" crashed its worker: threw in a callback: Error: x \\(at ${escape(crashes)}:3:\\d+\\)$`));
    // Pinned at once, not by the backstop (5 s deadline) nor by re-running calls one by one.
    expect(ms).toBeLessThan(2_000);
    await expectPoolServes();
  });

  it('a throw of a non-Error in a callback', async () => {
    const { culprit } = await runAmongMates('callback-throw-string');
    expect(culprit.error).toBe('scorer "callback-throw-string" crashed its worker: threw in a callback: "a string"');
    await expectPoolServes();
  });

  it('an unhandled promise rejection', async () => {
    const { culprit } = await runAmongMates('unhandled-rejection');
    expect(culprit.error).toMatch(
      new RegExp(`^scorer "unhandled-rejection" crashed its worker: left a promise rejection unhandled: RangeError: nobody listens \\(at ${escape(crashes)}:7:\\d+\\)$`),
    );
    await expectPoolServes();
  });

  it('process.exit() in a callback, and in the call itself', async () => {
    const later = await runAmongMates('exits-later');
    expect(later.culprit).toMatchObject({ score: null, error: 'scorer "exits-later" crashed its worker: called process.exit(4)' });
    const now = await runAmongMates('exits-now');
    expect(now.culprit).toMatchObject({ score: null, error: 'scorer "exits-now" crashed its worker: called process.exit(3)' });
    await expectPoolServes();
  });

  it(`running out of memory (workerMemoryMib ${MEMORY_MIB}) in the call itself`, async () => {
    const { culprit } = await runAmongMates('eats-memory');
    expect(culprit).toMatchObject({ score: null, error: `scorer "eats-memory" crashed its worker: out of memory (heap limit ${MEMORY_MIB} MiB)` });
    await expectPoolServes();
  });

  it('running out of memory after an await, where no call is running: isolated by re-running alone', async () => {
    const { culprit } = await runAmongMates('eats-memory-later');
    expect(culprit).toMatchObject({ score: null, error: `scorer "eats-memory-later" crashed its worker: out of memory (heap limit ${MEMORY_MIB} MiB)` });
    await expectPoolServes();
  });

  it('a synchronous hang and a promise that never settles time out at their own deadline', async () => {
    const loops = await runAmongMates('loops');
    expect(loops.culprit).toMatchObject({ score: null, error: 'scorer "loops" timed out after 300 ms' });
    expect(loops.culprit.durationNs).toBeGreaterThanOrEqual(300e6);
    expect(loops.ms).toBeLessThan(2_000);
    const never = await runAmongMates('never');
    expect(never.culprit).toMatchObject({ score: null, error: 'scorer "never" timed out after 300 ms' });
    await expectPoolServes();
  });

  it('every kind at once, in one batch and in concurrent batches', async () => {
    const culprits = ['callback-throw', 'unhandled-rejection', 'exits-later', 'exits-now', 'eats-memory', 'loops', 'never'];
    const batches = Array.from({ length: 3 }, (_, b) =>
      culprits.flatMap((culprit, i) => (i % 3 === b ? [task(culprit), task('exact', i, i), task('slow-match', i, i)] : [task('exact', i, i)])),
    );
    batches.push(culprits.flatMap((culprit, i) => [task(culprit), task('exact', i, i)]));
    const results = await Promise.all(batches.map((tasks) => run(tasks).then((outcomes) => ({ tasks, outcomes }))));
    for (const { tasks, outcomes } of results) {
      tasks.forEach((t, i) => {
        const [outcome] = outcomes[i]!;
        if (culprits.includes(t.scorer)) expect(outcome).toMatchObject({ scorer: t.scorer, score: null, error: expect.stringMatching(/crashed its worker|timed out/) });
        else expect(outcome).toMatchObject({ scorer: t.scorer, score: 1, error: '' });
      });
    }
    await expectPoolServes();
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
