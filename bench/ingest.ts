import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startClickHouseServer } from '../test/helpers/clickhouse-server.js';
import { runJsonChild } from './child-json.js';
import type { DecodeFloorResult } from './floor-decode.js';
import type { InsertFloorOptions, InsertFloorResult } from './floor-insert.js';
import { runScenario, SCENARIOS, type BenchSettings, type ScenarioName, type ScenarioResult } from './ingest-scenarios.js';
import { formatNotes, formatTable, TARGETS_LINE, type Floors } from './ingest-table.js';
import { buildLlmSpanRequests } from './llm-span-request.js';
import { cpuMicrosOrNaN, findPidByArgument } from './proc-stats.js';

/**
 * `npm run bench` (ingest part): the performance issue's table. Sustained OTLP ingest into
 * the daemon from a separate load-generator process (8 senders, 1,000-span protobuf
 * requests of ~800-byte LLM spans), one fresh daemon per scenario: embedded ClickHouse over
 * HTTP, a ClickHouse server over HTTP and over gRPC, and the server over HTTP with two
 * scoring rules. Then the floors measured in the same run: protobuf decode alone, and a bare
 * client insert of the same rows, so every daemon figure can be read as a ratio of them.
 *
 * Knobs: BENCH_DURATION_MS (measured time per scenario, 20000), BENCH_WARMUP_MS (2000, not
 * measured), BENCH_CONCURRENCY (8), BENCH_SPANS_PER_REQUEST (1000), BENCH_SCENARIOS (comma
 * list of scenario names), BENCH_TRACK_EVERY / BENCH_TRACK_SPANS (time-to-score follows the
 * first 200 spans of every 5th request), BENCH_FLOOR_MS (measured time per floor, 8000),
 * BENCH_FLOOR_BATCH_ROWS (rows per floor insert, 10000), BENCH_FORWARD_PROTOCOL (grpc) and
 * BENCH_FORWARD_COMPRESSION (gzip) for the exporter of `server http + forward`.
 */
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const settings: BenchSettings = {
  durationMs: env('BENCH_DURATION_MS', 20_000),
  warmupMs: env('BENCH_WARMUP_MS', 2_000),
  concurrency: env('BENCH_CONCURRENCY', 8),
  spansPerRequest: env('BENCH_SPANS_PER_REQUEST', 1000),
  trackEvery: env('BENCH_TRACK_EVERY', 5),
  trackSpans: env('BENCH_TRACK_SPANS', 200),
  drainMs: 15_000,
};
const FLOOR_MS = env('BENCH_FLOOR_MS', 8_000);
const FLOOR_BATCH_ROWS = env('BENCH_FLOOR_BATCH_ROWS', 10_000);
// The daemon's default storage.clickhouse.insert.max_concurrent.
const FLOOR_CONCURRENT_INSERTS = 2;

function selectedScenarios(): ScenarioName[] {
  const list = process.env.BENCH_SCENARIOS;
  if (list === undefined || list.trim() === '') return [...SCENARIOS];
  const names = list.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`BENCH_SCENARIOS: unknown ${unknown.map((n) => JSON.stringify(n)).join(', ')}; known: ${SCENARIOS.join(', ')}`);
  return SCENARIOS.filter((name) => names.includes(name));
}

const progress = (text: string) => process.stderr.write(`bench: ${text}\n`);

async function insertFloor(mode: 'server' | 'embedded'): Promise<InsertFloorResult & { clickhouseMicrosPerSpan: number }> {
  const base = { database: 'bench_floor', spansPerRequest: settings.spansPerRequest, batchRows: FLOOR_BATCH_ROWS, concurrentInserts: FLOOR_CONCURRENT_INSERTS, durationMs: FLOOR_MS };
  if (mode === 'embedded') {
    const dir = mkdtempSync(join(tmpdir(), 'spanscore-bench-floor-'));
    try {
      const result = await runJsonChild<InsertFloorResult>('floor-insert.js', { ...base, embeddedPath: join(dir, 'clickhouse') } satisfies InsertFloorOptions);
      return { ...result, clickhouseMicrosPerSpan: Number.NaN };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const server = await startClickHouseServer({ maxLifetimeSeconds: 600 });
  try {
    const pid = findPidByArgument(`--http_port=${server.port}`);
    let before = cpuMicrosOrNaN(pid);
    const result = await runJsonChild<InsertFloorResult>('floor-insert.js', { ...base, url: server.url } satisfies InsertFloorOptions, (line) => {
      if (line.type === 'measuring') before = cpuMicrosOrNaN(pid);
    });
    return { ...result, clickhouseMicrosPerSpan: (cpuMicrosOrNaN(pid) - before) / result.rows };
  } finally {
    await server.dispose();
  }
}

const scenarios = selectedScenarios();
const bytesPerSpan = buildLlmSpanRequests(1, 1000)[0]!.length / 1000;
const cpuModel = cpus()[0]?.model.trim() ?? 'unknown CPU';
const header =
  `ingest benchmark, ${new Date().toISOString()}: ${availableParallelism()} cores (${cpuModel}), node ${process.version}, ` +
  `load average at start ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; ${settings.concurrency} senders x ${settings.spansPerRequest}-span OTLP protobuf requests (${Math.round(bytesPerSpan)} bytes/span encoded), ` +
  `${settings.warmupMs / 1000} s warm-up + ${settings.durationMs / 1000} s measured per scenario`;
progress(header);

progress(`floor: protobuf decode, ${FLOOR_MS / 1000} s...`);
const floors: Floors = { decode: await runJsonChild<DecodeFloorResult>('floor-decode.js', { spansPerRequest: settings.spansPerRequest, durationMs: FLOOR_MS }) };
if (scenarios.some((name) => name.startsWith('server'))) {
  progress(`floor: bare insert into a ClickHouse server, ${FLOOR_MS / 1000} s...`);
  floors.server = await insertFloor('server');
}
if (scenarios.some((name) => name.startsWith('embedded'))) {
  progress(`floor: bare insert into the embedded engine, ${FLOOR_MS / 1000} s...`);
  floors.embedded = await insertFloor('embedded');
}

const results: ScenarioResult[] = [];
for (const name of scenarios) {
  progress(`${name}: ${settings.concurrency} senders x ${settings.spansPerRequest}-span requests, ${settings.warmupMs / 1000} + ${settings.durationMs / 1000} s...`);
  results.push(await runScenario(name, settings));
}

const kernel = readFileSync('/proc/version', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`\n${header}; ${kernel}`);
console.log(TARGETS_LINE);
console.log(formatTable(results, floors));
console.log(formatNotes(results, floors, FLOOR_BATCH_ROWS));
console.log();
