import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../../src/admin/logger.js';
import { parseRuleFilter } from '../../../src/config/rule-filter.js';
import { INSTANCE_ATTRIBUTE, PROJECT_ATTRIBUTE } from '../../../src/pipeline/project.js';
import type { SpanRow } from '../../../src/pipeline/span-row.js';
import type { RuleSpec, ScorerSpec } from '../../../src/scoring/rule-spec.js';
import { ScoringProcessor } from '../../../src/scoring/scoring-processor.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../../../src/scoring/span-fields.js';
import { ClickHouseStorage } from '../../../src/storage/clickhouse-storage.js';
import { hexId, scoreRow, spanRow } from '../../storage/storage-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'spanscore-trace-rules-'));
// Reports what it was given, and when, through the score's metadata (the `Details` column).
const probeFile = join(dir, 'probe.mjs');
writeFileSync(
  probeFile,
  `export default ({ input, output, span, trace, thread }) => ({
  name: 'probe',
  score: trace.length / 10,
  metadata: { at: Date.now(), input, output, root: span.spanId, spans: trace.map((s) => s.spanId), names: trace.map((s) => s.name), thread },
});\n`,
);
const scorers = new Map<string, ScorerSpec>([['probe', { name: 'probe', timeoutMs: 0, kind: 'module', module: probeFile, exportName: 'default' }]]);

const traceRule = (name: string, overrides: Partial<RuleSpec> = {}): RuleSpec => ({
  name,
  description: '',
  scorers: ['probe'],
  samplingRate: 1,
  applyTo: { rootSpans: true, spanNames: [] },
  enabled: true,
  scope: 'trace',
  idleSeconds: 1,
  ...overrides,
});

const nowNs = () => BigInt(Date.now()) * 1_000_000n;
const agoNs = (seconds: number) => String(nowNs() - BigInt(Math.round(seconds * 1e9)));

/** A trace as an application sends it: root (stored through `instance`), an LLM call, a tool call. */
function makeTrace(instance: string, options: { project?: string; startedSecondsAgo?: number } = {}) {
  const traceId = hexId(16);
  const start = options.startedSecondsAgo ?? 20;
  const resource = { 'service.name': 'agent-app', [INSTANCE_ATTRIBUTE]: instance, ...(options.project && { [PROJECT_ATTRIBUTE]: options.project }) };
  const common = { TraceId: traceId, ServiceName: 'agent-app', ResourceAttributes: resource, StatusCode: 'Ok', StatusMessage: '', Events: [], Links: [] };
  const root = spanRow({ ...common, ParentSpanId: '', SpanName: 'agent', Timestamp: agoNs(start), Duration: '2000000000', SpanAttributes: { 'input.value': 'weather?', 'output.value': 'sunny', expected: 'sunny' } });
  const llm = spanRow({
    ...common,
    ParentSpanId: root.SpanId,
    SpanName: 'chat',
    Timestamp: agoNs(start - 0.1),
    Duration: '500000000',
    SpanAttributes: {
      'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: 'weather?' }] }]),
      'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: 'sunny' }] }]),
    },
  });
  // Received by another replica: in ClickHouse, never handed to this processor.
  const tool = spanRow({ ...common, ResourceAttributes: { ...resource, [INSTANCE_ATTRIBUTE]: 'elsewhere' }, ParentSpanId: llm.SpanId, SpanName: 'tool', Timestamp: agoNs(start - 0.2), Duration: '1000000', SpanAttributes: {} });
  return { traceId, root, llm, tool };
}

interface Score {
  TraceId: string;
  SpanId: string;
  Rule: string;
  Scorer: string;
  Score: number | null;
  Error: string;
  Details: string;
}

let storage: ClickHouseStorage;

beforeAll(async () => {
  storage = new ClickHouseStorage({ embeddedPath: join(dir, 'clickhouse'), database: 'trace_rules_test', logger: silentLogger() });
  await storage.migrate();
});

afterAll(async () => {
  await storage?.close();
});

function processor(rules: RuleSpec[], instanceId: string): ScoringProcessor {
  return new ScoringProcessor({
    rules,
    scorers,
    conventions: DEFAULT_FIELD_CONVENTIONS,
    storage,
    metrics: new DaemonMetrics({ processMetrics: false }),
    logger: silentLogger(),
    workers: 1,
    instanceId,
    recorder: { flushIntervalMs: 10 },
  });
}

/** Every scores row of a rule, without FINAL: a duplicate would show. */
async function scoresOf(rule: string): Promise<Score[]> {
  return storage.query<Score>('SELECT TraceId, SpanId, Rule, Scorer, Score, Error, Details FROM scores WHERE Rule = {rule:String}', { rule });
}

async function waitForScores(rule: string, count: number, timeoutMs = 15_000): Promise<Score[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await scoresOf(rule);
    if (rows.length >= count || Date.now() > deadline) return rows;
    await sleep(100);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** As the pipeline does: stored first, then handed over. */
async function store(scoring: ScoringProcessor, spans: SpanRow[]): Promise<void> {
  await storage.insertSpans(spans);
  scoring.onStored(spans);
}

describe('trace rules in the ScoringProcessor', () => {
  it('scores a trace once after it went idle, with every span of it, attached to the root', async () => {
    const scoring = processor([traceRule('whole-trace')], 'one');
    await scoring.start();
    const first = makeTrace('one');
    const foreign = makeTrace('one-b');
    await storage.insertSpans([first.tool]);
    const handedAt = Date.now();
    await store(scoring, [first.llm, first.root, foreign.llm, foreign.root]);
    expect(scoring.pendingTraces).toBe(1);
    // A late span through this replica restarts the idle clock.
    await sleep(500);
    const late = spanRow({ ...first.llm, SpanId: hexId(8), SpanName: 'late', Timestamp: agoNs(5), Duration: '0', SpanAttributes: {} });
    await store(scoring, [late]);
    const lateAt = Date.now();
    expect(await scoresOf('whole-trace')).toEqual([]);

    const [score, ...others] = await waitForScores('whole-trace', 1);
    expect(others).toEqual([]);
    const details = JSON.parse(score!.Details) as { at: number; input: unknown; output: unknown; root: string; spans: string[]; names: string[]; thread: unknown };
    expect(details.at - lateAt).toBeGreaterThanOrEqual(950);
    expect(details.at - handedAt).toBeLessThan(10_000);
    expect(score).toMatchObject({ TraceId: first.traceId, SpanId: first.root.SpanId, Scorer: 'probe', Score: 0.4, Error: '' });
    expect(details).toMatchObject({ input: 'weather?', output: 'sunny', root: first.root.SpanId });
    expect(details.names).toEqual(['agent', 'chat', 'tool', 'late']);
    expect(new Set(details.spans)).toEqual(new Set([first.root.SpanId, first.llm.SpanId, first.tool.SpanId, late.SpanId]));
    expect(details.thread).toEqual([
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: 'sunny' },
    ]);

    // Nothing more comes: not a second score, not the other replica's trace.
    await sleep(2_000);
    expect(await scoresOf('whole-trace')).toHaveLength(1);
    expect(scoring.pendingTraces).toBe(0);
    expect(scoring.ruleCounters['whole-trace']).toEqual({ seen: 1, selected: 1, filtered: 1, sampled: 1, enqueued: 1, shed: 0, scored: 1, errored: 0, skipped: 0 });
    await scoring.shutdown(5_000);
  });

  it('waits while another replica is still storing spans of the trace', async () => {
    const scoring = processor([traceRule('busy-elsewhere')], 'two');
    await scoring.start();
    const trace = makeTrace('two', { startedSecondsAgo: 30 });
    await store(scoring, [trace.root]);
    // Just before this replica would call it idle, the other one stores a span that just ended.
    await sleep(600);
    const elsewhere = spanRow({ ...trace.tool, SpanId: hexId(8), Timestamp: agoNs(0), Duration: '0' });
    await storage.insertSpans([elsewhere]);
    const storedAt = Date.now();
    const [score] = await waitForScores('busy-elsewhere', 1);
    const details = JSON.parse(score!.Details) as { at: number; spans: string[] };
    expect(details.at - storedAt).toBeGreaterThanOrEqual(900);
    expect(details.spans).toContain(elsewhere.SpanId);
    await scoring.shutdown(5_000);
    expect(await scoresOf('busy-elsewhere')).toHaveLength(1);
  });

  it('selects by project, apply_to and filter on the root, and samples by trace id', async () => {
    const filter = "attributes['tier'] = 'gold'";
    const expr = parseRuleFilter(filter, (message) => {
      throw new Error(message);
    })!;
    const scoring = processor([
      traceRule('gold-only', { filter: { text: filter, expr } }),
      traceRule('shop-only', { project: 'shop' }),
      traceRule('named', { applyTo: { rootSpans: false, spanNames: ['checkout'] } }),
      traceRule('never', { samplingRate: 0.000001 }),
    ], 'three');
    await scoring.start();
    const gold = makeTrace('three', { project: 'shop' });
    gold.root.SpanAttributes = { ...gold.root.SpanAttributes, tier: 'gold' };
    const plain = makeTrace('three', { project: 'blog' });
    await store(scoring, [gold.root, plain.root, gold.llm, plain.llm]);
    await waitForScores('shop-only', 1);
    await waitForScores('gold-only', 1);
    await sleep(1_500);
    expect((await scoresOf('gold-only')).map((row) => row.TraceId)).toEqual([gold.traceId]);
    expect((await scoresOf('shop-only')).map((row) => row.TraceId)).toEqual([gold.traceId]);
    expect(await scoresOf('named')).toEqual([]);
    const counters = scoring.ruleCounters;
    expect(counters['gold-only']).toMatchObject({ seen: 2, selected: 2, filtered: 1, sampled: 1, enqueued: 1 });
    expect(counters['shop-only']).toMatchObject({ seen: 1, selected: 1, filtered: 1, sampled: 1, enqueued: 1 });
    expect(counters.named).toMatchObject({ seen: 2, selected: 0, enqueued: 0 });
    expect(counters.never).toMatchObject({ seen: 2, selected: 2, filtered: 2, enqueued: 0 });
    await scoring.shutdown(5_000);
  });

  it('leaves traces pending at shutdown to the next processor, which scores each once', async () => {
    const rule = traceRule('recovered');
    const pending = makeTrace('four');
    const alreadyScored = makeTrace('four');
    const otherInstance = makeTrace('four-b');
    const tooOld = makeTrace('four', { startedSecondsAgo: 25 * 3600 });
    await storage.insertSpans([otherInstance.root, otherInstance.llm, tooOld.root]);
    await storage.insertScores([scoreRow({ TraceId: alreadyScored.traceId, SpanId: alreadyScored.root.SpanId, Timestamp: alreadyScored.root.Timestamp, Rule: 'recovered', Scorer: 'probe' })]);

    const before = processor([rule], 'four');
    await before.start();
    await store(before, [pending.llm, pending.tool, pending.root, alreadyScored.root]);
    expect(before.pendingTraces).toBe(2);
    // Stopped before the traces went idle: not scored early.
    await before.shutdown(5_000);
    await sleep(1_500);
    expect(await scoresOf('recovered')).toHaveLength(1);

    const after = processor([rule], 'four');
    await after.start();
    const rows = await waitForScores('recovered', 2);
    expect(rows.map((row) => row.TraceId).sort()).toEqual([pending.traceId, alreadyScored.traceId].sort());
    const recovered = rows.find((row) => row.TraceId === pending.traceId)!;
    expect(recovered.SpanId).toBe(pending.root.SpanId);
    expect(JSON.parse(recovered.Details).names).toEqual(['agent', 'chat', 'tool']);
    await sleep(1_500);
    await after.shutdown(5_000);

    // And a third start finds nothing left to do.
    const again = processor([rule], 'four');
    await again.start();
    await sleep(2_500);
    expect(again.pendingTraces).toBe(0);
    await again.shutdown(5_000);
    expect(await scoresOf('recovered')).toHaveLength(2);
  });

  it('refuses trace rules without an instance id', () => {
    expect(() => processor([traceRule('needs-id')], '')).toThrow(/instanceId/);
  });
});
