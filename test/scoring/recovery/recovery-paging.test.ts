import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpanRow } from '../../../src/pipeline/span-row.js';
import type { ScorerSpec } from '../../../src/scoring/rule-spec.js';
import type { ClickHouseStorage } from '../../../src/storage/clickhouse-storage.js';
import type { ScoreRow } from '../../../src/storage/score-row.js';
import { waitFor } from '../../helpers/wait-for.js';
import { agoNs, isSweepDone, MINUTE, openStorage, processor, rule, scoresOf, storedSpan } from './recovery-fixtures.js';

/**
 * Recovery reads spans back in pages bounded by bytes, one page at a time, and leaves alone a
 * span too big for a page: a sweep over huge spans used to read 256 of them at once, took RSS
 * from 337 to 1,507 MiB, put ingestion behind a 503 and did it again every interval.
 */

let storage: ClickHouseStorage;

beforeAll(async () => {
  storage = await openStorage('recovery-paging');
});

afterAll(async () => {
  await storage?.close();
});

const slowFile = join(mkdtempSync(join(tmpdir(), 'spanscore-recovery-paging-')), 'slow.mjs');
writeFileSync(slowFile, 'export default async () => { await new Promise((resolve) => setTimeout(resolve, 50)); return 1; };\n');
const slow: ScorerSpec = { name: 'slow', timeoutMs: 5_000, kind: 'module', module: slowFile, exportName: 'default' };

const KIB = 1024;

/** The real storage, noting every read of whole spans (SpanReader's query) as it is answered. */
function watchedStorage(onSpanRead: (rows: number) => void) {
  return {
    insertSpans: (rows: SpanRow[]) => storage.insertSpans(rows),
    insertScores: (rows: ScoreRow[]) => storage.insertScores(rows),
    ping: () => storage.ping(),
    query: async <T,>(sql: string, params?: Record<string, unknown>, options?: { readonly?: boolean }): Promise<T[]> => {
      const rows = await storage.query<T>(sql, params, options);
      if (sql.includes('Links.Attributes') && sql.includes('ORDER BY Timestamp DESC LIMIT {limit:UInt64}')) onSpanRead(rows.length);
      return rows;
    },
  };
}

describe('recovery pages', () => {
  it('reads spans back a page of page_mib at a time, holding two pages at most', async () => {
    // 24 spans of ~200 KB each, pages of 512 KiB: two spans a page.
    const blob = 'x'.repeat(200 * KIB);
    const spans = Array.from({ length: 24 }, (_, i) =>
      storedSpan('paged', { Timestamp: agoNs(5 * MINUTE + i * 1_000), SpanAttributes: { 'output.value': 'Paris', expected: 'Paris', blob } }),
    );
    await storage.insertSpans(spans);
    const reads: Array<{ rows: number; unscoredBefore: number }> = [];
    let read = 0;
    const paged = rule({ name: 'paged', scorers: ['slow'], project: 'paged' });
    const { scoring, entries } = processor(
      watchedStorage((rows) => {
        reads.push({ rows, unscoredBefore: read - scoring.ruleCounters.paged!.scored });
        read += rows;
      }),
      [paged],
      { scorers: new Map([['slow', slow]]), recovery: { pageBytes: 512 * KIB } },
    );
    await scoring.start();
    try {
      await waitFor(() => entries.some(isSweepDone), { timeoutMs: 30_000, what: 'the sweep' });
    } finally {
      await scoring.shutdown(10_000);
    }
    expect(read).toBe(24);
    expect(Math.max(...reads.map((r) => r.rows))).toBeLessThanOrEqual(2);
    // A page is read (ahead) only while recovery holds at most one other page of spans still unscored.
    expect(Math.max(...reads.map((r) => r.unscoredBefore))).toBeLessThanOrEqual(2);
    expect((await scoresOf(storage, 'paged')).map((row) => row.SpanId).sort()).toEqual(spans.map((span) => span.SpanId).sort());
  });

  it('does not read back a span larger than a page: it is counted and logged once, and the others are scored', async () => {
    const small = Array.from({ length: 5 }, (_, i) => storedSpan('oversized', { Timestamp: agoNs(5 * MINUTE + i * 1_000) }));
    const huge = storedSpan('oversized', { Timestamp: agoNs(4 * MINUTE), SpanAttributes: { 'output.value': 'Paris', expected: 'Paris', blob: 'y'.repeat(2 * 1024 * KIB) } });
    await storage.insertSpans([...small, huge]);
    let largestRead = 0;
    const { scoring, metrics, entries } = processor(
      watchedStorage((rows) => (largestRead = Math.max(largestRead, rows))),
      [rule({ name: 'oversized', scorers: ['ExactMatch'], project: 'oversized' })],
      { recovery: { pageBytes: 1024 * KIB, intervalMs: 1_000 } },
    );
    await scoring.start();
    try {
      // Two sweeps: the second finds the big span again and does not count it again.
      await waitFor(() => entries.filter(isSweepDone).length >= 2, { timeoutMs: 30_000, what: 'two sweeps' });
    } finally {
      await scoring.shutdown(10_000);
    }
    const skipped = await metrics.scoringRecoverySkipped.get();
    expect(skipped.values).toEqual([expect.objectContaining({ labels: { reason: 'too_big' }, value: 1 })]);
    const warnings = entries.filter((entry) => typeof entry.msg === 'string' && entry.msg.includes('larger than a page'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ rule: 'oversized', spans: 1, examples: [{ spanId: huge.SpanId }] });
    expect((warnings[0]!.examples as Array<{ bytes: number }>)[0]!.bytes).toBeGreaterThan(2 * 1024 * KIB);
    expect(largestRead).toBeLessThanOrEqual(5);
    const scored = (await scoresOf(storage, 'oversized')).map((row) => row.SpanId);
    expect(scored.sort()).toEqual(small.map((span) => span.SpanId).sort());
    // The backlog leaves it out: nothing the sweeps could do is left.
    expect((await metrics.scoringRecoveryBacklog.get()).values[0]!.value).toBe(0);
  });
});
