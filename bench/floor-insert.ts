import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { silentLogger } from '../src/admin/logger.js';
import { ClickHouseStorage } from '../src/storage/clickhouse-storage.js';
import { openEmbeddedConnection } from '../src/storage/embedded-connection.js';
import { buildLlmSpanRequests } from './llm-span-request.js';
import { toStoredRows } from './llm-span-rows.js';
import { quantile, statusMiB } from './proc-stats.js';
import { exportRequestType } from './request-templates.js';

/**
 * Floor: a bare `@clickhouse/client` insert of the load's rows as the daemon stores them
 * (JSONEachRow into an `otel_traces` created by the project's own schema, with its lookup
 * table and view), in batches and concurrency like the daemon's group commit, against a
 * ClickHouse server or the embedded engine. Run as its own process; prints JSON lines:
 * `{"type":"measuring"}` after the warm-up, then the result.
 *
 * No decoding, no mapping, no acknowledgements: rows are built before the clock starts and
 * the same objects are inserted again and again (plain MergeTree does not deduplicate).
 */
export interface InsertFloorOptions {
  url?: string;
  embeddedPath?: string;
  database: string;
  spansPerRequest: number;
  batchRows: number;
  concurrentInserts: number;
  durationMs: number;
}

export interface InsertFloorResult {
  type: 'done';
  spansPerSecond: number;
  /** This process's CPU per row: the client's JSON and HTTP work, plus ClickHouse's when embedded. */
  microsPerSpan: number;
  p50Ms: number;
  p99Ms: number;
  inserts: number;
  rows: number;
  peakRssMiB: number;
}

const WARMUP_MS = 1_500;

async function openClient(options: InsertFloorOptions): Promise<ClickHouseClient> {
  // The daemon's session settings (clickhouse-storage.ts), so the server does the same work.
  const clickhouse_settings: ClickHouseSettings = { session_timezone: 'UTC', output_format_json_quote_64bit_integers: 1 };
  if (options.url !== undefined) return createClient({ url: options.url, database: options.database, clickhouse_settings });
  return createClient({ connection: await openEmbeddedConnection(options.embeddedPath!), clickhouse_settings });
}

async function runFloor(options: InsertFloorOptions): Promise<void> {
  const storage = new ClickHouseStorage({ url: options.url, embeddedPath: options.embeddedPath, database: options.database, logger: silentLogger() });
  await storage.migrate();
  const client = await openClient(options);

  const type = exportRequestType();
  const rows = buildLlmSpanRequests(16, options.spansPerRequest).flatMap((body) => toStoredRows(type, body));
  const batches: Record<string, unknown>[][] = [];
  for (let b = 0; b < 8; b++) {
    batches.push(Array.from({ length: options.batchRows }, (_, k) => rows[(b * options.batchRows + k) % rows.length]!));
  }

  const table = `${options.database}.otel_traces`;
  let measuring = false;
  let inserted = 0;
  let inserts = 0;
  const latencies: number[] = [];
  const start = performance.now();
  const measureStart = start + WARMUP_MS;
  const end = measureStart + options.durationMs;
  let cpuBefore = process.cpuUsage();
  let measuredFrom = measureStart;
  let lastCompletion = measureStart;

  const inserter = async (index: number): Promise<void> => {
    for (let n = index; performance.now() < end; n += options.concurrentInserts) {
      const batch = batches[n % batches.length]!;
      const t0 = performance.now();
      await client.insert({ table, values: batch, format: 'JSONEachRow' });
      const t1 = performance.now();
      if (!measuring && t1 >= measureStart) {
        measuring = true;
        measuredFrom = t1;
        cpuBefore = process.cpuUsage();
        process.stdout.write(`${JSON.stringify({ type: 'measuring' })}\n`);
        continue; // this insert straddled the warm-up: not counted
      }
      if (measuring) {
        inserted += batch.length;
        inserts++;
        latencies.push(t1 - t0);
        lastCompletion = t1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrentInserts }, (_, i) => inserter(i)));
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  const result: InsertFloorResult = {
    type: 'done',
    spansPerSecond: (inserted / Math.max(1, lastCompletion - measuredFrom)) * 1000,
    microsPerSpan: (cpu.user + cpu.system) / Math.max(1, inserted),
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    inserts,
    rows: inserted,
    peakRssMiB: statusMiB(process.pid, 'VmHWM'),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await client.close();
  await storage.close();
  // chdb's engine threads would keep an embedded floor alive.
  process.exit(0);
}

if (process.argv[2] !== undefined) await runFloor(JSON.parse(process.argv[2]) as InsertFloorOptions);
