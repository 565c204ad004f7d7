import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../../src/admin/logger.js';
import { PROJECT_ATTRIBUTE } from '../../../src/pipeline/project.js';
import type { SpanRow } from '../../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../../../src/scoring/field-conventions.js';
import { OnDemandScoring } from '../../../src/scoring/on-demand/on-demand-scoring.js';
import type { BackfillRequest } from '../../../src/scoring/on-demand/on-demand-types.js';
import type { ScorerSpec } from '../../../src/scoring/rule-spec.js';
import { hexId, scoreRow, spanRow } from '../../storage/storage-fixtures.js';
import { filter, minutesAgo, NOW_NS, rule, startHarness, waitForJob, type Harness } from './on-demand-fixtures.js';

/**
 * Backfills and hand-picked scoring against a real ClickHouse: which spans, how many, what is
 * stored (scores rows and scoring spans with their Source), skipping, forcing, estimates.
 */

const dir = mkdtempSync(join(tmpdir(), 'spanscore-backfill-modules-'));
const slowFile = join(dir, 'slow.mjs');
writeFileSync(slowFile, `export default async () => { await new Promise((resolve) => setTimeout(resolve, 150)); return 1; };\n`);
const lengthFile = join(dir, 'length.mjs');
writeFileSync(lengthFile, `export default ({ output }) => ({ score: Math.min(1, String(output).length / 10), metadata: { chars: String(output).length } });\n`);

const scorers = new Map<string, ScorerSpec>([
  ['length', { name: 'length', timeoutMs: 0, kind: 'module', module: lengthFile, exportName: 'default' }],
  ['slow', { name: 'slow', timeoutMs: 5_000, kind: 'module', module: slowFile, exportName: 'default' }],
]);

let h: Harness;
/** 80 root spans of project `bf`, most recent first, every one a minute apart. */
const matching: SpanRow[] = [];

interface StoredScore {
  TraceId: string;
  SpanId: string;
  ScoringSpanId: string;
  Scorer: string;
  Score: number | null;
  Source: string;
  ScoredAt: string;
}

async function scoresOf(ruleName: string): Promise<StoredScore[]> {
  return h.storage.query<StoredScore>(
    `SELECT TraceId, SpanId, ScoringSpanId, Scorer, Score, Source, toString(toUnixTimestamp64Nano(ScoredAt)) AS ScoredAt FROM scores FINAL WHERE Rule = {rule:String} ORDER BY Timestamp DESC`,
    { rule: ruleName },
  );
}

async function scoringSpansOf(ruleName: string): Promise<Array<{ TraceId: string; SpanId: string; ParentSpanId: string; SpanAttributes: Record<string, string> }>> {
  return h.storage.query(`SELECT TraceId, SpanId, ParentSpanId, SpanAttributes FROM otel_traces WHERE ScopeName = 'spanscore' AND SpanAttributes['spanscore.rule'] = {rule:String}`, {
    rule: ruleName,
  });
}

function request(overrides: Partial<BackfillRequest> & Pick<BackfillRequest, 'rule'>): BackfillRequest {
  return { scorers, limit: 50, force: false, ...overrides };
}

const bfRule = (name: string, scorerNames = ['ExactMatch']) =>
  // Sampling 10%: a backfill ignores it.
  rule({ name, scorers: scorerNames, project: 'bf', samplingRate: 0.1 });

beforeAll(async () => {
  h = await startHarness('backfill-test');
  for (let index = 0; index < 80; index++) {
    matching.push(
      spanRow({
        ServiceName: 'bf-app',
        Timestamp: minutesAgo(index * 60 + 5),
        ParentSpanId: '',
        SpanName: 'POST /ask',
        ResourceAttributes: { 'service.name': 'bf-app', [PROJECT_ATTRIBUTE]: 'bf' },
        SpanAttributes: { output: index % 2 === 0 ? 'Paris' : 'Lyon', expected: 'Paris', tier: index % 4 === 0 ? 'gold' : 'basic' },
      }),
    );
  }
  const otherProject = matching.slice(0, 10).map((span) => spanRow({ ...span, SpanId: hexId(8), TraceId: hexId(16), ResourceAttributes: { 'service.name': 'bf-app', [PROJECT_ATTRIBUTE]: 'other' } }));
  const children = matching.slice(0, 10).map((span) => spanRow({ ...span, SpanId: hexId(8), ParentSpanId: span.SpanId }));
  // A duplicate row of a matching span (a retried insert): still one span to score.
  await h.storage.insertSpans([...matching, ...otherProject, ...children, { ...matching[3]! }]);
});

afterAll(async () => {
  await h.onDemand.close();
  await h.storage.close();
});

describe('backfill', () => {
  it('estimates, then scores exactly the 50 most recent of 80 matching spans, ignoring sampling', async () => {
    const spec = bfRule('bf-main');
    expect(await h.onDemand.estimateBackfill(request({ rule: spec }))).toEqual({ spans: 50, alreadyScored: 0, toScore: 50, estimatedCostUsd: null });
    const started = h.onDemand.startBackfill(request({ rule: spec }));
    expect(started).toMatchObject({ rule: 'bf-main', state: 'running', done: 0 });
    expect(started.id).toMatch(/^[0-9a-f]{12}$/);
    const seen = await waitForJob(h.onDemand, started.id);
    const last = seen.at(-1)!;
    expect(last).toMatchObject({ state: 'done', total: 50, done: 50, skipped: 0, scored: 50, errored: 0, estimatedCostUsd: null });
    expect(last.error).toBeUndefined();
    expect(Date.parse(last.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(last.startedAt));
    // Progress only moves forward.
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.done).toBeGreaterThanOrEqual(seen[i - 1]!.done);

    const stored = await scoresOf('bf-main');
    expect(stored.map((score) => score.SpanId)).toEqual(matching.slice(0, 50).map((span) => span.SpanId));
    expect(new Set(stored.map((score) => score.Source))).toEqual(new Set(['backfill']));
    expect(stored.map((score) => score.Score)).toEqual(matching.slice(0, 50).map((span) => (span.SpanAttributes.output === 'Paris' ? 1 : 0)));
    const scoringSpans = await scoringSpansOf('bf-main');
    expect(scoringSpans).toHaveLength(50);
    for (const span of scoringSpans) {
      expect(span.SpanAttributes['spanscore.source']).toBe('backfill');
      const score = stored.find((s) => s.ScoringSpanId === span.SpanId)!;
      expect(span).toMatchObject({ TraceId: score.TraceId, ParentSpanId: score.SpanId });
    }
  });

  it('skips what is already scored on a second run, and rescores all of it with force', async () => {
    const spec = bfRule('bf-main');
    expect(await h.onDemand.estimateBackfill(request({ rule: spec }))).toEqual({ spans: 50, alreadyScored: 50, toScore: 0, estimatedCostUsd: null });
    expect(await h.onDemand.estimateBackfill(request({ rule: spec, force: true }))).toEqual({ spans: 50, alreadyScored: 50, toScore: 50, estimatedCostUsd: null });
    const first = await scoresOf('bf-main');

    const again = await waitForJob(h.onDemand, h.onDemand.startBackfill(request({ rule: spec })).id);
    expect(again.at(-1)).toMatchObject({ state: 'done', total: 50, done: 50, skipped: 50, scored: 0, errored: 0 });
    expect(await scoresOf('bf-main')).toEqual(first);
    expect(await scoringSpansOf('bf-main')).toHaveLength(50);

    const forced = await waitForJob(h.onDemand, h.onDemand.startBackfill(request({ rule: spec, force: true })).id);
    expect(forced.at(-1)).toMatchObject({ state: 'done', total: 50, done: 50, skipped: 0, scored: 50, errored: 0 });
    const rescored = await scoresOf('bf-main');
    expect(rescored.map((score) => score.SpanId)).toEqual(first.map((score) => score.SpanId));
    for (const [i, score] of rescored.entries()) expect(BigInt(score.ScoredAt)).toBeGreaterThan(BigInt(first[i]!.ScoredAt));
    expect(await scoringSpansOf('bf-main')).toHaveLength(100);
  });

  it('a larger limit scores only the rest', async () => {
    const spec = bfRule('bf-main');
    const status = await waitForJob(h.onDemand, h.onDemand.startBackfill(request({ rule: spec, limit: 100 })).id);
    expect(status.at(-1)).toMatchObject({ state: 'done', total: 80, skipped: 50, scored: 30, errored: 0 });
    expect(await scoresOf('bf-main')).toHaveLength(80);
  });

  it('narrows by an extra filter and a time range', async () => {
    const spec = bfRule('bf-narrow', ['length']);
    const fromNs = matching[60]!.Timestamp;
    const toNs = matching[9]!.Timestamp;
    const req = request({ rule: spec, extraFilter: filter("attributes.tier = 'gold'"), fromNs, toNs, limit: 100 });
    // Spans 10..60 (toNs is exclusive), gold ones: every 4th.
    const expected = matching.slice(10, 61).filter((span) => span.SpanAttributes.tier === 'gold');
    expect(expected.length).toBe(13);
    expect(await h.onDemand.estimateBackfill(req)).toEqual({ spans: 13, alreadyScored: 0, toScore: 13, estimatedCostUsd: null });
    const status = await waitForJob(h.onDemand, h.onDemand.startBackfill(req).id);
    expect(status.at(-1)).toMatchObject({ state: 'done', total: 13, scored: 13, errored: 0, skipped: 0 });
    expect((await scoresOf('bf-narrow')).map((score) => score.SpanId)).toEqual(expected.map((span) => span.SpanId));
  });

  it('refuses a limit over the cap, or a malformed request, with a RangeError', () => {
    const spec = bfRule('bf-refused');
    h.cap.value = 60;
    try {
      expect(() => h.onDemand.startBackfill(request({ rule: spec, limit: 61 }))).toThrow(RangeError);
      expect(() => h.onDemand.startBackfill(request({ rule: spec, limit: 0 }))).toThrow(RangeError);
      expect(() => h.onDemand.startBackfill(request({ rule: spec, fromNs: '12e9' }))).toThrow(RangeError);
      expect(() => h.onDemand.startBackfill(request({ rule: spec, toNs: '99999999999999999999' }))).toThrow(RangeError);
      expect(() => h.onDemand.startBackfill(request({ rule: bfRule('bf-refused', []) }))).toThrow(RangeError);
    } finally {
      h.cap.value = 1_000;
    }
    expect(h.onDemand.job('000000000000')).toBeUndefined();
  });

  it('estimates the cost from the mean cost of each scorer over its last 7 days of scores', async () => {
    const dayNs = 86_400n * 1_000_000_000n;
    await h.storage.insertScores([
      scoreRow({ Rule: 'elsewhere', Scorer: 'judge', Details: '{"cost_usd":0.002}', ScoredAt: String(NOW_NS - dayNs) }),
      scoreRow({ Rule: 'elsewhere', Scorer: 'judge', Details: '{"cost_usd":0.004}', ScoredAt: String(NOW_NS - 2n * dayNs) }),
      // Too old, without a cost, or an unpriced model: none of these count.
      scoreRow({ Rule: 'elsewhere', Scorer: 'judge', Details: '{"cost_usd":1}', ScoredAt: String(NOW_NS - 8n * dayNs) }),
      scoreRow({ Rule: 'elsewhere', Scorer: 'judge', Details: '{"model":"m"}', ScoredAt: String(NOW_NS - dayNs) }),
      scoreRow({ Rule: 'elsewhere', Scorer: 'judge', Details: '{"cost_usd":null}', ScoredAt: String(NOW_NS - dayNs) }),
      scoreRow({ Rule: 'elsewhere', Scorer: 'critic', Details: '{"cost_usd":0.01}', ScoredAt: String(NOW_NS - dayNs) }),
    ]);
    const both = bfRule('bf-costly', ['ExactMatch', 'judge', 'critic']);
    const estimate = await h.onDemand.estimateBackfill(request({ rule: both, limit: 40 }));
    expect(estimate).toMatchObject({ spans: 40, alreadyScored: 0, toScore: 40 });
    expect(estimate.estimatedCostUsd).toBeCloseTo(40 * (0.003 + 0.01), 12);
    const judgeOnly = await h.onDemand.estimateBackfill(request({ rule: bfRule('bf-main', ['judge']), limit: 70 }));
    expect(judgeOnly).toMatchObject({ spans: 70, alreadyScored: 70, toScore: 0 });
    expect(judgeOnly.estimatedCostUsd).toBe(0);
  });
});

describe('scoreSpans', () => {
  it('stores the scores of exactly the given spans with Source manual, whatever the rule selects', async () => {
    // Children: the rule's apply_to (root spans) would not select them.
    const picked = await h.reader.matching({ where: "SpanName = 'POST /ask' AND ParentSpanId != ''", limit: 3 });
    expect(picked).toHaveLength(3);
    const spec = rule({ name: 'by-hand', scorers: ['ExactMatch', 'length'], samplingRate: 0 });
    const results = await h.onDemand.scoreSpans({ spans: picked, rule: spec, scorers, source: 'manual' });
    expect(results).toHaveLength(6);
    for (const span of picked) {
      const own = results.filter((result) => result.spanId === span.SpanId);
      expect(own.map((result) => result.scorer)).toEqual(['ExactMatch', 'length']);
      expect(own[1]).toMatchObject({ traceId: span.TraceId, spanName: 'POST /ask', rule: 'by-hand', error: '', details: { chars: span.SpanAttributes.output!.length } });
    }
    const stored = await scoresOf('by-hand');
    expect(stored).toHaveLength(6);
    expect(new Set(stored.map((score) => score.Source))).toEqual(new Set(['manual']));
    expect(new Set(stored.map((score) => score.SpanId))).toEqual(new Set(picked.map((span) => span.SpanId)));
    const scoringSpans = await scoringSpansOf('by-hand');
    expect(scoringSpans).toHaveLength(6);
    for (const span of scoringSpans) {
      expect(span.SpanAttributes['spanscore.source']).toBe('manual');
      expect(picked.map((p) => p.SpanId)).toContain(span.ParentSpanId);
    }
    expect(await h.onDemand.scoreSpans({ spans: [], rule: spec, scorers, source: 'manual' })).toEqual([]);
  });
});

describe('close', () => {
  it('stops running jobs as failed with "shutting down" and refuses new work', async () => {
    const onDemand = new OnDemandScoring({
      storage: h.storage,
      reader: h.reader,
      conventions: () => DEFAULT_FIELD_CONVENTIONS,
      metrics: new DaemonMetrics({ processMetrics: false }),
      logger: silentLogger(),
      maxBackfillSpans: () => 1_000,
      workers: 2,
    });
    const started = onDemand.startBackfill(request({ rule: bfRule('bf-slow', ['slow']), limit: 80 }));
    // Let it get into its first batch.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await onDemand.close();
    const status = onDemand.job(started.id)!;
    expect(status).toMatchObject({ state: 'failed', error: 'shutting down' });
    expect(status.done).toBeLessThan(80);
    expect(status.finishedAt).toBeDefined();
    expect(() => onDemand.startBackfill(request({ rule: bfRule('bf-slow', ['slow']) }))).toThrow(/shut down/);
    await expect(onDemand.testRule({ rule: bfRule('bf-slow'), scorers, hours: 1, sample: 1 })).rejects.toThrow(/shut down/);
    // Nothing more is stored after close.
    const count = (await scoresOf('bf-slow')).length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await scoresOf('bf-slow')).toHaveLength(count);
  });
});
