import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DaemonMetrics } from '../../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../../src/admin/logger.js';
import { PROJECT_ATTRIBUTE } from '../../../src/pipeline/project.js';
import type { SpanRow } from '../../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../../../src/scoring/field-conventions.js';
import type { RecoveryConfig } from '../../../src/scoring/recovery/recovery-types.js';
import { RECOVERED_METRIC } from '../../../src/scoring/recovery/recovered-metric.js';
import type { RuleSpec } from '../../../src/scoring/rule-spec.js';
import { ScoringProcessor, type ScoringProcessorOptions } from '../../../src/scoring/scoring-processor.js';
import { ClickHouseStorage } from '../../../src/storage/clickhouse-storage.js';
import { waitFor } from '../../helpers/wait-for.js';
import { spanRow } from '../../storage/storage-fixtures.js';

export const agoNs = (ms: number): string => String(BigInt(Date.now() - ms) * 1_000_000n);
export const MINUTE = 60_000;

/** A fresh embedded ClickHouse with the schema. */
export async function openStorage(name: string): Promise<ClickHouseStorage> {
  const storage = new ClickHouseStorage({ embeddedPath: join(mkdtempSync(join(tmpdir(), `spanscore-${name}-`)), 'ch'), database: name.replace(/-/g, '_'), logger: silentLogger() });
  await storage.migrate();
  return storage;
}

/** A stored root span of `project`, 5 minutes old, whose output equals its expected answer. */
export function storedSpan(project: string, overrides: Partial<SpanRow> = {}): SpanRow {
  return spanRow({
    ServiceName: 'app',
    Timestamp: agoNs(5 * MINUTE),
    ParentSpanId: '',
    SpanName: 'chat',
    ResourceAttributes: { 'service.name': 'app', [PROJECT_ATTRIBUTE]: project },
    SpanAttributes: { 'input.value': 'q', 'output.value': 'Paris', expected: 'Paris' },
    Events: [],
    Links: [],
    ...overrides,
  });
}

export function rule(overrides: Partial<RuleSpec> & Pick<RuleSpec, 'name' | 'scorers'>): RuleSpec {
  return { description: '', samplingRate: 1, applyTo: { rootSpans: true, spanNames: [] }, enabled: true, scope: 'span', idleSeconds: 30, ...overrides };
}

/** One hour back, spans older than a minute, no sweep but the first (right at start). */
export const TEST_RECOVERY: RecoveryConfig = { enabled: true, windowMs: 60 * MINUTE, intervalMs: 60 * MINUTE, minAgeMs: MINUTE, maxSpans: 10_000, initialDelayMs: 0 };

export function capturingLogger() {
  const entries: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => entries.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, entries };
}

/** Log lines that end a sweep that looked. */
export const isSweepDone = (entry: Record<string, unknown>): boolean =>
  typeof entry.msg === 'string' && (entry.msg.startsWith('scoring recovery: scored') || entry.msg.startsWith('scoring recovery: nothing to recover'));

/** Processor options a test may change; `recovery` is merged into TEST_RECOVERY. */
export type Overrides = Partial<Omit<ScoringProcessorOptions, 'recovery'>> & { recovery?: Partial<RecoveryConfig> };

export function processor(storage: ScoringProcessorOptions['storage'], rules: RuleSpec[], overrides: Overrides = {}): { scoring: ScoringProcessor; metrics: DaemonMetrics; entries: Array<Record<string, unknown>> } {
  const { logger, entries } = capturingLogger();
  const metrics = new DaemonMetrics({ processMetrics: false });
  const scoring = new ScoringProcessor({
    scorers: new Map(),
    conventions: DEFAULT_FIELD_CONVENTIONS,
    metrics,
    logger,
    workers: 1,
    recorder: { flushIntervalMs: 10 },
    ...overrides,
    rules,
    storage,
    recovery: { ...TEST_RECOVERY, ...overrides.recovery },
  });
  return { scoring, metrics, entries };
}

/** spanscore_scoring_recovered_total by rule. */
export async function recoveredByRule(metrics: DaemonMetrics): Promise<Record<string, number>> {
  const metric = metrics.registry.getSingleMetric(RECOVERED_METRIC);
  if (metric === undefined) return {};
  const { values } = await metric.get();
  return Object.fromEntries(values.map((value) => [String(value.labels.rule), value.value]));
}

/**
 * A processor started as after a restart: its first sweep runs at once; resolves when that
 * sweep has ended and the processor has shut down (scores written).
 */
export async function sweepOnce(
  storage: ClickHouseStorage,
  rules: RuleSpec[],
  overrides: Overrides = {},
): Promise<{ recovered: Record<string, number>; entries: Array<Record<string, unknown>> }> {
  const { scoring, metrics, entries } = processor(storage, rules, overrides);
  await scoring.start();
  try {
    await waitFor(() => entries.some(isSweepDone), { timeoutMs: 30_000, what: 'a recovery sweep' });
  } finally {
    await scoring.shutdown(10_000);
  }
  return { recovered: await recoveredByRule(metrics), entries };
}

export interface StoredScore {
  TraceId: string;
  SpanId: string;
  ScoringSpanId: string;
  Rule: string;
  Scorer: string;
  Score: number | null;
  Source: string;
  ScoredAt: string;
}

/** Every row of the rule, without FINAL: a duplicate would show. */
export function scoresOf(storage: ClickHouseStorage, ruleName: string): Promise<StoredScore[]> {
  return storage.query<StoredScore>(
    `SELECT TraceId, SpanId, ScoringSpanId, Rule, Scorer, Score, Source, toString(toUnixTimestamp64Nano(ScoredAt)) AS ScoredAt
     FROM scores WHERE Rule = {rule:String} ORDER BY SpanId, Scorer`,
    { rule: ruleName },
  );
}

export function scoringSpansOf(storage: ClickHouseStorage, ruleName: string): Promise<Array<{ ParentSpanId: string; SpanAttributes: Record<string, string> }>> {
  return storage.query(`SELECT ParentSpanId, SpanAttributes FROM otel_traces WHERE ScopeName = 'spanscore' AND SpanAttributes['spanscore.rule'] = {rule:String}`, { rule: ruleName });
}
