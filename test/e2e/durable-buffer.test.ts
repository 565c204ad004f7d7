import { SpanKind, context, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { otlpJsonRequest, postJson, randomTraceId } from '../helpers/otlp-json.js';
import { RecordingExporter, makeExporter, type ExporterKind } from '../helpers/otel-sender.js';
import { waitFor } from '../helpers/wait-for.js';
import { unscoredRootsSql } from '../helpers/score-coverage.js';
import { metricSum } from '../helpers/admin-api.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An app: the stock SDK with its stock exporter and BatchSpanProcessor (defaults but for a
 * shorter delay), ending `tracesPerSecond` two-span traces a second until `stop()`.
 */
function startApp(kind: ExporterKind, address: string, service: string, tracesPerSecond: number) {
  const exporter = new RecordingExporter(makeExporter(kind, address));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 200 })],
  });
  const tracer = provider.getTracer('durable-buffer-e2e');
  let running = true;
  let ended = 0;
  const loop = (async () => {
    const started = Date.now();
    for (let i = 0; running; i++) {
      const root = tracer.startSpan('chat', { kind: SpanKind.SERVER, attributes: { 'output.value': `a${i}`, expected: `a${i}` } });
      tracer.startSpan('llm', {}, trace.setSpan(context.active(), root)).end();
      root.end();
      ended += 2;
      // Paced against the clock, so the rate holds whatever the event loop does.
      const due = started + ((i + 1) * 1000) / tracesPerSecond;
      if (due > Date.now()) await sleep(due - Date.now());
    }
  })();
  return {
    exporter,
    get ended() {
      return ended;
    },
    async stop(): Promise<void> {
      running = false;
      await loop;
      await provider.forceFlush();
      await provider.shutdown();
    },
  };
}

const spanKeys = (exporter: RecordingExporter) => exporter.acknowledged.map((span) => `${span.spanContext().traceId}/${span.spanContext().spanId}`);

async function storedCounts(storage: ClickHouseStorage, service: string): Promise<Map<string, number>> {
  const rows = await storage.query<{ key: string; n: string }>(
    `SELECT concat(TraceId, '/', SpanId) AS key, count() AS n FROM otel_traces
     WHERE ServiceName = {service:String} AND ScopeName != 'spanscore' GROUP BY key`,
    { service },
  );
  return new Map(rows.map((row) => [row.key, Number(row.n)]));
}

async function unscoredRoots(storage: ClickHouseStorage, service: string): Promise<number> {
  const [row] = await storage.query<{ n: string }>(unscoredRootsSql(service, 'roots'));
  return Number(row!.n);
}


// Recovery is off: every score below comes from the replay handing spans to scoring.
const RULES = 'scoring:\n  recovery: { enabled: false }\nrules:\n  - name: roots\n    scorers: [ExactMatch]\n';

describe('the durable buffer (storage.clickhouse.buffer)', () => {
  let server: ClickHouseServer;
  let storage: ClickHouseStorage;
  const bufferDir = mkdtempSync(join(tmpdir(), 'spanscore-buffer-'));

  beforeAll(async () => {
    server = await startClickHouseServer();
    storage = new ClickHouseStorage({ url: server.url, database: 'spanscore', logger: silentLogger() });
  });

  afterAll(async () => {
    await storage?.close();
    await server?.dispose();
  });

  it('keeps the stock gRPC and HTTP exporters whole through a 20 s outage at a steady rate: none given up, each span stored once and scored', async () => {
    const daemon = await startDaemon(
      daemonConfig({ url: server.url, clickhouse: `    request_timeout: 2s\n    buffer: { path: ${join(bufferDir, 'outage')}, max_size_mib: 256 }`, extra: RULES }),
    );
    try {
      const service = 'buffer-outage';
      // Two apps, 1,000 spans/s between them.
      const apps = [startApp('grpc', daemon.addresses.grpc!, service, 250), startApp('http/protobuf', daemon.addresses.http!, service, 250)];
      await sleep(3_000);
      await server.stop();
      const readyWhileDown: number[] = [];
      let bufferedWhileDown = 0;
      const downAt = Date.now();
      while (Date.now() - downAt < 20_000) {
        readyWhileDown.push((await fetch(`http://${daemon.addresses.admin}/readyz`)).status);
        bufferedWhileDown = Math.max(bufferedWhileDown, metricSum(await (await fetch(`http://${daemon.addresses.admin}/metrics`)).text(), 'spanscore_buffer_spans'));
        await sleep(2_000);
      }
      await server.restart();
      await sleep(3_000);
      await Promise.all(apps.map((app) => app.stop()));

      // Nothing given up at the clients: every span the apps ended was acknowledged.
      for (const app of apps) {
        expect(app.exporter.failed.flatMap((batch) => batch.spans)).toHaveLength(0);
        expect(app.exporter.acknowledged).toHaveLength(app.ended);
      }
      expect(new Set(readyWhileDown)).toEqual(new Set([200]));
      expect(bufferedWhileDown).toBeGreaterThan(5_000);

      const acknowledged = apps.flatMap((app) => spanKeys(app.exporter));
      await waitFor(async () => (await storedCounts(storage, service)).size >= acknowledged.length, { timeoutMs: 60_000, what: 'the buffer replayed' });
      const stored = await storedCounts(storage, service);
      expect(acknowledged.filter((key) => stored.get(key) !== 1)).toEqual([]);
      expect(stored.size).toBe(acknowledged.length);
      await waitFor(async () => (await unscoredRoots(storage, service)) === 0, { timeoutMs: 60_000, intervalMs: 500, what: 'every root span scored' });

      const metrics = await (await fetch(`http://${daemon.addresses.admin}/metrics`)).text();
      expect(metricSum(metrics, 'spanscore_buffer_spans')).toBe(0);
      expect(metricSum(metrics, 'spanscore_buffer_buffering')).toBe(0);
      expect(metricSum(metrics, 'spanscore_buffer_replayed_spans_total')).toBeGreaterThanOrEqual(bufferedWhileDown);
      console.log(`durable-buffer outage: ${acknowledged.length} spans acknowledged, ${bufferedWhileDown} buffered at most, 0 given up, each stored once`);
    } finally {
      await daemon.stop('SIGKILL');
    }
  }, 150_000);

  it('after kill -9 while buffering and a restart, every acknowledged span is stored once and scored', async () => {
    const config = daemonConfig({ url: server.url, clickhouse: `    request_timeout: 2s\n    buffer: { path: ${join(bufferDir, 'crash')} }`, extra: RULES });
    let daemon: RunningDaemon = await startDaemon(config);
    const service = 'buffer-crash';
    try {
      await server.stop();
      const app = startApp('http/protobuf', daemon.addresses.http!, service, 500);
      await sleep(4_000);
      await app.stop();
      expect(app.exporter.failed).toEqual([]);
      expect(app.exporter.acknowledged).toHaveLength(app.ended);
      expect(readdirSync(join(bufferDir, 'crash')).some((name) => name.startsWith('segment-'))).toBe(true);
      await daemon.stop('SIGKILL');

      await server.restart();
      daemon = await startDaemon(config);
      expect(daemon.logs.some((line) => String(line.msg).includes('holds spans from before the restart'))).toBe(true);
      const acknowledged = spanKeys(app.exporter);
      await waitFor(async () => (await storedCounts(storage, service)).size >= acknowledged.length, { timeoutMs: 60_000, what: 'the buffer replayed after the restart' });
      const stored = await storedCounts(storage, service);
      expect(acknowledged.filter((key) => stored.get(key) !== 1)).toEqual([]);
      await waitFor(async () => (await unscoredRoots(storage, service)) === 0, { timeoutMs: 60_000, intervalMs: 500, what: 'every root span scored' });
    } finally {
      await daemon.stop('SIGKILL');
    }
  }, 120_000);

  it('refuses retryably only once the buffer is full, and takes data again when ClickHouse is back', async () => {
    const daemon = await startDaemon(
      daemonConfig({ url: server.url, clickhouse: `    request_timeout: 2s\n    buffer: { path: ${join(bufferDir, 'full')}, max_size_mib: 0.05 }` }),
    );
    try {
      await server.stop();
      const statuses: number[] = [];
      const body = otlpJsonRequest(Array.from({ length: 20 }, () => ({ traceId: randomTraceId() }))).body;
      for (let i = 0; i < 40 && !statuses.includes(503); i++) {
        const response = await postJson(daemon.addresses.http!, body);
        statuses.push(response.status);
        if (response.status === 503) expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      expect(statuses[0]).toBe(200);
      expect(statuses.at(-1)).toBe(503);
      expect((await fetch(`http://${daemon.addresses.admin}/readyz`)).status).toBe(503);
      const metrics = await (await fetch(`http://${daemon.addresses.admin}/metrics`)).text();
      expect(metricSum(metrics, 'spanscore_buffer_refused_spans_total')).toBeGreaterThan(0);
      await server.restart();
      await waitFor(async () => (await postJson(daemon.addresses.http!, body)).status === 200, { timeoutMs: 30_000, what: 'accepting again' });
    } finally {
      await daemon.stop('SIGKILL');
    }
  }, 90_000);
});
