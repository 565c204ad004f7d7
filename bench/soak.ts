import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { samplingSql } from '../src/scoring/on-demand/rule-sql.js';
import { startClickHouseServer } from '../test/helpers/clickhouse-server.js';
import { startDaemon } from '../test/helpers/daemon-process.js';
import { PACKAGE_ROOT } from '../test/helpers/package-root.js';

/**
 * `npm run bench:soak` (not part of the test suite): a daemon against a ClickHouse HTTP server
 * for SOAK_MINUTES (default 10), mixed OTLP/HTTP load from a separate process, a rule scoring
 * 10% of the spans with Levenshtein, and ClickHouse killed every ~2 minutes for ~10 s.
 * Every 30 s it prints spans sent / acknowledged / stored, selected / scored, and the
 * daemon's RSS; at the end, after a recovery sweep that covers the whole load, the spans
 * acknowledged but not stored and the selected spans without a score (both should be 0).
 *
 * The load generator is this file run with `load` (so its CPU is not the daemon's): unlike
 * bench/load-generator.ts, which replays 32 bodies, every request carries new span ids, so
 * "acknowledged but missing" can be checked span by span; it retries refused requests the way
 * an OTel exporter does, and records the ids of every acknowledged span in a file.
 */

const SERVICE = 'soak-app';
const RULE = 'soak-levenshtein';
const SAMPLING = 0.1;

interface LoadOptions {
  address: string;
  spansPerSecond: number;
  concurrency: number;
  durationMs: number;
  ackFile: string;
}

interface LoadProgress {
  sent: number;
  acked: number;
  failed: number;
  retries: number;
  done?: boolean;
}

async function runSoak(): Promise<void> {
  const minutes = Number(process.env.SOAK_MINUTES ?? 10);
  const durationMs = Math.round(minutes * 60_000);
  const restartEveryMs = Number(process.env.SOAK_RESTART_EVERY_MS ?? 120_000);
  const outageMs = Number(process.env.SOAK_OUTAGE_MS ?? 10_000);
  const spansPerSecond = Number(process.env.SOAK_SPANS_PER_SECOND ?? 2_000);
  // Shorter than the defaults (5 min / 2 min) so the final sweep comes within a minute of the load's end.
  const recoveryInterval = process.env.SOAK_RECOVERY_INTERVAL ?? '30s';
  const recoveryMinAge = process.env.SOAK_RECOVERY_MIN_AGE ?? '15s';
  const minAgeMs = parseSeconds(recoveryMinAge) * 1_000;
  const dir = mkdtempSync(join(tmpdir(), 'spanscore-soak-'));
  const ackFile = join(dir, 'acknowledged.csv');

  const server = await startClickHouseServer({ maxLifetimeSeconds: Math.ceil(durationMs / 1000) + 1_800 });
  const daemon = await startDaemon(
    `
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:0 }
storage:
  clickhouse:
    url: ${server.url}
    request_timeout: 5s
admin: { endpoint: 127.0.0.1:0 }
scoring:
  recovery: { min_age: ${recoveryMinAge}, interval: ${recoveryInterval} }
rules:
  - name: ${RULE}
    scorers: [Levenshtein]
    sampling_rate: ${SAMPLING}
    apply_to: { root_spans: true, span_names: [llm.completion] }
`,
    // Debug: the recovery sweeps that find nothing say so, which tells when the final one ran.
    { env: { SPANSCORE_LOG_LEVEL: 'debug' } },
  );
  const pid = daemon.child.pid!;
  // Its own failures while ClickHouse is down are reported in the figures, not as stack traces.
  const clickhouse = createClient({ url: server.url, database: 'spanscore', request_timeout: 60_000, log: { level: ClickHouseLogLevel.OFF } });
  const started = Date.now();
  console.log(
    `soak: ${minutes} min, ~${spansPerSecond} spans/s, ClickHouse killed every ${restartEveryMs / 1000} s for ${outageMs / 1000} s; ` +
      `rule ${RULE}: Levenshtein on ${SAMPLING * 100}% of spans; recovery every ${recoveryInterval}, min_age ${recoveryMinAge}`,
  );

  let progress: LoadProgress = { sent: 0, acked: 0, failed: 0, retries: 0 };
  const load = spawn(process.execPath, [fileURLToPath(import.meta.url), 'load', JSON.stringify({ address: daemon.addresses.http!, spansPerSecond, concurrency: 8, durationMs, ackFile })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  createInterface({ input: load.stdout! }).on('line', (line) => (progress = JSON.parse(line) as LoadProgress));
  const loadExited = new Promise<number | null>((resolve) => load.once('exit', resolve));

  let down = false;
  let outages = 0;
  const outagesDone = (async () => {
    for (let at = restartEveryMs; at + outageMs <= durationMs; at += restartEveryMs) {
      await sleepUntil(started + at);
      await server.stop();
      down = true;
      outages++;
      await sleep(outageMs);
      await server.restart();
      down = false;
    }
  })();

  const selection = samplingSql(SAMPLING, 'soak');
  const figures = async (): Promise<string> => {
    if (down) return 'ClickHouse down';
    try {
      // Distinct spans: a retried request can store a span twice.
      const [row] = await query<{ stored: string; rows: string; selected: string; scored: string }>(
        clickhouse,
        `SELECT
           (SELECT uniqExact(TraceId, SpanId) FROM otel_traces WHERE ServiceName = {service:String} AND ScopeName != 'spanscore') AS stored,
           (SELECT count() FROM otel_traces WHERE ServiceName = {service:String} AND ScopeName != 'spanscore') AS rows,
           (SELECT uniqExact(TraceId, SpanId) FROM otel_traces WHERE ServiceName = {service:String} AND ScopeName != 'spanscore' AND ${selection.sql}) AS selected,
           (SELECT uniqExact(TraceId, SpanId) FROM scores WHERE Rule = {rule:String}) AS scored`,
        { ...selection.params, service: SERVICE, rule: RULE },
      );
      return `stored ${row!.stored} (+${Number(row!.rows) - Number(row!.stored)} duplicate rows), selected ${row!.selected} / scored ${row!.scored}`;
    } catch (error) {
      return `ClickHouse query failed (${(error as Error).message.split('\n')[0]})`;
    }
  };
  const report = async () => {
    const elapsed = Math.round((Date.now() - started) / 1000);
    console.log(
      `[${String(Math.floor(elapsed / 60)).padStart(2, '0')}:${String(elapsed % 60).padStart(2, '0')}] sent ${progress.sent}, acknowledged ${progress.acked}, ` +
        `failed ${progress.failed} (${progress.retries} retried requests), ${await figures()}, daemon RSS ${rssMiB(pid)} MiB, outages so far ${outages}`,
    );
  };
  const ticker = setInterval(() => void report(), 30_000);

  const loadCode = await loadExited;
  await outagesDone;
  const loadEndedAt = Date.now();
  if (loadCode !== 0) throw new Error(`the load generator exited with ${loadCode}`);
  await report();

  // The final sweep: the first one to start once the last span is older than min_age.
  console.log('soak: load done; waiting for a recovery sweep covering all of it...');
  const sweepDeadline = loadEndedAt + minAgeMs + parseSeconds(recoveryInterval) * 1_000 + 120_000;
  let sweep: Record<string, unknown> | undefined;
  while (sweep === undefined && Date.now() < sweepDeadline) {
    await sleep(1_000);
    sweep = daemon.logs.find((entry) => isSweepEnd(entry) && sweepStartMs(entry) >= loadEndedAt + minAgeMs);
  }
  clearInterval(ticker);
  await report();

  const missing = await acknowledgedButMissing(clickhouse, ackFile);
  const [unscored] = await query<{ n: string }>(
    clickhouse,
    `SELECT count() AS n FROM (SELECT DISTINCT TraceId, SpanId FROM otel_traces WHERE ServiceName = {service:String} AND ScopeName != 'spanscore' AND ${selection.sql})
     WHERE (TraceId, SpanId) NOT IN (SELECT TraceId, SpanId FROM scores FINAL WHERE Rule = {rule:String})`,
    { ...selection.params, service: SERVICE, rule: RULE },
  );
  const [dup] = await query<{ n: string }>(
    clickhouse,
    `SELECT count() - uniqExact(TraceId, SpanId) AS n FROM otel_traces WHERE ServiceName = {service:String} AND ScopeName != 'spanscore'`,
    { service: SERVICE },
  );
  const metrics = await (await fetch(`http://${daemon.addresses.admin}/metrics`)).text();
  const metric = (name: string) => metrics.split('\n').find((line) => line.startsWith(`${name} `))?.split(' ')[1] ?? '0';
  const recoveries = daemon.logs.filter((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('scoring recovery: scored'));
  console.log(
    `soak: ${outages} ClickHouse outage(s); ${dup!.n} duplicate span rows from retried requests; scores given up by the recorder ` +
      `${metric('spanscore_scoring_write_failures_total')}, queued by recovery ${metric(`spanscore_scoring_recovered_total{rule="${RULE}"}`)} in ${recoveries.length} sweep(s); ` +
      `final sweep ${sweep === undefined ? 'NOT SEEN' : `ran (${String(sweep.msg)})`}`,
  );
  console.log(`FINAL: acknowledged-but-missing ${missing}, selected-but-unscored ${unscored!.n}`);

  await daemon.stop('SIGTERM');
  await clickhouse.close();
  await server.dispose();
  rmSync(dir, { recursive: true, force: true });
}

function isSweepEnd(entry: Record<string, unknown>): boolean {
  return typeof entry.msg === 'string' && (entry.msg.startsWith('scoring recovery: scored') || entry.msg === 'scoring recovery: nothing to recover');
}

function sweepStartMs(entry: Record<string, unknown>): number {
  return Date.parse(String(entry.time)) - Number(entry.durationMs ?? 0);
}

/** Loads the acknowledged ids into a table next to otel_traces and counts those not stored. */
async function acknowledgedButMissing(clickhouse: ReturnType<typeof createClient>, ackFile: string): Promise<number> {
  await clickhouse.command({ query: 'CREATE TABLE IF NOT EXISTS soak_acknowledged (TraceId String, SpanId String) ENGINE = MergeTree ORDER BY TraceId' });
  let batch: Array<{ TraceId: string; SpanId: string }> = [];
  for await (const line of createInterface({ input: createReadStream(ackFile) })) {
    const [TraceId, SpanId] = line.split(',');
    batch.push({ TraceId: TraceId!, SpanId: SpanId! });
    if (batch.length === 100_000) {
      await clickhouse.insert({ table: 'soak_acknowledged', values: batch, format: 'JSONEachRow' });
      batch = [];
    }
  }
  if (batch.length > 0) await clickhouse.insert({ table: 'soak_acknowledged', values: batch, format: 'JSONEachRow' });
  const [row] = await query<{ n: string }>(
    clickhouse,
    `SELECT count() AS n FROM soak_acknowledged WHERE (TraceId, SpanId) NOT IN (SELECT TraceId, SpanId FROM otel_traces WHERE ServiceName = {service:String})`,
    { service: SERVICE },
  );
  return Number(row!.n);
}

async function query<T>(clickhouse: ReturnType<typeof createClient>, sql: string, params: Record<string, unknown>): Promise<T[]> {
  const result = await clickhouse.query({ query: sql, query_params: params, format: 'JSONEachRow' });
  return result.json<T>();
}

function rssMiB(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
    return Math.round(Number(line.split(/\s+/)[1]) / 1024);
  } catch {
    return -1;
  }
}

function parseSeconds(duration: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(duration.trim());
  if (!match) throw new Error(`cannot read duration ${duration}`);
  const value = Number(match[1]);
  return match[2] === 'ms' ? value / 1000 : match[2] === 'm' ? value * 60 : value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sleepUntil(at: number): Promise<void> {
  return sleep(Math.max(0, at - Date.now()));
}

/** The load generator process: paced senders of new spans, retrying like an OTel exporter. */
async function runLoad(options: LoadOptions): Promise<void> {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(PACKAGE_ROOT, 'proto', target));
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  const type = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  const separator = options.address.lastIndexOf(':');
  const [host, port] = [options.address.slice(0, separator), Number(options.address.slice(separator + 1))];
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const acks = createWriteStream(options.ackFile);
  const progress: LoadProgress = { sent: 0, acked: 0, failed: 0, retries: 0 };
  const emit = () => process.stdout.write(`${JSON.stringify(progress)}\n`);
  const ticker = setInterval(emit, 1_000);
  // Mixed: mostly small requests, some large ones.
  const sizes = [1, 1, 5, 10, 10, 50, 100, 500];
  const start = Date.now();
  const end = start + options.durationMs;

  const post = (body: Buffer) =>
    new Promise<number>((resolve) => {
      const req = request({ host, port, method: 'POST', path: '/v1/traces', agent, timeout: 30_000, headers: { 'Content-Type': 'application/x-protobuf', 'Content-Length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(0));
      req.end(body);
    });

  const sender = async (index: number) => {
    for (let n = index; Date.now() < end; n++) {
      const size = sizes[n % sizes.length]!;
      // Paced to spansPerSecond overall.
      while (progress.sent + size > ((Date.now() - start) / 1000) * options.spansPerSecond) await sleep(5);
      const { body, ids } = buildRequest(type, size, n);
      progress.sent += size;
      // As the OTel exporters: retry 503 / 429 / connection errors with backoff, for at most 2 minutes.
      const giveUpAt = Date.now() + 120_000;
      for (let backoff = 250; ; backoff = Math.min(backoff * 2, 5_000)) {
        const status = await post(body);
        if (status === 200) {
          progress.acked += size;
          acks.write(ids.join('\n') + '\n');
          break;
        }
        if ((status !== 0 && status !== 429 && status !== 502 && status !== 503 && status !== 504) || Date.now() + backoff > giveUpAt) {
          progress.failed += size;
          break;
        }
        progress.retries++;
        await sleep(backoff * (0.8 + 0.4 * Math.random()));
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => sender(i)));
  clearInterval(ticker);
  await new Promise<void>((resolve) => acks.end(resolve));
  progress.done = true;
  emit();
  agent.destroy();
}

function buildRequest(type: protobuf.Type, size: number, n: number): { body: Buffer; ids: string[] } {
  const now = BigInt(Date.now()) * 1_000_000n;
  const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const ids: string[] = [];
  const spans = [];
  let traceId = randomBytes(16);
  let rootId = randomBytes(8);
  for (let i = 0; i < size; i++) {
    // Traces of 4 spans: a root `chat` and three `llm.completion` children.
    const isRoot = i % 4 === 0;
    if (isRoot) {
      traceId = randomBytes(16);
      rootId = randomBytes(8);
    }
    const spanId = isRoot ? rootId : randomBytes(8);
    ids.push(`${traceId.toString('hex')},${spanId.toString('hex')}`);
    const k = n * 1000 + i;
    spans.push({
      traceId,
      spanId,
      parentSpanId: isRoot ? undefined : rootId,
      name: isRoot ? 'chat' : 'llm.completion',
      kind: isRoot ? 2 : 3,
      startTimeUnixNano: (now + BigInt(i) * 1000n).toString(),
      endTimeUnixNano: (now + BigInt(i) * 1000n + 250_000_000n).toString(),
      attributes: [
        str('input.value', `What is the capital of country number ${k}? Please answer briefly.`),
        str('output.value', `The capital of country number ${k} is City ${k % 997}.`),
        str('expected', `The capital of country number ${k} is City ${k % 991}.`),
        str('gen_ai.request.model', 'gpt-4o-mini'),
        str('metadata.user_id', `user-${k % 1000}`),
      ],
      status: { code: 1 },
    });
  }
  const message = type.fromObject({
    resourceSpans: [{ resource: { attributes: [str('service.name', SERVICE)] }, scopeSpans: [{ scope: { name: 'soak', version: '1' }, spans }] }],
  });
  return { body: Buffer.from(type.encode(message).finish()), ids };
}

// Last, once every declaration above is initialised.
if (process.argv[2] === 'load') await runLoad(JSON.parse(process.argv[3]!) as LoadOptions);
else await runSoak();
