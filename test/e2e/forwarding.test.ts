import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonToProtobuf } from '../../src/exporters/otlp-transcoder.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { otlpJsonRequest, randomSpanId, randomTraceId } from '../helpers/otlp-json.js';
import { encodeExportRequest } from '../helpers/otlp-protobuf.js';
import { decodeSpans, requestSpans, startOtlpSink, type OtlpSink, type RecordedExport, type SinkAttributeValue, type SinkSpan } from '../helpers/otlp-sink.js';
import { sendTraces, type ExporterKind } from '../helpers/otel-sender.js';
import { metricSum, metricsText, querySql } from '../helpers/admin-api.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * spanscore in front of an existing pipeline: a downstream OTLP receiver (the sink, on the real
 * protocols) gets every received span unchanged and the scoring spans, whatever the protocols
 * on either side; a downstream that is down costs ingestion and ClickHouse nothing.
 */

const RULE = `
scoring: { workers: 1 }
rules:
  - name: exact
    scorers: [ExactMatch]
    apply_to: { span_names: [chat] }
`;

/** The downstream's three protocols, told apart at the sink by transport and encoding. */
const DOWNSTREAM = {
  'otlp/grpc': (r: RecordedExport) => r.transport === 'grpc',
  'otlp/proto': (r: RecordedExport) => r.transport === 'http' && r.encoding === 'protobuf',
  'otlp/json': (r: RecordedExport) => r.transport === 'http' && r.encoding === 'json',
} as const;

function exportersYaml(sink: OtlpSink, extra = ''): string {
  return `
exporters:
  otlp/grpc:
    endpoint: ${sink.grpcAddress}
    tls: { insecure: true }
    retry_on_failure: { initial_interval: 50ms, max_interval: 200ms }${extra}
  otlp/proto:
    endpoint: ${sink.httpUrl}
    protocol: http/protobuf
    compression: none
    retry_on_failure: { initial_interval: 50ms, max_interval: 200ms }${extra}
  otlp/json:
    endpoint: ${sink.httpUrl}
    protocol: http/json
    retry_on_failure: { initial_interval: 50ms, max_interval: 200ms }${extra}
`;
}

/** The spans one downstream protocol received, decoded (JSON bodies through the transcoder). */
function spansAt(sink: OtlpSink, exporter: keyof typeof DOWNSTREAM): SinkSpan[] {
  return sink.requests
    .filter((r) => r.accepted && DOWNSTREAM[exporter](r))
    .flatMap(requestSpans);
}

/** How the SDK's OTLP encoding renders an attribute value: integers as int64, other numbers as doubles. */
function otlpValue(value: unknown): SinkAttributeValue {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(otlpValue);
  return value as SinkAttributeValue;
}

const nanos = ([seconds, ns]: [number, number]) => (BigInt(seconds) * 1_000_000_000n + BigInt(ns)).toString();

/** A span as the SDK sent it, in the sink's shape. */
function expectedSpan(span: ReadableSpan): SinkSpan {
  return {
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? '',
    name: span.name,
    // api.SpanKind counts from INTERNAL = 0; OTLP from UNSPECIFIED = 0.
    kind: span.kind + 1,
    startTimeUnixNano: nanos(span.startTime),
    endTimeUnixNano: nanos(span.endTime),
    attributes: Object.fromEntries(Object.entries(span.attributes).map(([k, v]) => [k, otlpValue(v)])),
    resource: Object.fromEntries(Object.entries(span.resource.attributes).map(([k, v]) => [k, otlpValue(v)])),
    scope: { name: span.instrumentationScope.name, version: span.instrumentationScope.version ?? '' },
    status: { code: span.status.code, message: span.status.message ?? '' },
  };
}

function postProtobuf(daemon: RunningDaemon, body: Buffer): Promise<Response> {
  return fetch(`http://${daemon.addresses.http}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body });
}

const dataDir = (name: string) => join(mkdtempSync(join(tmpdir(), `spanscore-${name}-`)), 'clickhouse');

describe('forwarding to a downstream OTLP receiver, with ClickHouse', () => {
  let sink: OtlpSink;
  let daemon: RunningDaemon;

  beforeAll(async () => {
    sink = await startOtlpSink();
    daemon = await startDaemon(daemonConfig({ embeddedPath: dataDir('forward'), extra: `${exportersYaml(sink)}${RULE}` }));
  });

  afterAll(async () => {
    expect(await daemon?.stop('SIGTERM')).toBe(0);
    await sink?.close();
  });

  it('forwards every span an SDK sent, over each protocol in and out, equal in ids, names, attributes and timestamps, plus a scoring span per score', async () => {
    const sent: ReadableSpan[] = [];
    const roots: string[] = [];
    for (const kind of ['grpc', 'http/protobuf', 'http/json'] as ExporterKind[]) {
      const address = kind === 'grpc' ? daemon.addresses.grpc! : daemon.addresses.http!;
      const { traces, exporter } = await sendTraces(kind, address, { count: 3, serviceName: `forward-${kind}` });
      expect(exporter.failed).toEqual([]);
      sent.push(...exporter.acknowledged);
      roots.push(...traces.map((t) => t.rootSpanId));
    }
    expect(sent).toHaveLength(27);

    for (const exporter of Object.keys(DOWNSTREAM) as (keyof typeof DOWNSTREAM)[]) {
      await waitFor(() => spansAt(sink, exporter).length >= 27 + roots.length, { timeoutMs: 20_000, what: `${exporter}: 27 spans and 9 scoring spans` });
      const received = spansAt(sink, exporter);
      const byId = new Map(received.map((span) => [span.spanId, span]));
      expect(received).toHaveLength(27 + roots.length);
      for (const span of sent) expect(byId.get(span.spanContext().spanId), `${exporter} ${span.name}`).toEqual(expectedSpan(span));

      const scoring = received.filter((span) => span.scope.name === 'spanscore');
      expect(scoring.map((span) => span.parentSpanId).sort()).toEqual([...roots].sort());
      for (const span of scoring) {
        const scored = byId.get(span.parentSpanId)!;
        expect(span).toMatchObject({ traceId: scored.traceId, name: 'score ExactMatch', status: { code: 1 } });
        expect(span.attributes).toMatchObject({ 'spanscore.score': 1, 'spanscore.rule': 'exact', 'spanscore.scorer': 'ExactMatch' });
        expect(span.resource['service.name']).toBe(scored.resource['service.name']);
      }
    }
    // gzip by default, none when configured.
    expect(sink.requests.filter(DOWNSTREAM['otlp/grpc']).every((r) => r.compressed)).toBe(true);
    expect(sink.requests.filter(DOWNSTREAM['otlp/proto']).some((r) => r.compressed)).toBe(false);
    expect(sink.requests.filter(DOWNSTREAM['otlp/json']).every((r) => r.compressed)).toBe(true);

    // ClickHouse has them all too.
    const stored = await querySql<{ n: string }>(daemon.addresses.admin, `SELECT count() AS n FROM otel_traces WHERE ServiceName LIKE 'forward-%'`);
    expect(Number(stored.rows[0]!.n)).toBe(27 + roots.length);
  });

  it('sends a received body on byte for byte when the downstream speaks its encoding, and transcodes it exactly when not', async () => {
    const before = sink.requests.length;
    const protobufBody = encodeExportRequest([randomTraceId(), randomTraceId()], { spanName: 'passthrough', serviceName: 'bytes-proto' });
    expect((await postProtobuf(daemon, protobufBody)).status).toBe(200);
    const { body: jsonBody } = otlpJsonRequest([{ name: 'passthrough', traceId: randomTraceId(), spanId: randomSpanId() }], 'bytes-json');
    const jsonResponse = await fetch(`http://${daemon.addresses.http}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: jsonBody });
    expect(jsonResponse.status).toBe(200);

    await waitFor(() => sink.requests.slice(before).filter((r) => r.accepted).length >= 6, { timeoutMs: 20_000, what: 'both requests at all three downstream protocols' });
    const fresh = sink.requests.slice(before).filter((r) => r.accepted);
    const at = (exporter: keyof typeof DOWNSTREAM, service: string) =>
      fresh.filter(DOWNSTREAM[exporter]).find((r) => requestSpans(r)[0]?.resource['service.name'] === service)!;

    expect(at('otlp/grpc', 'bytes-proto').rawBody.equals(protobufBody)).toBe(true);
    expect(at('otlp/proto', 'bytes-proto').rawBody.equals(protobufBody)).toBe(true);
    expect(at('otlp/json', 'bytes-json').rawBody.toString('utf8')).toBe(jsonBody);
    // Across encodings: the same spans, field by field.
    expect(decodeSpans(jsonToProtobuf(at('otlp/json', 'bytes-proto').rawBody))).toEqual(decodeSpans(protobufBody));
    expect(decodeSpans(at('otlp/grpc', 'bytes-json').rawBody)).toEqual(decodeSpans(jsonToProtobuf(jsonBody)));
    expect(decodeSpans(at('otlp/proto', 'bytes-json').rawBody)).toEqual(decodeSpans(jsonToProtobuf(jsonBody)));
  });
});

describe('a downstream that is down', () => {
  it('costs ingestion, ClickHouse and scoring nothing: the sending queue sheds, counted, and forwarding resumes when it is back', async () => {
    const sink = await startOtlpSink();
    await sink.stop();
    const daemon = await startDaemon(
      daemonConfig({
        embeddedPath: dataDir('downstream-down'),
        grpc: false,
        extra: `
exporters:
  otlp:
    endpoint: ${sink.grpcAddress}
    tls: { insecure: true }
    timeout: 1s
    retry_on_failure: { initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0 }
    sending_queue: { num_consumers: 1, queue_size: 2 }
${RULE}`,
      }),
    );
    try {
      const REQUESTS = 20;
      const SPANS = 50;
      for (let i = 0; i < REQUESTS; i++) {
        const traceIds = Array.from({ length: SPANS }, randomTraceId);
        const response = await postProtobuf(daemon, encodeExportRequest(traceIds, { spanName: 'chat', serviceName: 'down' }));
        expect(response.status).toBe(200);
      }
      const total = REQUESTS * SPANS;
      let metrics = await metricsText(daemon.addresses.admin);
      expect(metricSum(metrics, 'spanscore_storage_stored_spans_total')).toBe(total);
      // At most the queue's two requests wait; the rest were shed, not held.
      const shed = metricSum(metrics, 'spanscore_exporter_shed_spans_total', { exporter: 'otlp', kind: 'received' });
      expect(shed).toBeGreaterThanOrEqual(total - 2 * SPANS);
      expect(metricSum(metrics, 'spanscore_exporter_sent_spans_total')).toBe(0);
      expect(metricSum(metrics, 'spanscore_exporter_queue_size', { exporter: 'otlp' })).toBeLessThanOrEqual(2);

      // Scoring went on: every span is scored in ClickHouse (its scoring spans, offered to the full queue, were shed too).
      await waitFor(async () => Number((await querySql<{ n: string }>(daemon.addresses.admin, `SELECT count() AS n FROM scores FINAL WHERE Rule = 'exact'`)).rows[0]!.n) === total, {
        timeoutMs: 30_000,
        what: 'every span scored while the downstream is down',
      });
      const stored = await querySql<{ n: string }>(daemon.addresses.admin, `SELECT count() AS n FROM otel_traces WHERE ServiceName = 'down' AND ScopeName != 'spanscore'`);
      expect(Number(stored.rows[0]!.n)).toBe(total);

      // Back up: what the queue held is delivered; afterwards every new request is forwarded.
      await sink.restart();
      const late = encodeExportRequest([randomTraceId()], { spanName: 'late', serviceName: 'down' });
      await waitFor(async () => metricSum(await metricsText(daemon.addresses.admin), 'spanscore_exporter_queue_size', { exporter: 'otlp' }) === 0, { timeoutMs: 20_000, what: 'the queue drained' });
      expect((await postProtobuf(daemon, late)).status).toBe(200);
      await waitFor(() => sink.requests.some((r) => r.accepted && r.rawBody.equals(late)), { timeoutMs: 20_000, what: 'the request after the outage forwarded as is' });
      metrics = await metricsText(daemon.addresses.admin);
      const receivedSent = metricSum(metrics, 'spanscore_exporter_sent_spans_total', { exporter: 'otlp', kind: 'received' });
      const failed = metricSum(metrics, 'spanscore_exporter_send_failed_spans_total', { exporter: 'otlp', kind: 'received' });
      // Every received span is accounted for: delivered, shed, or given up on.
      expect(receivedSent + shed + failed).toBe(total + 1);
      expect(receivedSent).toBeGreaterThan(1);
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0);
      await sink.close();
    }
  });
});

describe('a forward-only pipeline (no ClickHouse)', () => {
  let sink: OtlpSink;
  let daemon: RunningDaemon;

  beforeAll(async () => {
    sink = await startOtlpSink();
    daemon = await startDaemon(
      daemonConfig({
        grpc: false,
        extra: `
exporters:
  otlp:
    endpoint: ${sink.httpUrl}
    protocol: http/protobuf
    retry_on_failure: { initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0 }
    sending_queue: { num_consumers: 1, queue_size: 1 }
${RULE}`,
      }),
    );
  });

  afterAll(async () => {
    expect(await daemon?.stop('SIGTERM')).toBe(0);
    await sink?.close();
  });

  it('forwards the received spans and the scoring spans, and is ready without ClickHouse', async () => {
    expect((await fetch(`http://${daemon.addresses.admin}/readyz`)).status).toBe(200);
    const { traces, exporter } = await sendTraces('http/protobuf', daemon.addresses.http!, { count: 3, serviceName: 'forward-only' });
    expect(exporter.failed).toEqual([]);
    await waitFor(() => sink.spans().length >= 9 + 3, { timeoutMs: 20_000, what: '9 spans and 3 scoring spans downstream' });
    const spans = sink.spans();
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    for (const span of exporter.acknowledged) expect(byId.get(span.spanContext().spanId)).toEqual(expectedSpan(span));
    const scoring = spans.filter((span) => span.scope.name === 'spanscore');
    expect(scoring.map((span) => span.parentSpanId).sort()).toEqual(traces.map((t) => t.rootSpanId).sort());
    expect(scoring.every((span) => span.attributes['spanscore.score'] === 1)).toBe(true);
  });

  it('answers 501, naming the reason, where the admin API would read ClickHouse', async () => {
    const result = await querySql(daemon.addresses.admin, 'SELECT 1');
    expect(result.status).toBe(501);
    expect(JSON.stringify(result.body)).toContain('forward-only');
  });

  it('refuses a request (503, Retry-After) while the queue is full, so the client keeps it, and takes it once the downstream is back', async () => {
    await sink.stop();
    const first = encodeExportRequest([randomTraceId()], { spanName: 'queued', serviceName: 'forward-only' });
    const second = encodeExportRequest([randomTraceId()], { spanName: 'refused', serviceName: 'forward-only' });
    expect((await postProtobuf(daemon, first)).status).toBe(200);
    const refused = await postProtobuf(daemon, second);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    await refused.arrayBuffer();

    await sink.restart();
    await waitFor(() => sink.requests.some((r) => r.accepted && r.rawBody.equals(first)), { timeoutMs: 20_000, what: 'the queued request delivered' });
    await waitFor(async () => (await postProtobuf(daemon, second)).status === 200, { timeoutMs: 20_000, what: 'the refused request taken on retry' });
    await waitFor(() => sink.requests.some((r) => r.accepted && r.rawBody.equals(second)), { timeoutMs: 20_000, what: 'the retried request delivered' });
    const metrics = await metricsText(daemon.addresses.admin);
    expect(metricSum(metrics, 'spanscore_exporter_shed_spans_total', { kind: 'received' })).toBe(0);
  });
});
