import { status as GrpcStatus } from '@grpc/grpc-js';
import { SpanKind, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { otlpJsonRequest, postJson, randomTraceId } from '../helpers/otlp-json.js';
import { RecordingExporter, sendTraces } from '../helpers/otel-sender.js';
import { exportRaw } from '../helpers/raw-grpc.js';
import { encodeExportRequest } from '../helpers/otlp-protobuf.js';
import { waitFor } from '../helpers/wait-for.js';
import { unscoredRootsSql } from '../helpers/score-coverage.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ClickHouse down, then back', () => {
  let server: ClickHouseServer;
  let daemon: RunningDaemon;
  let storage: ClickHouseStorage;

  beforeAll(async () => {
    server = await startClickHouseServer();
    storage = new ClickHouseStorage({ url: server.url, database: 'spanscore', logger: silentLogger() });
    daemon = await startDaemon(
      daemonConfig({
        url: server.url,
        clickhouse: '    request_timeout: 2s',
        // Recovery every 2 s, for spans older than 1 s: the test need not wait minutes.
        extra: `scoring:\n  recovery: { min_age: 1s, interval: 2s }\nrules:\n  - name: roots\n    scorers: [ExactMatch]\n`,
      }),
    );
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await storage?.close();
    await server?.stop();
  });

  it('answers 503 / UNAVAILABLE while down, acknowledges nothing unstored, and stores retried requests after', async () => {
    const before = randomTraceId();
    expect((await postJson(daemon.addresses.http!, otlpJsonRequest([{ traceId: before }]).body)).status).toBe(200);

    await server.stop();

    const down = randomTraceId();
    const response = await postJson(daemon.addresses.http!, otlpJsonRequest([{ traceId: down }]).body);
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    const grpc = await exportRaw(daemon.addresses.grpc!, encodeExportRequest(randomTraceId()));
    expect(grpc.error?.code).toBe(GrpcStatus.UNAVAILABLE);
    const ready = await fetch(`http://${daemon.addresses.admin}/readyz`);
    expect(ready.status).toBe(503);

    // The stock exporter retries 503s with backoff; bring ClickHouse back while it does.
    const sending = sendTraces('http/protobuf', daemon.addresses.http!, { count: 2, serviceName: 'outage' });
    await new Promise((r) => setTimeout(r, 1500));
    await server.restart();
    const { exporter, traces } = await sending;
    expect(exporter.failed).toEqual([]);
    expect(exporter.acknowledged).toHaveLength(6);

    const stored = await storage.query<{ TraceId: string; n: string }>(
      `SELECT TraceId, count() AS n FROM otel_traces WHERE SpanName NOT LIKE 'score %' GROUP BY TraceId`,
    );
    const byTrace = new Map(stored.map((r) => [r.TraceId, Number(r.n)]));
    expect(byTrace.get(before)).toBe(1);
    expect(byTrace.has(down)).toBe(false);
    for (const t of traces) expect(byTrace.get(t.traceId)).toBe(3);
    expect((await fetch(`http://${daemon.addresses.admin}/readyz`)).status).toBe(200);
  });

  // A 10 s outage is within the ScoreRecorder's retries (~30 s), so the scores pending when
  // ClickHouse went away are written late rather than lost; the recovery sweeps (every 2 s
  // here) are what catches any the recorder gives up on.
  it('under load, a 10 s outage loses no acknowledged span and leaves no selected span unscored', async () => {
    const service = 'outage-load';
    const readyz = async () => (await fetch(`http://${daemon.addresses.admin}/readyz`)).status;
    // Retries 503 (the daemon's Retry-After) and refused connections for up to 30 s per batch;
    // the final forceFlush sends every queued batch at once, hence the concurrency limit.
    const exporter = new RecordingExporter(new OTLPTraceExporter({ url: `http://${daemon.addresses.http}/v1/traces`, timeoutMillis: 30_000, concurrencyLimit: 1_000 }));
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 100_000, maxExportBatchSize: 200, scheduledDelayMillis: 20, exportTimeoutMillis: 60_000 })],
    });
    const tracer = provider.getTracer('outage-load');
    let loading = true;
    let traces = 0;
    // About 400 traces (800 spans) a second until told to stop.
    const load = (async () => {
      for (let i = 0; loading; i++) {
        const root = tracer.startSpan('chat', { kind: SpanKind.SERVER, attributes: { 'output.value': `a${i}`, expected: i % 4 === 0 ? 'no' : `a${i}` } });
        tracer.startSpan('llm', {}, trace.setSpan(context.active(), root)).end();
        root.end();
        traces++;
        if (i % 20 === 19) await sleep(50);
      }
    })();

    await sleep(2_000);
    await server.stop();
    const downAt = Date.now();
    const whileDown: number[] = [];
    while (Date.now() - downAt < 10_000) {
      whileDown.push(await readyz());
      await sleep(1_000);
    }
    await server.restart();
    await sleep(2_000);
    loading = false;
    await load;
    await provider.forceFlush();
    await provider.shutdown();
    expect(new Set(whileDown)).toEqual(new Set([503]));
    await waitFor(async () => (await readyz()) === 200, { timeoutMs: 10_000, what: '/readyz 200 after the outage' });

    expect(exporter.failed.flatMap((batch) => batch.spans)).toHaveLength(0);
    const acknowledged = new Set(exporter.acknowledged.map((span) => `${span.spanContext().traceId}/${span.spanContext().spanId}`));
    expect(acknowledged.size).toBe(traces * 2);
    const stored = await storage.query<{ TraceId: string; SpanId: string; n: string }>(
      `SELECT TraceId, SpanId, count() AS n FROM otel_traces WHERE ServiceName = {service:String} AND ScopeName != 'spanscore' GROUP BY TraceId, SpanId`,
      { service },
    );
    const storedKeys = new Set(stored.map((row) => `${row.TraceId}/${row.SpanId}`));
    expect([...acknowledged].filter((key) => !storedKeys.has(key))).toEqual([]);

    const unscored = async () => {
      const [row] = await storage.query<{ n: string }>(unscoredRootsSql(service, 'roots'));
      return Number(row!.n);
    };
    await waitFor(async () => (await unscored()) === 0, { timeoutMs: 20_000, intervalMs: 250, what: 'every selected span scored' });
    const [scores] = await storage.query<{ spans: string; rows: string }>(
      `SELECT uniqExact(TraceId, SpanId) AS spans, count() AS rows FROM scores FINAL WHERE Rule = 'roots' AND ServiceName = {service:String}`,
      { service },
    );
    expect(Number(scores!.spans)).toBe(traces);
    expect(Number(scores!.rows)).toBe(traces);

    const metrics = await (await fetch(`http://${daemon.addresses.admin}/metrics`)).text();
    const metric = (name: string) => metrics.split('\n').find((line) => line.startsWith(`${name} `))?.split(' ')[1] ?? '0';
    console.log(
      `clickhouse-outage: ${traces} traces, ${acknowledged.size} spans acknowledged and stored (${stored.reduce((sum, row) => sum + Number(row.n) - 1, 0)} duplicate rows); ` +
        `/readyz while down: ${whileDown.join(',')}; scores given up by the recorder: ${metric('spanscore_scoring_write_failures_total')}, ` +
        `queued by recovery: ${metric('spanscore_scoring_recovered_total{rule="roots"}')}`,
    );
  }, 60_000);

  it('a daemon started while ClickHouse is down answers 503, and creates the schema and stores once it is up', async () => {
    const later = await startClickHouseServer();
    await later.stop();
    const waiting = await startDaemon(daemonConfig({ url: later.url, clickhouse: '    request_timeout: 2s\n    database: late' }));
    try {
      expect(waiting.logs.some((l) => String(l.msg).includes('ClickHouse is not reachable'))).toBe(true);
      const refused = await postJson(waiting.addresses.http!, otlpJsonRequest([{ traceId: randomTraceId() }]).body);
      expect(refused.status).toBe(503);
      const ready = await fetch(`http://${waiting.addresses.admin}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.text()).toContain('schema not created yet');

      await later.restart();
      const readyz = async () => (await fetch(`http://${waiting.addresses.admin}/readyz`)).status;
      await waitFor(async () => (await readyz()) === 200, { timeoutMs: 15_000, what: '/readyz 200 once ClickHouse is up' });
      const traceId = randomTraceId();
      expect((await postJson(waiting.addresses.http!, otlpJsonRequest([{ traceId }]).body)).status).toBe(200);
      const lateStorage = new ClickHouseStorage({ url: later.url, database: 'late', logger: silentLogger() });
      try {
        expect(await lateStorage.query('SELECT count() AS n FROM otel_traces WHERE TraceId = {traceId:String}', { traceId })).toEqual([{ n: '1' }]);
      } finally {
        await lateStorage.close();
      }
    } finally {
      await waiting.stop('SIGKILL');
      await later.dispose();
    }
  }, 40_000);
});
