import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerScorerSpec } from '../../src/scoring/rule-spec.js';
import type { ScoreOutcome } from '../../src/scoring/scorer-args.js';
import { ScorerPool, type ScorerTask } from '../../src/scoring/scorer-pool.js';
import { SPAN } from './scored-span-fixture.js';

// How a crash is pinned and what it costs: the culprit found without re-running its batch one
// call at a time, finished calls not run again, and a crash a finished call left behind not
// blamed on the batch it interrupts. Every call of the `counted` scorers appends its output to
// a file, so the test can tell what ran how often, across threads.

const dir = mkdtempSync(join(tmpdir(), 'spanscore-scorer-attribution-'));
const modulePath = join(dir, 'scorers.mjs');
writeFileSync(
  modulePath,
  [
    `import { appendFileSync } from 'node:fs';`,
    `const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));`,
    `const count = ({ output, metadata }) => appendFileSync(metadata.log, output + '\\n');`,
    `export const countedAsync = async (args) => { await sleep(args.metadata.sleepMs ?? 1); count(args); return 1; };`,
    `export const countedSync = (args) => {`,
    `  const until = Date.now() + (args.metadata.busyMs ?? 0);`,
    `  while (Date.now() < until) {}`,
    `  count(args);`,
    `  return 1;`,
    `};`,
    `export const callbackThrow = () => new Promise(() => { setTimeout(() => { throw new Error('x'); }, 30); });`,
    `export const throwsLater = (args) => { setTimeout(() => { throw new Error('left behind'); }, args.metadata.afterMs); return 1; };`,
    `export const loops = () => { for (;;) {} };`,
    `export const eatsMemoryLater = async () => {`,
    `  await sleep(5);`,
    `  const hoard = [];`,
    `  for (;;) hoard.push(new Array(100_000).fill(hoard.length));`,
    `};`,
  ].join('\n'),
);

const fromModule = (name: string, exportName: string, timeoutMs = 0): WorkerScorerSpec => ({ name, timeoutMs, kind: 'module', module: modulePath, exportName });
const scorers = [
  fromModule('counted-async', 'countedAsync'),
  fromModule('counted-sync', 'countedSync'),
  fromModule('callback-throw', 'callbackThrow'),
  fromModule('throws-later', 'throwsLater'),
  fromModule('loops', 'loops', 300),
  fromModule('eats-memory-later', 'eatsMemoryLater'),
];

let pool: ScorerPool | undefined;
let logs: Array<{ level: number; msg: string }> = [];
let log = '';
let nextId = 0;
let nextLog = 0;

function newPool(workers: number): ScorerPool {
  logs = [];
  log = join(dir, `runs-${nextLog++}.log`);
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  pool = new ScorerPool({ workers, taskTimeoutMs: 5_000, dispatchGraceMs: 500, workerMemoryMib: 32, scorers, logger });
  return pool;
}

const task = (scorer: string, output: unknown, metadata: Record<string, unknown> = {}): ScorerTask => ({
  id: nextId++,
  scorer,
  args: { input: 'q', output, expected: undefined, metadata: { log, ...metadata }, span: SPAN },
});

async function run(tasks: ScorerTask[]): Promise<ScoreOutcome[]> {
  const results = await pool!.runBatch(tasks);
  return tasks.map((t) => results.get(t.id)!).map((outcomes) => {
    expect(outcomes).toHaveLength(1);
    return outcomes[0]!;
  });
}

/** How many times each output was scored by a counted scorer. */
function runs(): Map<string, number> {
  const counts = new Map<string, number>();
  if (!existsSync(log)) return counts;
  for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}

const oneByOne = () => logs.filter((entry) => entry.msg.includes('one by one'));

afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('crash attribution', () => {
  it('a callback crash among 20 async calls is pinned on its call; the finished ones are not run again', async () => {
    newPool(2);
    const mates = Array.from({ length: 20 }, (_, i) => task('counted-async', `m${i}`));
    const outcomes = await run([...mates.slice(0, 10), task('callback-throw', 'x'), ...mates.slice(10)]);
    expect(outcomes[10]!.error).toMatch(/^scorer "callback-throw" crashed its worker: threw in a callback: Error: x/);
    expect(outcomes.filter((outcome) => outcome.score === 1)).toHaveLength(20);
    expect(oneByOne()).toEqual([]);
    // They finished (1 ms) long before the crash (30 ms), and were streamed: each ran once.
    expect([...runs().values()]).toEqual(Array(20).fill(1));
  });

  it('slow synchronous calls finished before a hang are not run again', async () => {
    newPool(1);
    const slow = [0, 1, 2].map((i) => task('counted-sync', `s${i}`, { busyMs: 10 }));
    const outcomes = await run([...slow, task('loops', 'x')]);
    expect(outcomes.map((outcome) => outcome.score)).toEqual([1, 1, 1, null]);
    expect(outcomes[3]!.error).toBe('scorer "loops" timed out after 300 ms');
    expect(runs()).toEqual(new Map([['s0', 1], ['s1', 1], ['s2', 1]]));
  });

  it('async calls finished before an unpinnable crash (out of memory after an await) are not run again', async () => {
    newPool(1);
    const mates = [0, 1, 2, 3].map((i) => task('counted-sync', `q${i}`));
    const outcomes = await run([mates[0]!, mates[1]!, task('eats-memory-later', 'x'), mates[2]!, mates[3]!]);
    expect(outcomes[2]!.error).toBe('scorer "eats-memory-later" crashed its worker: out of memory (heap limit 32 MiB)');
    expect(outcomes.filter((outcome) => outcome.score === 1)).toHaveLength(4);
    // Unpinned, the crash sends its unfinished calls (the culprit alone) to run one by one.
    expect(oneByOne()).toHaveLength(1);
    expect([...runs().values()]).toEqual([1, 1, 1, 1]);
    expect(pool!.threads).toBe(1);
  });

  it('a crash left behind by a finished call is not blamed on the batch it interrupts', async () => {
    newPool(1);
    const [left] = await run([task('throws-later', 'x', { afterMs: 300 })]);
    expect(left).toMatchObject({ score: 1, error: '' });
    // Runs when the timer fires, on the same (only) thread.
    const interrupted = [0, 1, 2].map((i) => task('counted-async', `i${i}`, { sleepMs: 900 }));
    const outcomes = await run(interrupted);
    expect(outcomes).toEqual(interrupted.map(() => expect.objectContaining({ score: 1, error: '' })));
    expect(oneByOne()).toEqual([]);
    expect(logs.map((entry) => entry.msg)).toContain('a scorer call of an earlier batch crashed its worker; re-running the batch it interrupted');
    expect(pool!.threads).toBe(1);
  });

  it('a crash between batches is logged and the thread replaced', async () => {
    newPool(1);
    await run([task('throws-later', 'x', { afterMs: 20 })]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(logs.map((entry) => entry.msg)).toContain('scorer worker failed between calls');
    expect(pool!.threads).toBe(1);
    expect(await run([task('counted-async', 'after')])).toEqual([expect.objectContaining({ score: 1, error: '' })]);
  });
});
