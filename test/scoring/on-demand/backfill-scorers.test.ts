import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LlmRuntimeSpec } from '../../../src/llm/llm-scorer-spec.js';
import { PROJECT_ATTRIBUTE } from '../../../src/pipeline/project.js';
import type { SpanRow } from '../../../src/pipeline/span-row.js';
import type { ScorerSpec } from '../../../src/scoring/rule-spec.js';
import { startOpenAiServer, type OpenAiServer } from '../../helpers/openai-server.js';
import { spanRow } from '../../storage/storage-fixtures.js';
import { minutesAgo, rule, startHarness, waitForJob, type Harness } from './on-demand-fixtures.js';
import { testJudge } from '../../helpers/llm-specs.js';

/**
 * Backfills with scorers that cost money or fail: errors are stored and counted, LLM spend
 * feeds the next estimate, a daily budget holds across requests, and finished jobs are kept
 * only up to a bound.
 */

const dir = mkdtempSync(join(tmpdir(), 'spanscore-backfill-scorers-'));
const throwsFile = join(dir, 'throws.mjs');
writeFileSync(throwsFile, `export default function throws() {\n  throw new Error('no opinion');\n}\n`);

let h: Harness;
let server: OpenAiServer;
const spans: SpanRow[] = [];
// 100 input tokens at $2/M + 20 output tokens at $10/M.
const CALL_COST = (100 * 2 + 20 * 10) / 1e6;

const judge = (name: string, overrides: Partial<LlmRuntimeSpec> = {}): ScorerSpec => testJudge(name, server.baseUrl, { maxConcurrency: 3, ...overrides });

let scorers: Map<string, ScorerSpec>;

beforeAll(async () => {
  h = await startHarness('backfill-scorers-test');
  server = await startOpenAiServer(() => ({ kind: 'choice', choice: 'Y', reasons: 'fine', usage: { prompt_tokens: 100, completion_tokens: 20 } }));
  scorers = new Map<string, ScorerSpec>([
    ['throws', { name: 'throws', timeoutMs: 0, kind: 'module', module: throwsFile, exportName: 'default' }],
    ['judge', judge('judge')],
  ]);
  for (let index = 0; index < 30; index++) {
    spans.push(
      spanRow({
        Timestamp: minutesAgo(index * 10 + 1),
        ParentSpanId: '',
        SpanName: 'POST /ask',
        ResourceAttributes: { 'service.name': 'app', [PROJECT_ATTRIBUTE]: 'p' },
        SpanAttributes: { output: `answer ${index}`, expected: `answer ${index}` },
      }),
    );
  }
  await h.storage.insertSpans(spans);
});

afterAll(async () => {
  await h.onDemand.close();
  await server.close();
  await h.storage.close();
});

async function storedScores(ruleName: string): Promise<Array<{ SpanId: string; Scorer: string; Score: number | null; Error: string; Details: string }>> {
  return h.storage.query(`SELECT SpanId, Scorer, Score, Error, Details FROM scores FINAL WHERE Rule = {rule:String} ORDER BY Timestamp DESC, Scorer`, { rule: ruleName });
}

describe('backfill with failing and paid scorers', () => {
  it('stores a failing scorer as an error score and counts the span as errored', async () => {
    const spec = rule({ name: 'errors', scorers: ['ExactMatch', 'throws'], project: 'p' });
    const status = await waitForJob(h.onDemand, h.onDemand.startBackfill({ rule: spec, scorers, limit: 10, force: false }).id);
    expect(status.at(-1)).toMatchObject({ state: 'done', total: 10, done: 10, scored: 0, errored: 10, skipped: 0 });
    const stored = await storedScores('errors');
    expect(stored).toHaveLength(20);
    for (const score of stored.filter((s) => s.Scorer === 'throws')) {
      expect(score.Score).toBeNull();
      expect(score.Error).toContain('no opinion');
    }
    expect(stored.filter((s) => s.Scorer === 'ExactMatch').every((s) => s.Score === 1 && s.Error === '')).toBe(true);
  });

  it('runs an LLM judge with its concurrency, stores tokens and cost, and the next estimate uses that cost', async () => {
    server.requests.length = 0;
    server.setDefault(() => ({ kind: 'choice', choice: 'Y', reasons: 'fine', usage: { prompt_tokens: 100, completion_tokens: 20 }, delayMs: 80 }));
    const spec = rule({ name: 'judged', scorers: ['judge'], project: 'p' });
    const status = await waitForJob(h.onDemand, h.onDemand.startBackfill({ rule: spec, scorers, limit: 12, force: false }).id);
    server.setDefault(() => ({ kind: 'choice', choice: 'Y', reasons: 'fine', usage: { prompt_tokens: 100, completion_tokens: 20 } }));
    // max_concurrency 3: the 4th call starts only once one of the first 3 was answered.
    const arrivals = server.requests.map((request) => request.at);
    for (let i = 0; i + 3 < arrivals.length; i++) expect(arrivals[i + 3]! - arrivals[i]!).toBeGreaterThan(60);
    // No cost history yet when it started.
    expect(status.at(-1)).toMatchObject({ state: 'done', total: 12, scored: 12, errored: 0, estimatedCostUsd: null });
    expect(server.requests).toHaveLength(12);
    const stored = await storedScores('judged');
    expect(stored.map((s) => s.SpanId)).toEqual(spans.slice(0, 12).map((span) => span.SpanId));
    for (const score of stored) {
      const details = JSON.parse(score.Details) as { rationale: string; tokens: unknown; cost_usd: number };
      expect(details).toMatchObject({ rationale: 'fine', tokens: { input: 100, output: 20 } });
      expect(details.cost_usd).toBeCloseTo(CALL_COST, 12);
    }

    const estimate = await h.onDemand.estimateBackfill({ rule: spec, scorers, limit: 20, force: false });
    expect(estimate).toMatchObject({ spans: 20, alreadyScored: 12, toScore: 8 });
    expect(estimate.estimatedCostUsd).toBeCloseTo(8 * CALL_COST, 12);
    const next = await waitForJob(h.onDemand, h.onDemand.startBackfill({ rule: spec, scorers, limit: 20, force: false }).id);
    expect(next.at(-1)!.estimatedCostUsd).toBeCloseTo(8 * CALL_COST, 12);
    expect(next.at(-1)).toMatchObject({ state: 'done', skipped: 12, scored: 8 });
  });

  it("holds a judge's daily budget against the spend stored today: nothing is run or stored, the spans count as errored", async () => {
    server.requests.length = 0;
    // 20 calls of `judge` today cost 0.008, over a 0.001 budget.
    // The same scorer after a reload that gave it a budget.
    const spec = rule({ name: 'budgeted', scorers: ['judge'], project: 'p' });
    const budgeted = new Map([['judge', judge('judge', { budgetUsdPerDay: 0.001 })]]);
    const status = await waitForJob(h.onDemand, h.onDemand.startBackfill({ rule: spec, scorers: budgeted, limit: 3, force: false }).id);
    expect(status.at(-1)).toMatchObject({ state: 'done', total: 3, scored: 0, errored: 3 });
    expect(server.requests).toHaveLength(0);
    expect(await storedScores('budgeted')).toEqual([]);
    const results = await h.onDemand.testRule({ rule: spec, scorers: budgeted, hours: 24, sample: 1 });
    expect(results.scored).toHaveLength(1);
    expect(results.scored[0]!.error).toMatch(/over its daily budget/);
  });
});

describe('job bookkeeping', () => {
  it('keeps the last 100 finished jobs', async () => {
    const spec = rule({ name: 'nothing', scorers: ['ExactMatch'], applyTo: { rootSpans: false, spanNames: ['no such span'] } });
    const ids: string[] = [];
    for (let index = 0; index < 103; index++) {
      const id = h.onDemand.startBackfill({ rule: spec, scorers, limit: 1, force: false }).id;
      ids.push(id);
      expect((await waitForJob(h.onDemand, id)).at(-1)).toMatchObject({ state: 'done', total: 0, done: 0 });
    }
    expect(new Set(ids).size).toBe(103);
    // Pruned when a job starts: the 103rd start saw 102 finished jobs and dropped 2.
    expect(h.onDemand.job(ids[0]!)).toBeUndefined();
    expect(h.onDemand.job(ids[1]!)).toBeUndefined();
    expect(h.onDemand.job(ids[2]!)).toBeDefined();
    expect(h.onDemand.job(ids[102]!)).toBeDefined();
  });
});
