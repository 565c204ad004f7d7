import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../src/admin/logger.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import type { RuleSpec, ScorerSpec } from '../../src/scoring/rule-spec.js';
import { ScoringProcessor } from '../../src/scoring/scoring-processor.js';
import * as spanFields from '../../src/scoring/span-fields.js';
import { TraceIdSampler } from '../../src/scoring/trace-id-sampler.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { hexId, scoreRow, spanRow } from '../storage/storage-fixtures.js';

// Counts argument extraction while keeping the real one.
vi.mock('../../src/scoring/span-fields.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/scoring/span-fields.js')>();
  return { ...original, extractScorerArgs: vi.fn(original.extractScorerArgs) };
});

const dir = mkdtempSync(join(tmpdir(), 'spanscore-scoring-processor-'));
const multiFile = join(dir, 'multi.mjs');
writeFileSync(multiFile, `export default ({ output }) => [{ name: 'length', score: Math.min(1, String(output).length / 10), metadata: { output } }, { name: 'one', score: 1 }];\n`);
const throwsFile = join(dir, 'throws.mjs');
writeFileSync(throwsFile, `export default function throws() {\n  throw new Error('no opinion');\n}\n`);

const scorers = new Map<string, ScorerSpec>([
  ['lev', { name: 'lev', timeoutMs: 0, kind: 'builtin', builtin: 'Levenshtein', options: {} }],
  ['multi', { name: 'multi', timeoutMs: 0, kind: 'module', module: multiFile, exportName: 'default' }],
  ['throws', { name: 'throws', timeoutMs: 0, kind: 'module', module: throwsFile, exportName: 'default' }],
]);
const rule = (overrides: Partial<RuleSpec> & Pick<RuleSpec, 'name' | 'scorers'>): RuleSpec => ({
  description: '',
  samplingRate: 1,
  applyTo: { rootSpans: true, spanNames: [] },
  enabled: true,
  scope: 'span',
  idleSeconds: 30,
  ...overrides,
});
const rules: RuleSpec[] = [
  // `ExactMatch` is named directly, without a declaration.
  rule({ name: 'answers', scorers: ['ExactMatch', 'multi', 'throws'] }),
  rule({ name: 'chats', scorers: ['lev'], applyTo: { rootSpans: false, spanNames: ['chat'] } }),
  rule({ name: 'half', scorers: ['ExactMatch'], samplingRate: 0.5 }),
  rule({ name: 'off', scorers: ['ExactMatch'], enabled: false }),
];

const roots: SpanRow[] = Array.from({ length: 40 }, (_, index) =>
  spanRow({
    TraceId: hexId(16),
    ParentSpanId: '',
    SpanName: 'POST /ask',
    ServiceName: 'qa-app',
    StatusCode: 'Unset',
    StatusMessage: '',
    SpanAttributes: { input: `question ${index}`, output: index % 2 === 0 ? 'Paris' : 'Lyon', expected: 'Paris' },
  }),
);
const chats: SpanRow[] = roots.slice(0, 10).map((root) =>
  spanRow({
    TraceId: root.TraceId,
    ParentSpanId: root.SpanId,
    SpanName: 'chat',
    ServiceName: 'qa-app',
    SpanAttributes: { output: 'kitten', expected: 'sitting' },
  }),
);
const others: SpanRow[] = roots.slice(0, 10).map((root) => spanRow({ TraceId: root.TraceId, ParentSpanId: root.SpanId, SpanName: 'db query' }));
const allSpans = [...roots, ...chats, ...others];
const halfSampled = roots.filter((span) => new TraceIdSampler(0.5).shouldSample(span.TraceId));

interface ScoreResult {
  TraceId: string;
  SpanId: string;
  ScoringSpanId: string;
  ServiceName: string;
  SpanName: string;
  Rule: string;
  Scorer: string;
  Score: number | null;
  Error: string;
  Details: string;
  Source: string;
}
interface ScoringSpan {
  TraceId: string;
  SpanId: string;
  ParentSpanId: string;
  SpanName: string;
  ServiceName: string;
  StatusCode: string;
  StatusMessage: string;
  ScopeName: string;
  SpanAttributes: Record<string, string>;
  ResourceAttributes: Record<string, string>;
}

let storage: ClickHouseStorage;
let metrics: DaemonMetrics;
let processor: ScoringProcessor;
let scores: ScoreResult[];
let scoringSpans: ScoringSpan[];

beforeAll(async () => {
  storage = new ClickHouseStorage({ embeddedPath: join(dir, 'clickhouse'), database: 'spanscore_processor_test', logger: silentLogger() });
  await storage.migrate();
  metrics = new DaemonMetrics({ processMetrics: false });
  processor = new ScoringProcessor({
    rules,
    scorers,
    conventions: spanFields.DEFAULT_FIELD_CONVENTIONS,
    storage,
    metrics,
    logger: silentLogger(),
    workers: 2,
    maxBatchSize: 16,
  });
  await processor.start();
  // As the pipeline does: stored first, then handed over, in several requests.
  for (let offset = 0; offset < allSpans.length; offset += 25) {
    const request = allSpans.slice(offset, offset + 25);
    await storage.insertSpans(request);
    processor.onStored(request);
  }
  await processor.shutdown(30_000);
  scores = await storage.query<ScoreResult>(
    'SELECT TraceId, SpanId, ScoringSpanId, ServiceName, SpanName, Rule, Scorer, Score, Error, Details, Source FROM scores FINAL',
  );
  scoringSpans = await storage.query<ScoringSpan>(
    `SELECT TraceId, SpanId, ParentSpanId, SpanName, ServiceName, StatusCode, StatusMessage, ScopeName, SpanAttributes, ResourceAttributes
     FROM otel_traces WHERE ScopeName = 'spanscore'`,
  );
});

afterAll(async () => {
  await storage?.close();
});

describe('ScoringProcessor into embedded ClickHouse', () => {
  it('writes one scores row per (selected span, rule, scorer outcome)', () => {
    const count = (ruleName: string, scorer?: string) =>
      scores.filter((row) => row.Rule === ruleName && (scorer === undefined || row.Scorer === scorer)).length;
    expect(count('answers', 'ExactMatch')).toBe(40);
    expect(count('answers', 'multi.length')).toBe(40);
    expect(count('answers', 'multi.one')).toBe(40);
    expect(count('answers', 'throws')).toBe(40);
    expect(count('chats', 'lev')).toBe(10);
    expect(count('half')).toBe(halfSampled.length);
    expect(count('off')).toBe(0);
    expect(scores).toHaveLength(40 * 4 + 10 + halfSampled.length);
  });

  it('stores the scorers\' real results and errors', () => {
    for (const root of roots) {
      const of = (scorer: string) => scores.find((row) => row.SpanId === root.SpanId && row.Rule === 'answers' && row.Scorer === scorer)!;
      expect(of('ExactMatch')).toMatchObject({ Score: root.SpanAttributes.output === 'Paris' ? 1 : 0, Error: '', Source: 'online' });
      expect(of('multi.length').Score).toBeCloseTo(root.SpanAttributes.output!.length / 10, 10);
      expect(JSON.parse(of('multi.length').Details)).toEqual({ output: root.SpanAttributes.output });
      expect(of('throws').Score).toBeNull();
      expect(of('throws').Error).toContain(`no opinion (at ${throwsFile}:2:`);
      expect(of('ExactMatch')).toMatchObject({ TraceId: root.TraceId, ServiceName: 'qa-app', SpanName: 'POST /ask' });
    }
    for (const chat of chats) {
      const lev = scores.find((row) => row.SpanId === chat.SpanId && row.Scorer === 'lev')!;
      expect(lev.Score).toBeCloseTo(1 - 3 / 7, 10);
    }
    expect(new Set(scores.filter((row) => row.Rule === 'half').map((row) => row.TraceId))).toEqual(
      new Set(halfSampled.map((span) => span.TraceId)),
    );
  });

  it('writes a scoring span per score: child of the scored span, in its trace and service', () => {
    expect(scoringSpans).toHaveLength(scores.length);
    const spansById = new Map(scoringSpans.map((span) => [span.SpanId, span]));
    for (const score of scores) {
      const span = spansById.get(score.ScoringSpanId)!;
      expect(span).toBeDefined();
      expect(span).toMatchObject({
        TraceId: score.TraceId,
        ParentSpanId: score.SpanId,
        SpanName: `score ${score.Scorer}`,
        ServiceName: 'qa-app',
        StatusCode: score.Error === '' ? 'Ok' : 'Error',
        StatusMessage: score.Error,
      });
      expect(span.ResourceAttributes).toEqual({ 'service.name': 'qa-app', 'telemetry.sdk.name': 'spanscore' });
      expect(span.SpanAttributes['spanscore.rule']).toBe(score.Rule);
      expect(span.SpanAttributes['spanscore.scorer']).toBe(score.Scorer);
      expect(span.SpanAttributes['spanscore.source']).toBe('online');
      expect(span.SpanAttributes['spanscore.details']).toBe(score.Details);
      if (score.Score === null) {
        expect(span.SpanAttributes).not.toHaveProperty('spanscore.score');
        expect(span.SpanAttributes['spanscore.error']).toBe(score.Error);
      } else {
        expect(Number(span.SpanAttributes['spanscore.score'])).toBe(score.Score);
        expect(span.SpanAttributes).not.toHaveProperty('spanscore.error');
      }
    }
  });

  it('reads the scorer arguments once per selected span, not once per rule', () => {
    // Each root is selected by 2 or 3 rules and each chat by one; the db spans by none.
    expect(vi.mocked(spanFields.extractScorerArgs)).toHaveBeenCalledTimes(roots.length + chats.length);
  });

  it('keeps live counters per rule', () => {
    const counters = processor.ruleCounters;
    expect(counters.answers).toEqual({ seen: 60, selected: 40, filtered: 40, sampled: 40, enqueued: 120, shed: 0, scored: 120, errored: 40, skipped: 0 });
    expect(counters.chats).toEqual({ seen: 60, selected: 10, filtered: 10, sampled: 10, enqueued: 10, shed: 0, scored: 10, errored: 0, skipped: 0 });
    expect(counters.half).toMatchObject({ seen: 60, selected: 40, filtered: 40, sampled: halfSampled.length, enqueued: halfSampled.length });
    expect(counters.off).toEqual({ seen: 0, selected: 0, filtered: 0, sampled: 0, enqueued: 0, shed: 0, scored: 0, errored: 0, skipped: 0 });
  });

  it('counts scores by scorer and outcome', async () => {
    const { values } = await metrics.scores.get();
    const value = (scorer: string, outcome: string) =>
      values.find((entry) => entry.labels.scorer === scorer && entry.labels.outcome === outcome)?.value ?? 0;
    expect(value('ExactMatch', 'ok')).toBe(40 + halfSampled.length);
    expect(value('multi.one', 'ok')).toBe(40);
    expect(value('throws', 'error')).toBe(40);
    expect(value('lev', 'ok')).toBe(10);
  });
});

describe('ScoringProcessor on the ingestion path', () => {
  it('sheds instead of waiting when the queue is full, and never throws', async () => {
    const recorded = { spans: 0, scores: 0 };
    const shedding = new ScoringProcessor({
      rules: [rule({ name: 'all', scorers: ['ExactMatch'] })],
      scorers: new Map(),
      conventions: spanFields.DEFAULT_FIELD_CONVENTIONS,
      storage: {
        insertSpans: async (rows) => void (recorded.spans += rows.length),
        insertScores: async (rows) => void (recorded.scores += rows.length),
      },
      metrics: new DaemonMetrics({ processMetrics: false }),
      logger: silentLogger(),
      workers: 1,
      queueCapacity: 10,
      maxBatchSize: 5,
    });
    // Before start: ignored, not an error.
    expect(() => shedding.onStored(roots)).not.toThrow();
    await shedding.start();
    const started = process.hrtime.bigint();
    shedding.onStored(roots);
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(500);
    // A span the args reader chokes on does not break the batch.
    expect(() => shedding.onStored([{ ...roots[0]!, SpanAttributes: null as unknown as Record<string, string> }])).not.toThrow();
    await shedding.shutdown(10_000);
    const counters = shedding.ruleCounters.all!;
    expect(counters.enqueued).toBe(10);
    expect(counters.shed).toBe(30);
    expect(counters.scored).toBe(10);
    expect(recorded).toEqual({ spans: 10, scores: 10 });
  });
});

describe('LLM budgets across restarts', () => {
  it("reads today's spend back from the scores table at start", async () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    await storage.insertScores([
      scoreRow({ Scorer: 'judge', Rule: 'judged', Details: JSON.stringify({ cost_usd: 0.25 }), ScoredAt: String(now) }),
      scoreRow({ Scorer: 'judge', Rule: 'judged', Details: JSON.stringify({ cost_usd: 0.2 }), ScoredAt: String(now + 1n) }),
      // Yesterday's spend does not count.
      scoreRow({ Scorer: 'judge', Rule: 'judged', Details: JSON.stringify({ cost_usd: 9 }), ScoredAt: String(now - 86_400_000_000_000n * 2n) }),
    ]);
    const judge = (budgetUsdPerDay: number): ScorerSpec => ({
      name: 'judge',
      timeoutMs: 1_000,
      kind: 'llm',
      judge: { prompt: '{{output}}?', choiceScores: { Y: 1 }, useCot: false },
      runtime: { baseUrl: 'http://127.0.0.1:9/v1', apiKey: '', model: 'm', maxConcurrency: 1, rateLimit: {}, retry: { maxRetries: 0, initialBackoffMs: 1, maxBackoffMs: 1 }, budgetUsdPerDay, price: { inputPer1M: 1, outputPer1M: 1 } },
    });
    const statusWith = async (budget: number) => {
      const restarted = new ScoringProcessor({
        rules: [rule({ name: 'judged', scorers: ['judge'] })],
        scorers: new Map([['judge', judge(budget)]]),
        conventions: spanFields.DEFAULT_FIELD_CONVENTIONS,
        storage,
        metrics: new DaemonMetrics({ processMetrics: false }),
        logger: silentLogger(),
      });
      await restarted.start();
      const status = restarted.scorerStatuses['judge']!;
      await restarted.shutdown(1_000);
      return status;
    };
    const over = await statusWith(0.4);
    expect(over.state).toBe('over budget');
    expect(over.spentTodayUsd).toBeCloseTo(0.45, 9);
    expect((await statusWith(1)).state).toBe('active');
  });
});

describe('counters carried over by a reload', () => {
  it('continues from the given counters and counts on', async () => {
    const carried = { seen: 100, selected: 50, filtered: 50, sampled: 50, enqueued: 50, shed: 1, scored: 48, errored: 1, skipped: 0 };
    const continued = new ScoringProcessor({
      rules: [rule({ name: 'kept', scorers: ['ExactMatch'] }), rule({ name: 'new', scorers: ['ExactMatch'] })],
      scorers: new Map(),
      conventions: spanFields.DEFAULT_FIELD_CONVENTIONS,
      storage: { insertSpans: async () => {}, insertScores: async () => {} },
      metrics: new DaemonMetrics({ processMetrics: false }),
      logger: silentLogger(),
      workers: 1,
      initialCounters: { kept: carried, gone: carried },
    });
    await continued.start();
    continued.onStored(roots.slice(0, 2));
    await continued.shutdown(10_000);
    const counters = continued.ruleCounters;
    expect(counters.kept).toEqual({ ...carried, seen: 102, selected: 52, filtered: 52, sampled: 52, enqueued: 52, scored: 50 });
    expect(counters.new).toMatchObject({ seen: 2, scored: 2 });
    expect(counters.gone).toBeUndefined();
  });
});
