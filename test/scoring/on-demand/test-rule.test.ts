import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFilter } from '../../../src/filter/js-filter-compiler.js';
import type { LlmRuntimeSpec } from '../../../src/llm/llm-scorer-spec.js';
import { PROJECT_ATTRIBUTE } from '../../../src/pipeline/project.js';
import type { SpanRow } from '../../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../../../src/scoring/field-conventions.js';
import type { RuleSpec, ScorerSpec } from '../../../src/scoring/rule-spec.js';
import { SpanSelector } from '../../../src/scoring/span-selector.js';
import { TraceIdSampler } from '../../../src/scoring/trace-id-sampler.js';
import { startOpenAiServer, type OpenAiServer } from '../../helpers/openai-server.js';
import { hexId, spanRow } from '../../storage/storage-fixtures.js';
import { filter, minutesAgo, NOW_NS, rule, startHarness, tableCounts, type Harness } from './on-demand-fixtures.js';
import { testJudge } from '../../helpers/llm-specs.js';

/**
 * testRule over stored traffic: counts done in ClickHouse agree with the live pipeline's JS
 * selection and sampling, the K most recent matches are scored, and nothing is stored.
 */

let h: Harness;
let server: OpenAiServer;
const spans: SpanRow[] = [];
const noScorers = new Map<string, ScorerSpec>();

beforeAll(async () => {
  h = await startHarness('test-rule-test');
  server = await startOpenAiServer(() => ({ kind: 'choice', choice: 'Y', reasons: 'the answer is right', usage: { prompt_tokens: 100, completion_tokens: 20 } }));
  const projects = ['shop', 'shop', 'blog', undefined];
  const names = ['POST /ask', 'chat', 'db query'];
  for (let index = 0; index < 400; index++) {
    // 0..100 and 140..300 minutes ago: no span sits near the 2 h edge the tests use.
    const minutes = index < 200 ? index / 2 : 140 + (index - 200) * 0.8;
    const project = projects[index % projects.length];
    const resource: Record<string, string> = { 'service.name': 'shop-app' };
    if (project !== undefined) resource[PROJECT_ATTRIBUTE] = project;
    spans.push(
      spanRow({
        ServiceName: 'shop-app',
        Timestamp: minutesAgo(minutes, index),
        ParentSpanId: index % 5 === 0 ? '' : hexId(8),
        SpanName: names[index % names.length],
        ResourceAttributes: resource,
        SpanAttributes: { topic: index % 3 === 0 ? 'billing' : 'support', input: `question ${index}`, output: index % 4 === 0 ? 'Paris' : 'Lyon', expected: 'Paris' },
      }),
    );
  }
  // Scoring spans that the rules' criteria would match: never counted, never scored.
  const scoring = spans.slice(0, 20).map((span) => spanRow({ ...span, SpanId: hexId(8), ScopeName: 'spanscore' }));
  await h.storage.insertSpans([...spans, ...scoring]);
});

afterAll(async () => {
  await h.onDemand.close();
  await server.close();
  await h.storage.close();
});

/** The live pipeline's decision, span by span, for spans of the last `hours`. */
function expectedMatches(spec: RuleSpec, hours: number): SpanRow[] {
  const selector = new SpanSelector(spec.applyTo);
  const predicate = spec.filter && compileFilter(spec.filter.expr, DEFAULT_FIELD_CONVENTIONS);
  const since = NOW_NS - BigInt(hours * 3600) * 1_000_000_000n;
  return spans
    .filter((span) => BigInt(span.Timestamp) >= since)
    .filter((span) => spec.project === undefined || span.ResourceAttributes[PROJECT_ATTRIBUTE] === spec.project)
    .filter((span) => selector.matches(span))
    .filter((span) => predicate === undefined || predicate.matches(span))
    .sort((a, b) => (BigInt(b.Timestamp) > BigInt(a.Timestamp) ? 1 : -1));
}

describe('testRule counts', () => {
  const cases: Array<{ label: string; spec: RuleSpec; hours: number }> = [
    { label: 'root spans, all projects, 2 h', spec: rule({ name: 'roots', scorers: [], samplingRate: 0.5 }), hours: 2 },
    { label: 'root spans, 6 h', spec: rule({ name: 'roots', scorers: [], samplingRate: 0.5 }), hours: 6 },
    { label: 'span names', spec: rule({ name: 'chats', scorers: [], samplingRate: 0.3, applyTo: { rootSpans: false, spanNames: ['chat', 'db query'] } }), hours: 2 },
    { label: 'a project', spec: rule({ name: 'shop', scorers: [], samplingRate: 0.7, project: 'shop', applyTo: { rootSpans: true, spanNames: ['chat'] } }), hours: 6 },
    {
      label: 'a project and a filter',
      spec: rule({ name: 'billing', scorers: [], samplingRate: 0.5, project: 'shop', filter: filter("attributes.topic = 'billing'"), applyTo: { rootSpans: true, spanNames: ['chat', 'db query'] } }),
      hours: 6,
    },
    { label: 'a trace rule (root spans as for span rules)', spec: rule({ name: 'traces', scorers: [], samplingRate: 1, scope: 'trace', filter: filter("output = 'Paris'") }), hours: 6 },
    { label: 'no sampling', spec: rule({ name: 'none', scorers: [], samplingRate: 0 }), hours: 6 },
  ];

  for (const { label, spec, hours } of cases) {
    it(`matches and samples as the pipeline would: ${label}`, async () => {
      const expected = expectedMatches(spec, hours);
      const sampler = new TraceIdSampler(spec.samplingRate);
      const result = await h.onDemand.testRule({ rule: spec, scorers: noScorers, hours, sample: 0 });
      expect(result).toEqual({
        rule: spec.name,
        hours,
        matched: expected.length,
        sampled: expected.filter((span) => sampler.shouldSample(span.TraceId)).length,
        scored: [],
        spansPerDay: (expected.length / hours) * 24 * spec.samplingRate,
        estimatedCostPerDayUsd: null,
      });
      expect(expected.length).toBeGreaterThan(0);
    });
  }

  it('scores the K most recent matches, sampled or not, and stores nothing', async () => {
    const spec = rule({ name: 'answers', scorers: ['ExactMatch'], samplingRate: 0.5, applyTo: { rootSpans: true, spanNames: ['chat'] }, project: 'shop' });
    const before = await tableCounts(h.storage);
    const result = await h.onDemand.testRule({ rule: spec, scorers: noScorers, hours: 3, sample: 7 });
    const recent = expectedMatches(spec, 3).slice(0, 7);
    expect(result.scored.map((score) => score.spanId)).toEqual(recent.map((span) => span.SpanId));
    expect(result.scored.map((score) => score.score)).toEqual(recent.map((span) => (span.SpanAttributes.output === 'Paris' ? 1 : 0)));
    for (const score of result.scored) {
      const span = recent.find((s) => s.SpanId === score.spanId)!;
      expect(score).toMatchObject({ traceId: span.TraceId, spanName: span.SpanName, rule: 'answers', scorer: 'ExactMatch', error: '' });
      expect(score.costUsd).toBeUndefined();
    }
    // A heuristic reports no cost: unknown, not free.
    expect(result.estimatedCostPerDayUsd).toBeNull();
    expect(await tableCounts(h.storage)).toEqual(before);
  });

  it('scores fewer when fewer match, and nothing in an empty window', async () => {
    const spec = rule({ name: 'rare', scorers: ['ExactMatch'], filter: filter("input = 'question 5'") });
    expect((await h.onDemand.testRule({ rule: spec, scorers: noScorers, hours: 6, sample: 10 })).scored).toHaveLength(1);
    const empty = rule({ name: 'empty', scorers: ['ExactMatch'], applyTo: { rootSpans: false, spanNames: ['no such span'] } });
    expect(await h.onDemand.testRule({ rule: empty, scorers: noScorers, hours: 6, sample: 10 })).toMatchObject({ matched: 0, sampled: 0, scored: [], spansPerDay: 0 });
  });

  it('refuses a window or sample size that makes no sense', async () => {
    const spec = rule({ name: 'r', scorers: [] });
    await expect(h.onDemand.testRule({ rule: spec, scorers: noScorers, hours: 0, sample: 1 })).rejects.toThrow(RangeError);
    await expect(h.onDemand.testRule({ rule: spec, scorers: noScorers, hours: 1, sample: -1 })).rejects.toThrow(RangeError);
    await expect(h.onDemand.testRule({ rule: spec, scorers: noScorers, hours: 1, sample: 1.5 })).rejects.toThrow(RangeError);
  });
});

describe('testRule with an LLM judge', () => {
  const judge = (name: string, overrides: Partial<LlmRuntimeSpec> = {}): ScorerSpec => testJudge(name, server.baseUrl, overrides);

  it('returns rationale, tokens and cost per score and a cost per day, without storing anything', async () => {
    const spec = rule({ name: 'judged', scorers: ['correct', 'ExactMatch'], samplingRate: 0.25, project: 'shop' });
    const scorers = new Map([['correct', judge('correct')]]);
    const before = await tableCounts(h.storage);
    server.requests.length = 0;
    const result = await h.onDemand.testRule({ rule: spec, scorers, hours: 6, sample: 3 });
    const recent = expectedMatches(spec, 6).slice(0, 3);
    // 100 input tokens at $2/M + 20 output tokens at $10/M.
    const callCost = (100 * 2 + 20 * 10) / 1e6;
    const judged = result.scored.filter((score) => score.scorer === 'correct');
    expect(judged.map((score) => score.spanId)).toEqual(recent.map((span) => span.SpanId));
    for (const score of judged) {
      expect(score).toMatchObject({ score: 1, error: '', rationale: 'the answer is right', tokens: { input: 100, output: 20 } });
      expect(score.costUsd).toBeCloseTo(callCost, 12);
      expect(score.details).toMatchObject({ choice: 'Y', model: 'gpt-test' });
    }
    expect(result.scored.filter((score) => score.scorer === 'ExactMatch')).toHaveLength(3);
    expect(server.requests).toHaveLength(3);
    expect(JSON.stringify(server.requests.map((request) => request.body))).toContain(String(recent[0]!.SpanAttributes.input));
    const matched = expectedMatches(spec, 6).length;
    expect(result.matched).toBe(matched);
    expect(result.spansPerDay).toBeCloseTo((matched / 6) * 24 * 0.25, 9);
    expect(result.estimatedCostPerDayUsd).toBeCloseTo(result.spansPerDay * callCost, 12);
    expect(await tableCounts(h.storage)).toEqual(before);
  });

  it('reports a cost of null for a judge whose model has no price, and a failing judge as an error', async () => {
    const spec = rule({ name: 'unpriced', scorers: ['free', 'down'], project: 'blog' });
    server.setDefault((request) =>
      JSON.stringify(request.body).includes('"model":"broken"') ? { kind: 'error', status: 400, message: 'bad model' } : { kind: 'choice', choice: 'N', reasons: 'wrong' },
    );
    try {
      const scorers = new Map([
        ['free', judge('free', { price: undefined })],
        ['down', judge('down', { model: 'broken' })],
      ]);
      const result = await h.onDemand.testRule({ rule: spec, scorers, hours: 6, sample: 2 });
      const free = result.scored.filter((score) => score.scorer === 'free');
      expect(free).toHaveLength(2);
      for (const score of free) expect(score).toMatchObject({ score: 0, rationale: 'wrong', costUsd: null, tokens: { input: 100, output: 20 } });
      const down = result.scored.filter((score) => score.scorer === 'down');
      expect(down).toHaveLength(2);
      for (const score of down) {
        expect(score.score).toBeNull();
        expect(score.error).toContain('bad model');
      }
      expect(result.estimatedCostPerDayUsd).toBeNull();
    } finally {
      server.setDefault(() => ({ kind: 'choice', choice: 'Y', reasons: 'the answer is right', usage: { prompt_tokens: 100, completion_tokens: 20 } }));
    }
  });
});
