import { afterEach, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../src/admin/logger.js';
import type { ScoreOutcome, ScorerArgs } from '../../src/scoring/scorer-args.js';
import { ScorerPool, type ScorerTask } from '../../src/scoring/scorer-pool.js';
import { ScoringQueue, type ScoringBatchRunner, type ScoringTask } from '../../src/scoring/scoring-queue.js';
import { spanRow } from '../storage/storage-fixtures.js';

const span = spanRow();
const args: ScorerArgs = {
  input: 'q',
  output: 'a',
  expected: 'a',
  metadata: {},
  span: {
    traceId: span.TraceId,
    spanId: span.SpanId,
    parentSpanId: '',
    name: span.SpanName,
    kind: 'Client',
    serviceName: 'app',
    scopeName: 's',
    attributes: {},
    resource: {},
    timestamp: span.Timestamp,
    durationMs: 1,
    status: 'unset',
    statusMessage: '',
  },
};
const task = (rule = 'r1', scorer = 'exact'): ScoringTask => ({ span, rule, scorer, args });

/** A runner whose batches finish when the test says so. */
class ManualRunner implements ScoringBatchRunner {
  readonly batches: Array<{ tasks: ScorerTask[]; finish: () => void }> = [];
  constructor(readonly workers = 1) {}
  runBatch(tasks: ScorerTask[]): Promise<Map<number, ScoreOutcome[]>> {
    return new Promise((resolve) => {
      const outcomes = new Map(tasks.map((t) => [t.id, [outcome(t.scorer)]]));
      this.batches.push({ tasks, finish: () => resolve(outcomes) });
    });
  }
}

const outcome = (scorer: string): ScoreOutcome => ({ scorer, score: 1, error: '', metadata: {}, durationNs: 1, startedAt: '1' });
// Past the timers AND the setImmediate the queue dispatches full batches from.
const tick = (ms = 0) => new Promise((resolve) => setTimeout(() => setImmediate(resolve), ms));

async function shedCount(metrics: DaemonMetrics, rule: string): Promise<number> {
  const { values } = await metrics.scoringShed.get();
  return values.find((value) => value.labels.rule === rule)?.value ?? 0;
}
async function depthGauge(metrics: DaemonMetrics): Promise<number> {
  return (await metrics.scoringQueueDepth.get()).values[0]!.value;
}

const queues: ScoringQueue[] = [];
afterEach(async () => {
  for (const queue of queues.splice(0)) await queue.drain(0);
});

function newQueue(runner: ScoringBatchRunner, options: Partial<ConstructorParameters<typeof ScoringQueue>[0]> = {}) {
  const metrics = new DaemonMetrics({ processMetrics: false });
  const scored: Array<[ScoringTask, ScoreOutcome[]]> = [];
  const shed: ScoringTask[] = [];
  const queue = new ScoringQueue({
    runner,
    metrics,
    logger: silentLogger(),
    onScored: (t, outcomes) => scored.push([t, outcomes]),
    onShed: (t) => shed.push(t),
    ...options,
  });
  queues.push(queue);
  return { queue, metrics, scored, shed };
}

describe('ScoringQueue', () => {
  it('sheds past capacity, counted per rule, and offer never waits', async () => {
    const runner = new ManualRunner(1); // never finishes anything unless told
    const { queue, metrics, shed } = newQueue(runner, { capacity: 100, maxBatchSize: 10, maxInFlightBatches: 1 });
    const started = process.hrtime.bigint();
    const accepted = Array.from({ length: 20_000 }, (_, index) => queue.offer(task(index % 2 === 0 ? 'even' : 'odd')));
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;

    expect(accepted.filter(Boolean)).toHaveLength(100);
    expect(accepted.slice(0, 100).every(Boolean)).toBe(true);
    expect(shed).toHaveLength(19_900);
    expect(await shedCount(metrics, 'even')).toBe(9_950);
    expect(await shedCount(metrics, 'odd')).toBe(9_950);
    expect(elapsedMs).toBeLessThan(1_000);
    expect(queue.depth).toBe(100);
    expect(await depthGauge(metrics)).toBe(100);

    // Room again once a batch leaves for the runner.
    await tick();
    expect(runner.batches).toHaveLength(1);
    expect(queue.depth).toBe(90);
    expect(await depthGauge(metrics)).toBe(90);
    expect(queue.offer(task('even'))).toBe(true);
  });

  it('sheds every offer while shouldShed says so, counted as shed, and takes tasks again after', async () => {
    const runner = new ManualRunner(1);
    let short = true;
    const { queue, metrics, shed } = newQueue(runner, { capacity: 100, maxBatchSize: 10, lingerMs: 1_000, shouldShed: () => short });
    expect(Array.from({ length: 50 }, () => queue.offer(task('mem')))).toEqual(Array(50).fill(false));
    expect(shed).toHaveLength(50);
    expect(await shedCount(metrics, 'mem')).toBe(50);
    expect(queue.depth).toBe(0);
    expect(runner.batches).toHaveLength(0);

    short = false;
    expect(queue.offer(task('mem'))).toBe(true);
    expect(queue.depth).toBe(1);
    expect(await shedCount(metrics, 'mem')).toBe(50);
    // Tasks already queued are kept (and run) when shedding starts again.
    short = true;
    expect(queue.offer(task('mem'))).toBe(false);
    expect(queue.depth).toBe(1);
  });

  it('sends full batches at once and a partial one after the linger', async () => {
    const runner = new ManualRunner(4);
    const { queue } = newQueue(runner, { maxBatchSize: 64, lingerMs: 100 });
    for (let index = 0; index < 150; index++) queue.offer(task());
    await tick();
    expect(runner.batches.map((batch) => batch.tasks.length)).toEqual([64, 64]);
    // Ids are positions within the batch; the worker sends them back with the outcomes.
    expect(runner.batches[0]!.tasks.map((t) => t.id)).toEqual([...Array(64).keys()]);
    await tick(150);
    expect(runner.batches.map((batch) => batch.tasks.length)).toEqual([64, 64, 22]);
  });

  it('keeps at most workers * 2 batches in flight by default', async () => {
    const runner = new ManualRunner(2);
    const { queue, scored } = newQueue(runner, { maxBatchSize: 10, lingerMs: 1 });
    for (let index = 0; index < 100; index++) queue.offer(task());
    await tick(20);
    expect(runner.batches).toHaveLength(4);
    expect(queue.inFlightBatches).toBe(4);
    expect(queue.depth).toBe(60);

    runner.batches[0]!.finish();
    await tick(5);
    expect(scored).toHaveLength(10);
    expect(runner.batches).toHaveLength(5);
    expect(queue.depth).toBe(50);
  });

  it('drain runs what is queued and in flight, then refuses new tasks', async () => {
    const runner = new ManualRunner(1);
    const { queue, scored, shed, metrics } = newQueue(runner, { maxBatchSize: 8, lingerMs: 1_000 });
    for (let index = 0; index < 20; index++) queue.offer(task());
    const finisher = setInterval(() => runner.batches.forEach((batch) => batch.finish()), 5);
    try {
      await queue.drain(5_000);
    } finally {
      clearInterval(finisher);
    }
    // The partial batch did not wait for its 1 s linger.
    expect(runner.batches.map((batch) => batch.tasks.length)).toEqual([8, 8, 4]);
    expect(scored).toHaveLength(20);
    expect(shed).toHaveLength(0);
    expect(queue.offer(task('late'))).toBe(false);
    expect(await shedCount(metrics, 'late')).toBe(1);
  });

  it('at the drain deadline, queued and in-flight tasks are shed and late results ignored', async () => {
    const runner = new ManualRunner(1);
    const { queue, scored, shed, metrics } = newQueue(runner, { maxBatchSize: 5, maxInFlightBatches: 1 });
    for (let index = 0; index < 12; index++) queue.offer(task('slow'));
    await tick();
    expect(runner.batches).toHaveLength(1);
    const started = Date.now();
    await queue.drain(50);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(shed).toHaveLength(12);
    expect(await shedCount(metrics, 'slow')).toBe(12);
    expect(await depthGauge(metrics)).toBe(0);
    runner.batches[0]!.finish();
    await tick(5);
    expect(scored).toHaveLength(0);
  });

  it('a runner that rejects (a pool bug) still ends every task with an error outcome', async () => {
    const runner: ScoringBatchRunner = { workers: 1, runBatch: () => Promise.reject(new Error('pool bug')) };
    const { queue, scored } = newQueue(runner, { maxBatchSize: 3, lingerMs: 1 });
    for (let index = 0; index < 3; index++) queue.offer(task());
    await queue.drain(1_000);
    expect(scored).toHaveLength(3);
    expect(scored.every(([, outcomes]) => outcomes[0]!.score === null && outcomes[0]!.error.includes('no result'))).toBe(true);
  });

  it('drains into the real scorer pool', async () => {
    const pool = new ScorerPool({
      workers: 2,
      scorers: [{ name: 'exact', timeoutMs: 0, kind: 'builtin', builtin: 'ExactMatch', options: {} }],
      logger: silentLogger(),
    });
    try {
      const { queue, scored } = newQueue(pool, { maxBatchSize: 64 });
      for (let index = 0; index < 1_000; index++) {
        expect(queue.offer({ ...task(), args: { ...args, output: index % 2 === 0 ? 'a' : 'b' } })).toBe(true);
      }
      await queue.drain(30_000);
      expect(scored).toHaveLength(1_000);
      const scores = scored.map(([t, outcomes]) => [t.args.output, outcomes[0]!.score]);
      expect(scores.filter(([output, score]) => (output === 'a' ? score === 1 : score === 0))).toHaveLength(1_000);
    } finally {
      await pool.close();
    }
  });
});
