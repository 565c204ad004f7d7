import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScorerSpec } from '../../../src/scoring/rule-spec.js';
import type { SpanRow } from '../../../src/pipeline/span-row.js';
import type { ClickHouseStorage } from '../../../src/storage/clickhouse-storage.js';
import type { ScoreRow } from '../../../src/storage/score-row.js';
import { waitFor } from '../../helpers/wait-for.js';
import { isSweepDone, MINUTE, openStorage, processor, recoveredByRule, rule, scoresOf, scoringSpansOf, storedSpan, sweepOnce } from './recovery-fixtures.js';

/**
 * Recovery against failed score writes: re-scoring is idempotent, scores the recorder gives
 * up on are swept soon, a shutdown that cuts writes leaves them to the next start, and no
 * sweep runs while ClickHouse does not answer.
 */

let storage: ClickHouseStorage;

const slowFile = join(mkdtempSync(join(tmpdir(), 'spanscore-recovery-slow-')), 'slow.mjs');
writeFileSync(slowFile, 'export default async () => { await new Promise((resolve) => setTimeout(resolve, 300)); return 1; };\n');
const slow: ScorerSpec = { name: 'slow', timeoutMs: 5_000, kind: 'module', module: slowFile, exportName: 'default' };

beforeAll(async () => {
  storage = await openStorage('recovery-writes');
});

afterAll(async () => {
  await storage?.close();
});

/** The real storage, with score inserts that can be held back or made to fail, and ClickHouse that can "go down". */
function faultyStorage() {
  const state = { failScores: 0, holdScores: undefined as Promise<void> | undefined, down: false, scoreInserts: 0 };
  const unreachable = () => Promise.reject(new Error('ClickHouse is down (test)'));
  return {
    state,
    storage: {
      insertSpans: (rows: SpanRow[]) => (state.down ? unreachable() : storage.insertSpans(rows)),
      insertScores: async (rows: ScoreRow[]) => {
        state.scoreInserts++;
        if (state.down) return unreachable();
        if (state.failScores > 0) {
          state.failScores--;
          return unreachable();
        }
        await state.holdScores;
        return storage.insertScores(rows);
      },
      query: <T>(sql: string, params?: Record<string, unknown>, options?: { readonly?: boolean }) => (state.down ? unreachable() : storage.query<T>(sql, params, options)),
      ping: async () => !state.down,
    },
  };
}

describe('recovery and score writes', () => {
  it('re-scoring is idempotent: two sweeps scoring the same spans leave one row per (span, rule, scorer) after merges', async () => {
    const spans = Array.from({ length: 25 }, () => storedSpan('twice'));
    await storage.insertSpans(spans);
    const twice = rule({ name: 'twice', scorers: ['ExactMatch', 'Levenshtein'], project: 'twice' });

    // Replica A scores them all, but its score inserts are held back...
    let release!: () => void;
    const a = faultyStorage();
    a.state.holdScores = new Promise((resolve) => (release = resolve));
    const first = processor(a.storage, [twice]);
    await first.scoring.start();
    await waitFor(() => first.entries.some(isSweepDone), { what: "replica A's sweep" });
    expect(await recoveredByRule(first.metrics)).toEqual({ twice: 50 });
    // ...so replica B, sweeping meanwhile, finds the same scores missing and scores them again.
    const second = await sweepOnce(storage, [twice]);
    expect(second.recovered).toEqual({ twice: 50 });
    release();
    await first.scoring.shutdown(10_000);

    // Both wrote: two scoring spans per score.
    expect(await scoringSpansOf(storage, 'twice')).toHaveLength(100);
    await storage.query('OPTIMIZE TABLE scores FINAL');
    const [{ rows, keys }] = (await storage.query<{ rows: string; keys: string }>(
      "SELECT count() AS rows, uniqExact(TraceId, SpanId, Scorer) AS keys FROM scores WHERE Rule = 'twice'",
    )) as [{ rows: string; keys: string }];
    expect(Number(keys)).toBe(50);
    expect(Number(rows)).toBe(50);
  });

  it('sweeps soon after the recorder gave scores up, and scores them', async () => {
    const spans = Array.from({ length: 10 }, () => storedSpan('lost'));
    await storage.insertSpans(spans);
    const f = faultyStorage();
    // Every insert of the live scores fails; the recorder tries once.
    f.state.failScores = 1;
    const { scoring, metrics, entries } = processor(f.storage, [rule({ name: 'lost', scorers: ['ExactMatch'], project: 'lost' })], {
      recorder: { flushIntervalMs: 10, maxAttempts: 1 },
      // No sweep but the one the loss asks for.
      recovery: { initialDelayMs: 60 * MINUTE },
    });
    await scoring.start();
    scoring.onStored(spans);
    await waitFor(async () => (await metrics.scoreWriteFailures.get()).values[0]?.value === 10, { what: 'the scores given up' });
    expect(await scoresOf(storage, 'lost')).toEqual([]);
    await waitFor(() => entries.some(isSweepDone), { timeoutMs: 10_000, what: 'the sweep after the loss' });
    await scoring.shutdown(10_000);
    expect(await recoveredByRule(metrics)).toEqual({ lost: 10 });
    const rows = await scoresOf(storage, 'lost');
    expect(rows.map((row) => row.SpanId).sort()).toEqual(spans.map((span) => span.SpanId).sort());
  });

  it('a shutdown that cuts score writes short leaves them to the next start', async () => {
    const spans = Array.from({ length: 10 }, () => storedSpan('cut'));
    await storage.insertSpans(spans);
    const cutRule = rule({ name: 'cut', scorers: ['ExactMatch'], project: 'cut' });
    const f = faultyStorage();
    f.state.holdScores = new Promise(() => {});
    const { scoring, metrics } = processor(f.storage, [cutRule], { recovery: { initialDelayMs: 60 * MINUTE } });
    await scoring.start();
    scoring.onStored(spans);
    await waitFor(() => f.state.scoreInserts > 0, { what: 'the score insert' });
    await scoring.shutdown(200);
    expect((await metrics.scoreWriteFailures.get()).values[0]?.value).toBe(10);

    const next = await sweepOnce(storage, [cutRule]);
    expect(next.recovered).toEqual({ cut: 10 });
    expect((await scoresOf(storage, 'cut')).map((row) => row.SpanId).sort()).toEqual(spans.map((span) => span.SpanId).sort());
  });

  it('postpones sweeps while ClickHouse does not answer, and sweeps once it does', async () => {
    const spans = Array.from({ length: 5 }, () => storedSpan('down'));
    await storage.insertSpans(spans);
    const f = faultyStorage();
    f.state.down = true;
    const { scoring, metrics, entries } = processor(f.storage, [rule({ name: 'down', scorers: ['ExactMatch'], project: 'down' })]);
    await scoring.start();
    await waitFor(() => entries.some((entry) => entry.msg === 'ClickHouse does not answer; scoring recovery postponed'), { what: 'the postponed sweep' });
    expect(entries.some((entry) => typeof entry.msg === 'string' && entry.msg.includes('sweep failed'))).toBe(false);
    f.state.down = false;
    // Retried 5 s later.
    await waitFor(() => entries.some(isSweepDone), { timeoutMs: 15_000, what: 'the sweep once ClickHouse answers' });
    await scoring.shutdown(10_000);
    expect(await recoveredByRule(metrics)).toEqual({ down: 5 });
    expect(await scoresOf(storage, 'down')).toHaveLength(5);
  });

  it('does not queue again what the live pipeline has in flight, though older than min_age (a backlog after an outage)', async () => {
    // Spans whose start is long past, delivered late: the live pipeline is still scoring them.
    const spans = Array.from({ length: 5 }, () => storedSpan('backlog', { Timestamp: String(BigInt(Date.now() - 10 * MINUTE) * 1_000_000n) }));
    await storage.insertSpans(spans);
    const { scoring, metrics, entries } = processor(storage, [rule({ name: 'backlog', scorers: ['slow'], project: 'backlog' })], {
      scorers: new Map([['slow', slow]]),
      recovery: { initialDelayMs: 100 },
    });
    await scoring.start();
    scoring.onStored(spans);
    await waitFor(() => entries.some(isSweepDone), { what: 'the sweep' });
    await scoring.shutdown(10_000);
    expect(await recoveredByRule(metrics)).toEqual({});
    expect(await scoringSpansOf(storage, 'backlog')).toHaveLength(5);
    expect(await scoresOf(storage, 'backlog')).toHaveLength(5);
  });
});
