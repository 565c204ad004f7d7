import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTANCE_ATTRIBUTE, PROJECT_ATTRIBUTE } from '../../../src/pipeline/project.js';
import type { ClickHouseStorage } from '../../../src/storage/clickhouse-storage.js';
import { waitFor } from '../../helpers/wait-for.js';
import { agoNs, isSweepDone, MINUTE, openStorage, processor, recoveredByRule, rule, scoresOf, storedSpan } from './recovery-fixtures.js';

/**
 * How fast recovery works a backlog off: at once again while a sweep stopped at max_spans
 * (not `interval` later), with the backlog and the recovered spans in /metrics; and at start,
 * at once for the spans this replica stored before it started (its live pipeline is gone),
 * while other replicas' young spans are left to them for `min_age`.
 */

let storage: ClickHouseStorage;

beforeAll(async () => {
  storage = await openStorage('recovery-catch-up');
});

afterAll(async () => {
  await storage?.close();
});

const sweepsDone = (entries: Array<Record<string, unknown>>) => entries.filter(isSweepDone);

describe('recovery after a backlog', () => {
  it('sweeps again at once while a sweep stopped at max_spans, reporting the backlog and the recovered spans', async () => {
    const spans = Array.from({ length: 45 }, (_, i) => storedSpan('backlog-45', { Timestamp: agoNs(5 * MINUTE + i * 1_000) }));
    await storage.insertSpans(spans);
    // One sweep an hour, ten spans a sweep: without catching up, 35 spans would wait an hour.
    const { scoring, metrics, entries } = processor(storage, [rule({ name: 'backlog-45', scorers: ['ExactMatch'], project: 'backlog-45' })], {
      recovery: { maxSpans: 10, intervalMs: 60 * MINUTE },
    });
    await scoring.start();
    try {
      await waitFor(async () => (await scoresOf(storage, 'backlog-45')).length === 45, { timeoutMs: 30_000, what: 'every span scored' });
      await waitFor(() => sweepsDone(entries).some((entry) => entry.msg === 'scoring recovery: scored 5 missing score(s) of 5 span(s)'), { what: 'the last sweep' });
    } finally {
      await scoring.shutdown(10_000);
    }
    const sweeps = sweepsDone(entries);
    // What each sweep found, what it scored, and what it left for the next one.
    expect(sweeps.map((entry) => [entry.found, entry.spans, entry.backlog, entry.again])).toEqual([
      [45, 10, 35, true],
      [35, 10, 25, true],
      [25, 10, 15, true],
      [15, 10, 5, true],
      [5, 5, 0, false],
    ]);
    expect(await recoveredByRule(metrics)).toEqual({ 'backlog-45': 45 });
    const recoveredSpans = (await metrics.scoringRecoveredSpans.get()).values;
    expect(recoveredSpans).toEqual([expect.objectContaining({ labels: { rule: 'backlog-45' }, value: 45 })]);
    expect((await metrics.scoringRecoveryBacklog.get()).values[0]!.value).toBe(0);
  });

  it('does not sweep again at once when a capped sweep could queue nothing', async () => {
    // Selected in SQL, refused by the live selection (as a filter the two sides read
    // differently would): found again by every sweep, never queued.
    const spans = Array.from({ length: 10 }, () => storedSpan('stuck-sql', { Timestamp: agoNs(5 * MINUTE) }));
    await storage.insertSpans(spans);
    const stuck = rule({ name: 'stuck', scorers: ['ExactMatch'], project: 'stuck-live' });
    const { scoring, entries } = processor(storage, [stuck], { recovery: { maxSpans: 5, intervalMs: 60 * MINUTE } });
    // The live selection is compiled by now; recovery's SQL reads the spec at each sweep.
    (stuck as { project: string }).project = 'stuck-sql';
    await scoring.start();
    await waitFor(() => entries.some((entry) => typeof entry.msg === 'string' && entry.msg.includes('the live one does not')), { what: 'the first sweep' });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await scoring.shutdown(10_000);
    expect(entries.filter((entry) => typeof entry.msg === 'string' && entry.msg.includes('the live one does not'))).toHaveLength(1);
  });
});

describe('recovery at start', () => {
  const young = (project: string, instance: string, count: number) =>
    Array.from({ length: count }, (_, i) =>
      storedSpan(project, {
        Timestamp: agoNs(10_000 + i * 100),
        ResourceAttributes: { 'service.name': 'app', [PROJECT_ATTRIBUTE]: project, [INSTANCE_ATTRIBUTE]: instance },
      }),
    );

  it("scores at once this replica's spans stored before it started, however young, and leaves other replicas' to min_age", async () => {
    const mine = young('own', 'replica-a', 8);
    const theirs = young('own', 'replica-b', 4);
    await storage.insertSpans([...mine, ...theirs]);
    const { scoring, entries } = processor(storage, [rule({ name: 'own', scorers: ['ExactMatch'], project: 'own' })], {
      instanceId: 'replica-a',
      startsProcess: true,
      // The defaults: two minutes of min_age, a sweep every five, and no initial delay given.
      recovery: { minAgeMs: 2 * MINUTE, intervalMs: 5 * MINUTE, initialDelayMs: undefined },
    });
    const startedAt = Date.now();
    await scoring.start();
    try {
      await waitFor(() => sweepsDone(entries).length > 0, { timeoutMs: 30_000, what: 'the start-up sweep' });
    } finally {
      await scoring.shutdown(10_000);
    }
    expect(Date.now() - startedAt).toBeLessThan(2 * MINUTE);
    expect((await scoresOf(storage, 'own')).map((row) => row.SpanId).sort()).toEqual(mine.map((span) => span.SpanId).sort());
  });

  it('leaves young spans of its own instance to min_age in a processor a config reload made', async () => {
    await storage.insertSpans(young('reloaded', 'replica-a', 3));
    const { scoring, entries } = processor(storage, [rule({ name: 'reloaded', scorers: ['ExactMatch'], project: 'reloaded' })], {
      instanceId: 'replica-a',
      startsProcess: false,
      recovery: { minAgeMs: 2 * MINUTE, initialDelayMs: 0 },
    });
    await scoring.start();
    try {
      await waitFor(() => sweepsDone(entries).length > 0, { timeoutMs: 30_000, what: 'the sweep' });
    } finally {
      await scoring.shutdown(10_000);
    }
    expect(await scoresOf(storage, 'reloaded')).toEqual([]);
  });
});
