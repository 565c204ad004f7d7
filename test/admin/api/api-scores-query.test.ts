import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, nowNs, randomSpanId, randomTraceId, startApi, type ApiUnderTest, type TestSpan } from './api-harness.js';

const moduleDir = mkdtempSync(join(tmpdir(), 'spanscore-scores-'));
writeFileSync(join(moduleDir, 'boom.mjs'), `export default function boom() {\n  throw new Error('boom');\n}\n`);

const RULES = `
scorers:
  boom: { module: ${join(moduleDir, 'boom.mjs')} }
rules:
  - name: trend
    project: alpha
    enabled: false
    scorers: [ExactMatch, boom]
`;

const MINUTE_NS = 60_000_000_000n;
let api: ApiUnderTest;
const traceId = randomTraceId();
const now = nowNs();
// Minutes ago, and whether output matches expected (ExactMatch 1 or 0).
const PLAN: [number, boolean][] = [
  [150, true],
  [90, true],
  [91, false],
  [20, false],
];
const spans: TestSpan[] = PLAN.map(([minutesAgo, match]) => ({
  traceId,
  spanId: randomSpanId(),
  startNs: now - BigInt(minutesAgo) * MINUTE_NS,
  attributes: { 'output.value': 'a', expected: match ? 'a' : 'b' },
}));
const betaSpan: TestSpan = { traceId: randomTraceId(), spanId: randomSpanId(), project: 'beta' };

beforeAll(async () => {
  api = await startApi(RULES, { maxQueryRows: 200 });
  await api.send([...spans, betaSpan]);
  const trend = await call(api.admin, 'POST', '/score', { key: 'admin', body: { span_ids: spans.map((s) => s.spanId), trace_id: traceId, rule: 'trend' } });
  expect(trend.status, JSON.stringify(trend.body)).toBe(200);
  const beta = await call(api.admin, 'POST', '/score', { key: 'beta', body: { span_ids: [betaSpan.spanId], scorers: ['ExactMatch'] } });
  expect(beta.status, JSON.stringify(beta.body)).toBe(200);
});

afterAll(async () => {
  await api?.stop();
});

describe('GET /scores', () => {
  it('gives per scorer and hour: average, count and errors, by the scored span start time', async () => {
    const { status, body } = await call(api.admin, 'GET', '/scores?since=4h&bucket=1h&rule=trend', { key: 'readerAlpha' });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.time_column).toBe('Timestamp');
    expect(body.bucket_seconds).toBe(3600);
    expect(body.buckets).toHaveLength(5);
    const bucketOf = (span: TestSpan) => body.buckets.findLastIndex((start: string) => BigInt(Date.parse(start)) * 1_000_000n <= span.startNs!);
    const expected = body.buckets.map(() => ({ count: 0, errors: 0, sum: 0 }));
    PLAN.forEach(([, match], i) => {
      const bucket = expected[bucketOf(spans[i]!)]!;
      bucket.count++;
      bucket.sum += match ? 1 : 0;
    });

    expect(body.series.map((s: { scorer: string }) => s.scorer)).toEqual(['ExactMatch', 'boom']);
    const [exact, boom] = body.series;
    expect(exact).toMatchObject({ rule: 'trend', scorer: 'ExactMatch', count: 4, errors: 0, avg: 0.5 });
    expect(exact.buckets).toEqual(expected.map((b: { count: number; sum: number }) => ({ count: b.count, errors: 0, avg: b.count === 0 ? null : b.sum / b.count })));
    expect(boom).toMatchObject({ rule: 'trend', scorer: 'boom', count: 4, errors: 4, avg: null });
    expect(boom.buckets.map((b: { errors: number }) => b.errors)).toEqual(expected.map((b: { count: number }) => b.count));
  });

  it("shows only the scores of the key's projects", async () => {
    const alpha = await call(api.admin, 'GET', '/scores?since=4h', { key: 'readerAlpha' });
    expect(alpha.body.series.map((s: { rule: string }) => s.rule)).toEqual(['trend', 'trend']);
    const all = await call(api.admin, 'GET', '/scores?since=4h', { key: 'readerAll' });
    expect(all.body.series.map((s: { rule: string; scorer: string }) => `${s.rule}/${s.scorer}`)).toEqual(['manual/ExactMatch', 'trend/ExactMatch', 'trend/boom']);
    const beta = await call(api.admin, 'GET', '/scores?since=4h&project=beta', { key: 'readerAll' });
    expect(beta.body.series).toMatchObject([{ rule: 'manual', scorer: 'ExactMatch', count: 1, avg: 1 }]);
    const narrowed = await call(api.admin, 'GET', '/scores?since=4h&scorer=boom', { key: 'readerAll' });
    expect(narrowed.body.series).toHaveLength(1);
  });
});

describe('POST /query', () => {
  const query = (sql: string) => call(api.admin, 'POST', '/query', { key: 'readerAll', body: { sql } });

  it('returns rows, capped at admin.max_query_rows with truncated: true', async () => {
    const capped = await query('SELECT arrayJoin(range(1000)) AS number');
    expect(capped.status).toBe(200);
    expect(capped.body).toMatchObject({ row_count: 200, truncated: true, max_rows: 200 });
    expect(capped.body.rows).toHaveLength(200);
    expect(capped.body.rows[199]).toEqual({ number: 199 });
    const small = await query('-- how many\nSELECT count() AS n FROM otel_traces WHERE SpanId = ' + `'${betaSpan.spanId}';`);
    expect(small.body).toEqual({ rows: [{ n: '1' }], row_count: 1, truncated: false });
    const exact = await query('SELECT arrayJoin(range(200)) AS number');
    expect(exact.body).toMatchObject({ row_count: 200, truncated: false });
    // Only SELECTs of spanscore's tables (test/admin/api/api-query-guard.test.ts has the rest).
    const show = await query('SHOW TABLES');
    expect(show.status).toBe(400);
    expect(show.body.error.message).toBe('sql: SHOW is not allowed: only a single SELECT may run (the query endpoint is read-only)');
  });

  it('refuses writes and bad SQL with 400, and the data stays', async () => {
    for (const sql of ['DROP TABLE otel_traces', "INSERT INTO scores (Rule) VALUES ('x')", 'TRUNCATE TABLE scores', "SELECT 1 INTO OUTFILE '/tmp/x'"]) {
      const refused = await query(sql);
      expect(refused.status, sql).toBe(400);
      expect(refused.body.error.code).toBe('INVALID_ARGUMENT');
      expect(refused.body.error.message).toMatch(/^sql: .*(readonly|read-only|INTO OUTFILE)/is);
    }
    const syntax = await query('SELEC 1');
    expect(syntax.status).toBe(400);
    expect(syntax.body.error.message).toMatch(/^sql: .*Syntax error/s);
    const still = await query('SELECT count() AS n FROM scores FINAL');
    expect(still.body.rows).toEqual([{ n: '9' }]);
  });
});
