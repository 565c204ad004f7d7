import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, nowNs, randomSpanId, randomTraceId, startApi, type ApiUnderTest, type TestSpan } from './api-harness.js';

const RULES = `
rules:
  - name: alpha-roots
    project: alpha
    scorers: [ExactMatch]
  - name: by-hand
    project: alpha
    scorers: [ExactMatch, Levenshtein]
    enabled: false
  - name: backfill
    project: alpha
    scorers: [ExactMatch]
    apply_to: { span_names: [bf.span] }
    enabled: false
`;

let api: ApiUnderTest;

beforeAll(async () => {
  api = await startApi(RULES);
});

afterAll(async () => {
  await api?.stop();
});

async function counts(): Promise<{ scores: number; spans: number }> {
  const [row] = await api.sql<{ scores: string; spans: string }>('SELECT (SELECT count() FROM scores) AS scores, (SELECT count() FROM otel_traces) AS spans');
  return { scores: Number(row!.scores), spans: Number(row!.spans) };
}

/** Online scoring (daemon mode) lands asynchronously: wait until nothing changes for a while. */
async function settled(): Promise<{ scores: number; spans: number }> {
  let last = await counts();
  for (let stable = 0; stable < 3; ) {
    await new Promise((r) => setTimeout(r, 300));
    const next = await counts();
    stable = next.scores === last.scores && next.spans === last.spans ? stable + 1 : 0;
    last = next;
  }
  return last;
}

async function waitForJob(id: string): Promise<any> {
  for (let i = 0; i < 600; i++) {
    const { status, body } = await call(api.admin, 'GET', `/jobs/${id}`, { key: 'readerAll' });
    expect(status).toBe(200);
    if (body.state !== 'running') return body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${id} still running`);
}

describe('POST /rules/test', () => {
  it('scores a sample of matching spans with a configured rule and stores nothing', async () => {
    const spans: TestSpan[] = Array.from({ length: 4 }, (_, i) => ({
      traceId: randomTraceId(),
      spanId: randomSpanId(),
      attributes: { 'input.value': `q${i}`, 'output.value': 'a', expected: i % 2 === 0 ? 'a' : 'b' },
    }));
    await api.send(spans);
    const before = await settled();
    const { status, body } = await call(api.admin, 'POST', '/rules/test', { key: 'readerAlpha', body: { rule: 'alpha-roots', hours: 1, sample: 3 } });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ rule: 'alpha-roots', hours: 1, matched: 4, sampled: 4, estimatedCostPerDayUsd: null });
    expect(body.spansPerDay).toBeCloseTo(4 * 24);
    expect(body.scored).toHaveLength(3);
    expect(body.scored.map((s: { scorer: string }) => s.scorer)).toEqual(['ExactMatch', 'ExactMatch', 'ExactMatch']);
    expect(await counts()).toEqual(before);
  });

  it('takes a whole rule body that is not in the config', async () => {
    const { status, body } = await call(api.admin, 'POST', '/rules/test', {
      key: 'admin',
      body: { rule: { name: 'draft', scorers: ['Levenshtein'], filter: "output = 'a'" }, hours: 1, sample: 2 },
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.rule).toBe('draft');
    expect(body.scored).toHaveLength(2);
    for (const result of body.scored) expect(result).toMatchObject({ rule: 'draft', scorer: 'Levenshtein', score: expect.any(Number), error: '' });
  });
});

describe('POST /score', () => {
  it('scores the named spans with a rule now and stores the scores with Source manual', async () => {
    const traceId = randomTraceId();
    const spans: TestSpan[] = [
      { traceId, spanId: randomSpanId() },
      { traceId, spanId: randomSpanId(), parentSpanId: '1111111111111111', name: 'child', attributes: { 'output.value': 'x', expected: 'y' } },
    ];
    await api.send(spans);
    const { status, body } = await call(api.admin, 'POST', '/score', {
      key: 'updaterAlpha',
      body: { span_ids: spans.map((s) => s.spanId), trace_id: traceId, rule: 'by-hand' },
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.rule).toBe('by-hand');
    expect(body.scored).toHaveLength(4);
    const rows = await api.sql<{ SpanId: string; Scorer: string; Score: number; Source: string; Project: string }>(
      `SELECT SpanId, Scorer, Score, Source, Project FROM scores FINAL WHERE Rule = 'by-hand' AND TraceId = '${traceId}' ORDER BY SpanId, Scorer`,
    );
    expect(rows).toHaveLength(4);
    expect(new Set(rows.map((r) => r.Source))).toEqual(new Set(['manual']));
    expect(new Set(rows.map((r) => r.Project))).toEqual(new Set(['alpha']));
    const child = rows.filter((r) => r.SpanId === spans[1]!.spanId);
    expect(child.find((r) => r.Scorer === 'ExactMatch')!.Score).toBe(0);
  });

  it('scores with a list of scorers under the rule "manual"', async () => {
    const span = { traceId: randomTraceId(), spanId: randomSpanId() };
    await api.send([span]);
    const { status, body } = await call(api.admin, 'POST', '/score', { key: 'updaterAlpha', body: { span_ids: [span.spanId], scorers: ['ExactMatch'] } });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.scored).toMatchObject([{ spanId: span.spanId, rule: 'manual', scorer: 'ExactMatch', score: 1, error: '' }]);
    // The online rule alpha-roots scores the same root span in the background: leave its row out.
    const rows = await api.sql(`SELECT Rule, Source FROM scores FINAL WHERE SpanId = '${span.spanId}' AND Rule != 'alpha-roots'`);
    expect(rows).toEqual([{ Rule: 'manual', Source: 'manual' }]);
  });
});

describe('POST /backfill', () => {
  it('scores exactly the 50 most recent of 80 matching spans; a second run skips them; force scores them again', async () => {
    const base = nowNs() - 600_000_000_000n;
    const spans: TestSpan[] = Array.from({ length: 80 }, (_, i) => ({
      traceId: randomTraceId(),
      spanId: randomSpanId(),
      parentSpanId: 'aaaaaaaaaaaaaaaa',
      name: 'bf.span',
      startNs: base + BigInt(i) * 1_000_000_000n,
    }));
    // Spans the rule does not select: another name, another project.
    await api.send([...spans, { traceId: randomTraceId(), spanId: randomSpanId(), name: 'other' }, { traceId: randomTraceId(), spanId: randomSpanId(), name: 'bf.span', project: 'beta' }]);
    const newest = new Set(spans.slice(30).map((s) => s.spanId));

    const dry = await call(api.admin, 'POST', '/backfill', { key: 'updaterAlpha', body: { rule: 'backfill', dry_run: true } });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body).toEqual({ estimate: { spans: 50, alreadyScored: 0, toScore: 50, estimatedCostUsd: null } });
    expect(await api.sql(`SELECT count() AS n FROM scores WHERE Rule = 'backfill'`)).toEqual([{ n: '0' }]);

    const first = await call(api.admin, 'POST', '/backfill', { key: 'updaterAlpha', body: { rule: 'backfill', since: '1h' } });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body.job).toMatchObject({ rule: 'backfill' });
    expect(await waitForJob(first.body.job.id)).toMatchObject({ state: 'done', total: 50, done: 50, scored: 50, skipped: 0, errored: 0 });
    const scored = await api.sql<{ SpanId: string; Source: string }>(`SELECT SpanId, Source FROM scores FINAL WHERE Rule = 'backfill'`);
    expect(scored).toHaveLength(50);
    expect(new Set(scored.map((r) => r.SpanId))).toEqual(newest);
    expect(new Set(scored.map((r) => r.Source))).toEqual(new Set(['backfill']));

    const second = await call(api.admin, 'POST', '/backfill', { key: 'updaterAlpha', body: { rule: 'backfill' } });
    expect(second.body.estimate).toEqual({ spans: 50, alreadyScored: 50, toScore: 0, estimatedCostUsd: null });
    expect(await waitForJob(second.body.job.id)).toMatchObject({ state: 'done', total: 50, scored: 0, skipped: 50 });

    const [{ at: before }] = await api.sql<{ at: string }>(`SELECT toString(max(ScoredAt)) AS at FROM scores FINAL WHERE Rule = 'backfill'`);
    const forced = await call(api.admin, 'POST', '/backfill', { key: 'updaterAlpha', body: { rule: 'backfill', force: true } });
    expect(forced.body.estimate).toMatchObject({ spans: 50, alreadyScored: 50, toScore: 50 });
    expect(await waitForJob(forced.body.job.id)).toMatchObject({ state: 'done', scored: 50, skipped: 0 });
    const after = await api.sql<{ n: string; oldest: string }>(`SELECT count() AS n, toString(min(ScoredAt)) AS oldest FROM scores FINAL WHERE Rule = 'backfill'`);
    expect(after[0]!.n).toBe('50');
    expect(after[0]!.oldest > before!).toBe(true);
  });

  it('narrows with a filter and a time range', async () => {
    const old = nowNs() - 3n * 3_600_000_000_000n;
    const spans: TestSpan[] = [
      { traceId: randomTraceId(), spanId: randomSpanId(), name: 'bf.span', attributes: { 'output.value': 'keep', expected: 'keep' } },
      { traceId: randomTraceId(), spanId: randomSpanId(), name: 'bf.span', attributes: { 'output.value': 'keep', expected: 'keep' }, startNs: old },
    ];
    await api.send(spans);
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const { status, body } = await call(api.admin, 'POST', '/backfill', { key: 'admin', body: { rule: 'backfill', filter: "output = 'keep'", from, dry_run: true } });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.estimate).toMatchObject({ spans: 1, toScore: 1 });
  });
});
