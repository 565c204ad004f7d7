import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonMetrics } from '../../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../../src/admin/logger.js';
import { parseFilter } from '../../../src/filter/filter-parser.js';
import type { RuleSpec } from '../../../src/scoring/rule-spec.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../../../src/scoring/field-conventions.js';
import { OnDemandScoring } from '../../../src/scoring/on-demand/on-demand-scoring.js';
import type { BackfillJobStatus } from '../../../src/scoring/on-demand/on-demand-types.js';
import { ClickHouseStorage } from '../../../src/storage/clickhouse-storage.js';
import { SpanReader } from '../../../src/storage/span-reader.js';

export const NOW_NS = BigInt(Date.now()) * 1_000_000n;

/** A start time `minutes` before the test started, shifted by `ns` to keep times distinct. */
export function minutesAgo(minutes: number, ns = 0): string {
  return String(NOW_NS - BigInt(Math.round(minutes * 60_000)) * 1_000_000n - BigInt(ns));
}

export function rule(overrides: Partial<RuleSpec> & Pick<RuleSpec, 'name' | 'scorers'>): RuleSpec {
  return {
    description: '',
    samplingRate: 1,
    applyTo: { rootSpans: true, spanNames: [] },
    enabled: true,
    scope: 'span',
    idleSeconds: 30,
    ...overrides,
  };
}

export function filter(text: string): { text: string; expr: ReturnType<typeof parseFilter> } {
  return { text, expr: parseFilter(text) };
}

export interface Harness {
  storage: ClickHouseStorage;
  reader: SpanReader;
  metrics: DaemonMetrics;
  onDemand: OnDemandScoring;
  /** What maxBackfillSpans() answers; tests may change it. */
  cap: { value: number };
}

/** A fresh embedded ClickHouse with the schema, and an OnDemandScoring over it. */
export async function startHarness(name: string): Promise<Harness> {
  const storage = new ClickHouseStorage({ embeddedPath: join(mkdtempSync(join(tmpdir(), `spanscore-${name}-`)), 'ch'), database: name.replace(/-/g, '_'), logger: silentLogger() });
  await storage.migrate();
  const reader = new SpanReader(storage);
  const metrics = new DaemonMetrics({ processMetrics: false });
  const cap = { value: 1_000 };
  const onDemand = new OnDemandScoring({
    storage,
    reader,
    conventions: () => DEFAULT_FIELD_CONVENTIONS,
    metrics,
    logger: silentLogger(),
    maxBackfillSpans: () => cap.value,
  });
  return { storage, reader, metrics, onDemand, cap };
}

/** Rows in each table, scoring spans included: "stores nothing" compares these. */
export async function tableCounts(storage: ClickHouseStorage): Promise<{ scores: number; spans: number }> {
  const [row] = await storage.query<{ scores: string; spans: string }>('SELECT (SELECT count() FROM scores) AS scores, (SELECT count() FROM otel_traces) AS spans');
  return { scores: Number(row!.scores), spans: Number(row!.spans) };
}

/** Polls a job until it leaves `running`; every status seen, in order. */
export async function waitForJob(onDemand: OnDemandScoring, id: string, timeoutMs = 30_000): Promise<BackfillJobStatus[]> {
  const seen: BackfillJobStatus[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = onDemand.job(id);
    if (status === undefined) throw new Error(`job ${id} is unknown`);
    seen.push(status);
    if (status.state !== 'running') return seen;
    if (Date.now() > deadline) throw new Error(`job ${id} still running after ${timeoutMs} ms: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
