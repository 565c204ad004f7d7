import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { MemoryLimiter } from '../../src/pipeline/memory-limiter.js';
import type { ScorerSpec } from '../../src/scoring/rule-spec.js';
import { scoringSpanBytes } from '../../src/scoring/scoring-memory.js';
import type { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { waitFor } from '../helpers/wait-for.js';
import { agoNs, openStorage, processor, rule, scoresOf, storedSpan } from './recovery/recovery-fixtures.js';

/**
 * Scoring sheds on what it holds (its queues' tasks and their memory), and on RSS only above
 * the soft limit. After a 3x burst, RSS settled above the old scoring threshold (80% of the
 * soft limit: V8 does not give its heap back) and scoring stayed shed for 20+ minutes with
 * nothing queued.
 */

const MIB = 1024 * 1024;
let storage: ClickHouseStorage;

beforeAll(async () => {
  storage = await openStorage('scoring-shedding');
});

afterAll(async () => {
  await storage?.close();
});

const slowFile = join(mkdtempSync(join(tmpdir(), 'spanscore-shedding-')), 'slow.mjs');
writeFileSync(slowFile, 'export default async () => { await new Promise((resolve) => setTimeout(resolve, 200)); return 1; };\n');
const slow: ScorerSpec = { name: 'slow', timeoutMs: 5_000, kind: 'module', module: slowFile, exportName: 'default' };

/** Live spans (too young for recovery) of `project`. */
const liveSpans = (project: string, count: number) => Array.from({ length: count }, () => storedSpan(project, { Timestamp: agoNs(1_000) }));

/** limit 512, soft 384 MiB, RSS as the test sets it. */
function limiterAt(rss: { mib: number }): MemoryLimiter {
  return new MemoryLimiter({
    checkIntervalMs: 100,
    limitBytes: 512 * MIB,
    softLimitBytes: 384 * MIB,
    metrics: new DaemonMetrics({ processMetrics: false }),
    logger: pino({ level: 'silent' }),
    rss: () => rss.mib * MIB,
    gc: undefined,
  });
}

describe('scoring shedding', () => {
  it('scores live spans while RSS stays high below the soft limit, as it does long after a burst', async () => {
    const rss = { mib: 350 };
    const limiter = limiterAt(rss);
    const spans = liveSpans('settled', 20);
    await storage.insertSpans(spans);
    const { scoring } = processor(storage, [rule({ name: 'settled', scorers: ['ExactMatch'], project: 'settled' })], { shouldShed: () => limiter.shedScoring() });
    await scoring.start();
    try {
      scoring.onStored(spans);
      await waitFor(() => scoring.ruleCounters.settled!.scored === 20, { what: 'the live spans scored' });
      expect(scoring.ruleCounters.settled!.shed).toBe(0);

      // Above the soft limit (after the limiter's forced collection) memory is short indeed.
      rss.mib = 400;
      limiter.check();
      const more = liveSpans('settled', 5);
      scoring.onStored(more);
      expect(scoring.ruleCounters.settled!.shed).toBe(5);
    } finally {
      await scoring.shutdown(10_000);
    }
    expect(await scoresOf(storage, 'settled')).toHaveLength(20);
  });

  it('sheds on the memory its queues hold, and takes tasks again as soon as they are done', async () => {
    const spans = liveSpans('held', 20);
    await storage.insertSpans(spans);
    const perSpan = scoringSpanBytes(spans[0]!);
    const { scoring, metrics } = processor(storage, [rule({ name: 'held', scorers: ['slow'], project: 'held' })], {
      scorers: new Map([['slow', slow]]),
      // Room for five spans' tasks; the task count (queue_size) is far away.
      maxHeldBytes: 5.5 * perSpan,
      queueCapacity: 10_000,
    });
    const held = async () => (await metrics.scoringHeldBytes.get()).values[0]!.value;
    await scoring.start();
    try {
      scoring.onStored(spans);
      const counters = scoring.ruleCounters.held!;
      expect(counters.enqueued).toBe(5);
      expect(counters.shed).toBe(15);
      expect(await held()).toBeCloseTo(5 * perSpan);

      await waitFor(() => scoring.ruleCounters.held!.scored === 5, { timeoutMs: 20_000, what: 'the held tasks scored' });
      expect(await held()).toBe(0);
      scoring.onStored(spans.slice(0, 5));
      expect(scoring.ruleCounters.held!.enqueued).toBe(10);
      expect(scoring.ruleCounters.held!.shed).toBe(15);
    } finally {
      await scoring.shutdown(10_000);
    }
  });

  it('takes a span larger than the whole budget when nothing else is held', async () => {
    const [big] = liveSpans('alone', 1).map((span) => ({ ...span, SpanAttributes: { ...span.SpanAttributes, blob: 'z'.repeat(100_000) } }));
    await storage.insertSpans([big!]);
    const { scoring } = processor(storage, [rule({ name: 'alone', scorers: ['ExactMatch'], project: 'alone' })], { maxHeldBytes: 1_000 });
    await scoring.start();
    try {
      scoring.onStored([big!]);
      await waitFor(() => scoring.ruleCounters.alone!.scored === 1, { what: 'the big span scored' });
      expect(scoring.ruleCounters.alone!.shed).toBe(0);
    } finally {
      await scoring.shutdown(10_000);
    }
  });
});
