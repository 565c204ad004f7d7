import { createClient } from '@clickhouse/client';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startClickHouseServer, type ClickHouseServer } from '../test/helpers/clickhouse-server.js';
import { runCli, startDaemon } from '../test/helpers/daemon-process.js';
import { PACKAGE_ROOT } from '../test/helpers/package-root.js';
import { runJsonChild } from './child-json.js';
import type { LoadOptions, LoadResult } from './load-generator.js';
import { cpuMicros, cpuMicrosOrNaN, findPidByArgument, machineBusyMicros, statusMiB } from './proc-stats.js';
import { TimeToScore, type TimeToScoreResult } from './time-to-score.js';
import { startDownstreamSink, type DownstreamSink } from './downstream-sink.js';

/**
 * One row of the ingest table: a fresh daemon (and, in server mode, a fresh ClickHouse
 * server, so no scenario pays for the previous one's merges) under the load generator.
 */
/** What deploy/Dockerfile's ENTRYPOINT and `npm start` give node. */
export const DAEMON_NODE_OPTIONS = '--max-semi-space-size=8';

export const SCENARIOS = ['embedded http', 'server http', 'server grpc', 'server http + rules', 'server http + forward', 'server http + buffer'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchSettings {
  durationMs: number;
  warmupMs: number;
  concurrency: number;
  spansPerRequest: number;
  /** Every n-th request of the rules scenario is tracked for time-to-score... */
  trackEvery: number;
  /** ...its first this many spans (about a tenth of them sampled by the rules). */
  trackSpans: number;
  /** How long after the load ends score rows may still appear before they count as missing. */
  drainMs: number;
}

export interface ScenarioResult {
  name: ScenarioName;
  mode: 'embedded' | 'server';
  load: LoadResult;
  spansPerSecond: number;
  daemonMicrosPerSpan: number;
  /** The ClickHouse server's CPU per acknowledged span (NaN embedded: it is in the daemon's). */
  clickhouseMicrosPerSpan: number;
  peakRssMiB: number;
  /** The load generator's CPU per acknowledged span: it shares the machine's cores. */
  loadGeneratorMicrosPerSpan: number;
  /**
   * Cores busy with other work during the measured window: machine CPU (/proc/stat) minus
   * the daemon, ClickHouse, the load generator and this driver. Above ~0.1 the figures are noisy.
   */
  otherCores: number;
  timeToScore?: TimeToScoreResult;
  /** Bench spans found in otel_traces afterwards, against those acknowledged (warm-up included). */
  stored: { rows: number; acknowledged: number } | undefined;
  /** From the daemon's /metrics at the end of the run (warm-up included). */
  daemon: Record<string, number | string>;
  /** The daemon's warnings and errors during the run: message -> count. */
  warnings: Record<string, number>;
}

const SAMPLING_RATE = 0.1;
const RULES = ['bench-levenshtein', 'bench-module'];
const DATABASE = 'spanscore';

/**
 * Every span is selectable (both span names of the load are listed), and sampling by trace id
 * at 10% then scores ~10% of all spans per rule: the load gives every span its own trace id.
 * Both rules sample the same traces (same rate, same scheme), so a sampled span gets two scores.
 */
const RULES_YAML = `
scorers:
  bench-module: { module: ${join(PACKAGE_ROOT, 'bench', 'fixtures', 'bench-scorer.mjs')} }
rules:
  - name: ${RULES[0]}
    scorers: [Levenshtein]
    sampling_rate: ${SAMPLING_RATE}
    apply_to: { span_names: [chat, llm.completion] }
  - name: ${RULES[1]}
    scorers: [bench-module]
    sampling_rate: ${SAMPLING_RATE}
    apply_to: { span_names: [chat, llm.completion] }
`;

/** Every received span forwarded, unchanged, over OTLP/gRPC (the Collector's default exporter protocol, gzip). */
const forwardYaml = (sink: DownstreamSink) => `
exporters:
  otlp:
    protocol: ${process.env.BENCH_FORWARD_PROTOCOL ?? 'grpc'}
    endpoint: ${(process.env.BENCH_FORWARD_PROTOCOL ?? 'grpc') === 'grpc' ? sink.address : sink.httpUrl}
    tls: { insecure: true }
    compression: ${process.env.BENCH_FORWARD_COMPRESSION ?? 'gzip'}
`;

function daemonYaml(storage: string, rules: boolean, extra = ''): string {
  // Defaults everywhere else (memory limiter, group commit, scoring): the daemon as shipped.
  return `
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:0 }
      http: { endpoint: 127.0.0.1:0 }
storage:
  clickhouse:
${storage}
admin: { endpoint: 127.0.0.1:0 }
${rules ? RULES_YAML : ''}${extra}`;
}

export async function runScenario(name: ScenarioName, settings: BenchSettings): Promise<ScenarioResult> {
  const mode = name.startsWith('embedded') ? 'embedded' : 'server';
  const transport = name.includes('grpc') ? 'grpc' : 'http';
  const rules = name.endsWith('+ rules');
  const sink = name.endsWith('+ forward') ? await startDownstreamSink() : undefined;
  const dataDir = mode === 'embedded' ? mkdtempSync(join(tmpdir(), 'spanscore-bench-')) : undefined;
  let server: ClickHouseServer | undefined;
  if (mode === 'server') server = await startClickHouseServer({ maxLifetimeSeconds: 900 });
  const clickhousePid = server === undefined ? undefined : findPidByArgument(`--http_port=${server.port}`);
  // The durable buffer as shipped (fsync on); with ClickHouse up it writes nothing, so this row measures what it costs then.
  const bufferDir = name.endsWith('+ buffer') ? mkdtempSync(join(tmpdir(), 'spanscore-bench-buffer-')) : undefined;
  const storage =
    (server !== undefined ? `    url: ${server.url}` : `    embedded: { path: ${join(dataDir!, 'clickhouse')} }`) +
    (bufferDir !== undefined ? `\n    buffer: { path: ${bufferDir} }` : '');
  // Node's flags as the image and `npm start` run the daemon (see deploy/Dockerfile).
  const daemon = await startDaemon(daemonYaml(storage, rules, sink ? forwardYaml(sink) : ''), { env: { NODE_OPTIONS: DAEMON_NODE_OPTIONS } });
  const client = server === undefined ? undefined : createClient({ url: server.url, request_timeout: 60_000 });
  try {
    const pid = daemon.child.pid!;
    const marker = randomBytes(4);
    marker[0]! |= 0x80; // see stamp() in request-templates.ts
    const timeToScore = rules ? new TimeToScore(client!, DATABASE, marker.toString('hex'), RULES, SAMPLING_RATE) : undefined;
    const address = transport === 'http' ? daemon.addresses.http! : daemon.addresses.grpc!;
    const options: LoadOptions = {
      transport,
      address,
      concurrency: settings.concurrency,
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
      spansPerRequest: settings.spansPerRequest,
      trackEvery: rules ? settings.trackEvery : 0,
      trackSpans: settings.trackSpans,
      marker: marker.toString('hex'),
    };
    const sample = () => ({
      daemon: cpuMicros(pid),
      clickhouse: cpuMicrosOrNaN(clickhousePid),
      sink: sink === undefined ? 0 : cpuMicros(sink.pid),
      machine: machineBusyMicros(),
      driver: process.cpuUsage(),
      at: performance.now(),
    });
    let before = sample();
    timeToScore?.start();
    const load = await runJsonChild<LoadResult>('load-generator.js', options, (line) => {
      if (line.type === 'measuring') {
        before = sample();
      } else if (line.type === 'tracked') {
        timeToScore!.add(line.ackAt as number, line.ids as Array<[string, string]>);
      }
    });
    const after = sample();
    const daemonCpu = after.daemon - before.daemon;
    const clickhouseCpu = after.clickhouse - before.clickhouse;
    const driverCpu = process.cpuUsage(before.driver);
    const sinkCpu = after.sink - before.sink;
    const attributed = daemonCpu + (Number.isNaN(clickhouseCpu) ? 0 : clickhouseCpu) + sinkCpu + load.cpuMicros + driverCpu.user + driverCpu.system;
    const otherCores = (after.machine - before.machine - attributed) / ((after.at - before.at) * 1000);
    const peakRssMiB = statusMiB(pid, 'VmHWM');
    const tts = await timeToScore?.finish(settings.drainMs);
    const metrics = await daemonMetrics(daemon.addresses.admin);
    const perSpan = (micros: number) => (load.ackedSpans > 0 ? micros / load.ackedSpans : Number.NaN);
    const stored = client !== undefined ? await countStoredServer(client) : undefined;
    await daemon.stop('SIGTERM');
    const forwarded = await sink?.stop();
    return {
      name,
      mode,
      load,
      spansPerSecond: (load.ackedSpans / load.elapsedMs) * 1000,
      daemonMicrosPerSpan: perSpan(daemonCpu),
      clickhouseMicrosPerSpan: perSpan(clickhouseCpu),
      peakRssMiB,
      loadGeneratorMicrosPerSpan: perSpan(load.cpuMicros),
      otherCores: Math.max(0, otherCores),
      timeToScore: tts,
      stored: { rows: stored ?? (await countStoredEmbedded(daemon.configFile)), acknowledged: load.ackedSpansTotal },
      daemon: forwarded ? { ...metrics, forwardedRequests: forwarded.requests, forwardedBytes: forwarded.bytes } : metrics,
      warnings: warnings(daemon.logs),
    };
  } finally {
    await daemon.stop('SIGTERM');
    await client?.close();
    await server?.dispose();
    await sink?.stop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    if (bufferDir !== undefined) rmSync(bufferDir, { recursive: true, force: true });
  }
}

/**
 * pino levels: 40 warn, 50 error, 60 fatal; the memory limiter says here why it refused or
 * shed. Only after the ready line: start-up warnings (no API keys on loopback) are expected.
 */
function warnings(logs: Record<string, unknown>[]): Record<string, number> {
  const counts: Record<string, number> = {};
  const ready = logs.findIndex((entry) => String(entry.msg).startsWith('spanscore ready'));
  for (const entry of logs.slice(ready + 1)) {
    if (Number(entry.level) < 40) continue;
    const message = String(entry.msg).slice(0, 200);
    counts[message] = (counts[message] ?? 0) + 1;
  }
  return counts;
}

const STORED_SQL = `SELECT count() AS n FROM ${DATABASE}.otel_traces WHERE ScopeName = 'bench'`;

async function countStoredServer(client: ReturnType<typeof createClient>): Promise<number> {
  const rows = await (await client.query({ query: STORED_SQL, format: 'JSONEachRow' })).json<{ n: string }>();
  return Number(rows[0]!.n);
}

/** The embedded store can be read once the daemon released it, with the project's own CLI. */
async function countStoredEmbedded(configFile: string): Promise<number> {
  const { code, stdout, stderr } = await runCli(['query', '--config', configFile, '--format', 'json', STORED_SQL]);
  if (code !== 0) throw new Error(`spanscore query failed (${code}): ${stderr}`);
  return Number((JSON.parse(stdout) as Array<{ n: string }>)[0]!.n);
}

/** The counters that explain a figure: refusals, shedding, batch sizes, score outcomes. */
async function daemonMetrics(admin: string): Promise<Record<string, number | string>> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const sum = (name: string, labelPart = '') =>
    text
      .split('\n')
      .filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(labelPart))
      .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  const requests = text
    .split('\n')
    .filter((line) => line.startsWith('spanscore_receiver_requests_total{'))
    .map((line) => `${/transport="(\w+)"/.exec(line)?.[1]}/${/status="([^"]+)"/.exec(line)?.[1]}:${line.slice(line.lastIndexOf(' ') + 1)}`)
    .join(' ');
  const batchRows = sum('spanscore_storage_insert_batch_rows_sum', 'table="otel_traces"');
  const batches = sum('spanscore_storage_insert_batch_rows_count', 'table="otel_traces"');
  return {
    requests,
    storedSpans: sum('spanscore_storage_stored_spans_total'),
    meanInsertRows: batches > 0 ? Math.round(batchRows / batches) : 0,
    memoryLimiterRefusedRequests: sum('spanscore_memory_limiter_refused_requests_total'),
    memoryLimiterRefusedSpans: sum('spanscore_memory_limiter_refused_spans_total'),
    pipelineRefusedSpans: sum('spanscore_pipeline_refused_spans_total'),
    scores: sum('spanscore_scores_total'),
    scoringShed: sum('spanscore_scoring_shed_total'),
    scoreWriteFailures: sum('spanscore_scoring_write_failures_total'),
    exporterSentSpans: sum('spanscore_exporter_sent_spans_total'),
    exporterShedSpans: sum('spanscore_exporter_shed_spans_total'),
    exporterFailedSpans: sum('spanscore_exporter_send_failed_spans_total'),
  };
}
