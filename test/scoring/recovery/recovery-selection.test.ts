import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRuleFilter } from '../../../src/config/rule-filter.js';
import { TraceIdSampler } from '../../../src/scoring/trace-id-sampler.js';
import type { ClickHouseStorage } from '../../../src/storage/clickhouse-storage.js';
import { hexId, scoreRow } from '../../storage/storage-fixtures.js';
import { agoNs, MINUTE, openStorage, processor, rule, scoresOf, scoringSpansOf, storedSpan, sweepOnce } from './recovery-fixtures.js';

/**
 * Which spans a recovery sweep scores: those its rules select (project, apply_to, filter,
 * sampling) that started in [now - window, now - min_age] and lack some of their scores,
 * for the missing scorers only, and nothing else. Every test has its own project (rules
 * select by project), so the tests share one ClickHouse without seeing each other's spans.
 */

let storage: ClickHouseStorage;

beforeAll(async () => {
  storage = await openStorage('recovery-selection');
});

afterAll(async () => {
  await storage?.close();
});

const keyOf = (row: { SpanId: string; Scorer: string }) => `${row.SpanId}/${row.Scorer}`;

describe('a recovery sweep', () => {
  it('scores, once, the selected spans stored without scores (as after a crash)', async () => {
    const spans = Array.from({ length: 20 }, (_, i) => storedSpan('crash', { Timestamp: agoNs(5 * MINUTE + i * 1_000) }));
    // Not selected by the rule (root spans only), and a retried insert's duplicate of a span.
    const child = storedSpan('crash', { ParentSpanId: hexId(8) });
    await storage.insertSpans([...spans, child, spans[0]!]);
    const crash = rule({ name: 'crash', scorers: ['ExactMatch'], project: 'crash' });

    const first = await sweepOnce(storage, [crash]);
    expect(first.recovered).toEqual({ crash: 20 });
    const rows = await scoresOf(storage, 'crash');
    expect(rows.map((row) => row.SpanId).sort()).toEqual(spans.map((span) => span.SpanId).sort());
    expect(new Set(rows.map((row) => `${row.Scorer} ${row.Score} ${row.Source}`))).toEqual(new Set(['ExactMatch 1 online']));
    // Source stays `online`; the scoring span tells recovered scores apart.
    const scoringSpans = await scoringSpansOf(storage, 'crash');
    expect(scoringSpans).toHaveLength(20);
    expect(new Set(scoringSpans.map((span) => span.SpanAttributes['spanscore.recovered']))).toEqual(new Set(['true']));
    const done = first.entries.find((entry) => entry.msg === 'scoring recovery: scored 20 missing score(s) of 20 span(s)');
    expect(done).toMatchObject({ rules: { crash: { spans: 20, scores: 20 } }, spans: 20, scores: 20 });

    // The next start finds nothing left.
    const second = await sweepOnce(storage, [crash]);
    expect(second.recovered).toEqual({});
    expect(second.entries.some((entry) => entry.msg === 'scoring recovery: nothing to recover')).toBe(true);
    expect(await scoresOf(storage, 'crash')).toEqual(rows);
  });

  it('leaves already scored spans untouched, and fills only the missing scorers of partly scored ones', async () => {
    const spans = Array.from({ length: 10 }, (_, i) => storedSpan('partial', { Timestamp: agoNs(10 * MINUTE + i * 1_000) }));
    await storage.insertSpans(spans);
    const existing = [
      // ExactMatch done for 0-4, Levenshtein for 3-6 (ScoredAt is what a rewrite would change).
      ...spans.slice(0, 5).map((span) => ({ span, scorer: 'ExactMatch' })),
      ...spans.slice(3, 7).map((span) => ({ span, scorer: 'Levenshtein' })),
    ].map(({ span, scorer }) =>
      scoreRow({ Timestamp: span.Timestamp, TraceId: span.TraceId, SpanId: span.SpanId, Rule: 'partial', Scorer: scorer, Score: 0.25, ScoredAt: agoNs(MINUTE) }),
    );
    await storage.insertScores(existing);
    const before = await scoresOf(storage, 'partial');

    const { recovered } = await sweepOnce(storage, [rule({ name: 'partial', scorers: ['ExactMatch', 'Levenshtein'], project: 'partial' })]);
    expect(recovered).toEqual({ partial: 11 });
    const after = await scoresOf(storage, 'partial');
    const keys = after.map(keyOf);
    // One row per (span, scorer): all 20, none twice.
    expect(keys).toHaveLength(20);
    expect(new Set(keys).size).toBe(20);
    // The rows that were there are the same rows (same scoring span, time and score).
    for (const row of before) expect(after).toContainEqual(row);
    const added = after.filter((row) => !before.some((old) => keyOf(old) === keyOf(row)));
    expect(added.map(keyOf).sort()).toEqual(
      [...spans.slice(5).map((span) => `${span.SpanId}/ExactMatch`), ...[0, 1, 2, 7, 8, 9].map((i) => `${spans[i]!.SpanId}/Levenshtein`)].sort(),
    );
    expect(new Set(added.map((row) => row.Score))).toEqual(new Set([1]));
  });

  it('leaves spans younger than min_age to the live pipeline, and older than the window alone', async () => {
    const young = storedSpan('ages', { Timestamp: agoNs(20_000) });
    const inWindow = storedSpan('ages', { Timestamp: agoNs(30 * MINUTE) });
    const old = storedSpan('ages', { Timestamp: agoNs(2 * 60 * MINUTE) });
    await storage.insertSpans([young, inWindow, old]);
    const { recovered } = await sweepOnce(storage, [rule({ name: 'ages', scorers: ['ExactMatch'], project: 'ages' })]);
    expect(recovered).toEqual({ ages: 1 });
    expect((await scoresOf(storage, 'ages')).map((row) => row.SpanId)).toEqual([inWindow.SpanId]);
  });

  it("respects the rule's project, apply_to, filter and sampling, exactly as the live pipeline", async () => {
    const spans = Array.from({ length: 400 }, (_, i) =>
      storedSpan(i % 10 === 0 ? 'elsewhere' : 'sampled', {
        Timestamp: agoNs(5 * MINUTE + i * 100),
        SpanName: i % 3 === 0 ? 'chat' : 'llm',
        ParentSpanId: i % 2 === 0 ? '' : hexId(8),
        SpanAttributes: { 'output.value': 'Paris', expected: 'Paris', tier: i % 4 < 2 ? 'gold' : 'basic' },
      }),
    );
    await storage.insertSpans(spans);
    const filterText = "attributes.tier = 'gold'";
    const expr = parseRuleFilter(filterText, (message) => {
      throw new Error(message);
    })!;
    const sampledRule = rule({ name: 'sampled', scorers: ['ExactMatch'], project: 'sampled', samplingRate: 0.5, applyTo: { rootSpans: false, spanNames: ['llm'] }, filter: { text: filterText, expr } });
    const sampler = new TraceIdSampler(0.5);
    const expected = spans.filter(
      (span) =>
        span.ResourceAttributes['spanscore.project'] === 'sampled' && span.SpanName === 'llm' && span.SpanAttributes.tier === 'gold' && sampler.shouldSample(span.TraceId),
    );
    // Enough on both sides for the comparison to mean something.
    expect(expected.length).toBeGreaterThan(20);
    expect(expected.length).toBeLessThan(100);

    const { recovered } = await sweepOnce(storage, [sampledRule]);
    expect(recovered).toEqual({ sampled: expected.length });
    expect((await scoresOf(storage, 'sampled')).map((row) => row.SpanId).sort()).toEqual(expected.map((span) => span.SpanId).sort());
  });

  it('queues at most max_spans per sweep, most recent first, shared between rules', async () => {
    const spans = Array.from({ length: 30 }, (_, i) => storedSpan('capped', { Timestamp: agoNs(5 * MINUTE + i * 1_000) }));
    await storage.insertSpans(spans);
    const rules = [rule({ name: 'capped-a', scorers: ['ExactMatch'], project: 'capped' }), rule({ name: 'capped-b', scorers: ['ExactMatch'], project: 'capped' })];
    const { recovered } = await sweepOnce(storage, rules, { recovery: { maxSpans: 20 } });
    expect(recovered).toEqual({ 'capped-a': 10, 'capped-b': 10 });
    for (const name of ['capped-a', 'capped-b']) {
      expect((await scoresOf(storage, name)).map((row) => row.SpanId).sort()).toEqual(spans.slice(0, 10).map((span) => span.SpanId).sort());
    }
  });

  it('has nothing to sweep for when no span rule is enabled', async () => {
    await storage.insertSpans([storedSpan('off')]);
    const { scoring, entries } = processor(storage, [rule({ name: 'off-a', scorers: ['ExactMatch'], project: 'off', enabled: false })]);
    await scoring.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await scoring.shutdown(1_000);
    expect(entries.some((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('scoring recovery'))).toBe(false);
    expect(await scoresOf(storage, 'off-a')).toEqual([]);
  });
});
