import zlib from 'node:zlib';
import { OTLPTraceExporter as OtlpHttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpHttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { HttpReceiver } from '../../src/receivers/http-receiver.js';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';
import { ANY_VALUE_ROW, anyValueSpan, expectSdkRows, exportSdkSpans, exportSpans } from './otel-sdk-scenario.js';
import {
  counterValue,
  encodeRequest,
  goodJsonRequest,
  goodProtobufRequest,
  httpRequest,
  logger,
  noAuth,
  RecordingConsumer,
  requestObject,
  spanObject,
  testMetrics,
} from './receiver-test-kit.js';

let consumer: RecordingConsumer;
let metrics: DaemonMetrics;
let receiver: HttpReceiver;
let address: string;

beforeEach(async () => {
  consumer = new RecordingConsumer();
  metrics = testMetrics();
  receiver = new HttpReceiver({ endpoint: '127.0.0.1:0', maxBodyBytes: 1024 * 1024, consumer, metrics, logger, auth: noAuth });
  address = await receiver.start();
});

afterEach(async () => {
  await receiver.shutdown(1000);
});

const exporters = {
  'exporter-trace-otlp-http (JSON)': (compression?: 'gzip') =>
    new OtlpHttpJsonExporter({ url: `http://${address}/v1/traces`, ...(compression ? { compression: compression as never } : {}) }),
  'exporter-trace-otlp-proto (protobuf)': (compression?: 'gzip') =>
    new OtlpHttpProtoExporter({ url: `http://${address}/v1/traces`, ...(compression ? { compression: compression as never } : {}) }),
};

describe('HttpReceiver with the OpenTelemetry JS exporters', () => {
  for (const [name, createExporter] of Object.entries(exporters)) {
    for (const compression of [undefined, 'gzip'] as const) {
      it(`stores SDK spans sent by ${name}${compression ? ' with gzip' : ''}`, async () => {
        const spans = await exportSdkSpans(createExporter(compression));
        expectSdkRows(consumer.spans, spans);
        expect(consumer.batches[0]!.context.transport).toBe('http');
        expect(consumer.batches[0]!.context.headers['content-encoding']).toBe(compression);
        expect(await counterValue(metrics.spansReceived, { transport: 'http' })).toBe(2);
        // SimpleSpanProcessor exports each span as it ends: one request per span.
        expect(await counterValue(metrics.requests, { transport: 'http', status: '200' })).toBe(2);
      });
    }

    it(`maps every AnyValue type sent by ${name}`, async () => {
      const exporter = createExporter();
      expect(await exportSpans(exporter, [anyValueSpan()])).toBe(0);
      await exporter.shutdown();
      expect(consumer.spans).toHaveLength(1);
      expect(consumer.spans[0]).toMatchObject(ANY_VALUE_ROW);
      expect(consumer.spans[0]!.ResourceAttributes).toMatchObject({ 'service.name': 'hand-made', 'host.id': '42' });
    });
  }

  it('makes the exporter retry after a 503 until the spans are stored', async () => {
    const { RetryableStorageError } = await import('../../src/pipeline/errors.js');
    consumer.failNext(new RetryableStorageError('ClickHouse unreachable', 1));
    const exporter = exporters['exporter-trace-otlp-proto (protobuf)']();
    expect(await exportSpans(exporter, [anyValueSpan()])).toBe(0);
    await exporter.shutdown();
    expect(consumer.spans.map((row) => row.SpanName)).toEqual(['all-values']);
    expect(await counterValue(metrics.requests, { transport: 'http', status: '503' })).toBe(1);
    expect(await counterValue(metrics.requests, { transport: 'http', status: '200' })).toBe(1);
  });
});

describe('HttpReceiver at the paths other products send to', () => {
  // Braintrust's OTel processor and Langfuse's OTLP endpoint: a change of host moves them here.
  for (const path of ['/otel/v1/traces', '/api/public/otel/v1/traces']) {
    it(`stores SDK spans posted to ${path}, and answers its errors as at /v1/traces`, async () => {
      const spans = await exportSdkSpans(new OtlpHttpProtoExporter({ url: `http://${address}${path}` }));
      expectSdkRows(consumer.spans, spans);
      const wrongMethod = await fetch(`http://${address}${path}`);
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.get('allow')).toBe('POST');
    });
  }

  it('still answers 404 for paths near them', async () => {
    for (const path of ['/otel/v1/metrics', '/api/public/otel/v1/logs', '/otel/traces']) {
      expect((await fetch(`http://${address}${path}`, { method: 'POST' })).status).toBe(404);
    }
  });
});

describe('HttpReceiver request bodies', () => {
  it('accepts gzip and deflate bodies in both encodings', async () => {
    const bodies = [
      { type: 'application/x-protobuf', body: goodProtobufRequest('gzip-proto'), encoding: 'gzip' },
      { type: 'application/x-protobuf', body: goodProtobufRequest('deflate-proto'), encoding: 'deflate' },
      { type: 'application/json', body: Buffer.from(goodJsonRequest('gzip-json')), encoding: 'gzip' },
      { type: 'application/json', body: Buffer.from(goodJsonRequest('deflate-json')), encoding: 'deflate' },
    ];
    for (const { type, body, encoding } of bodies) {
      const compressed = encoding === 'gzip' ? zlib.gzipSync(body) : zlib.deflateSync(body);
      const result = await httpRequest(address, { headers: { 'Content-Type': type, 'Content-Encoding': encoding }, body: compressed });
      expect(result.status).toBe(200);
      expect(result.headers['content-type']).toBe(type);
    }
    expect(consumer.spans.map((row) => row.SpanName)).toEqual(['gzip-proto', 'deflate-proto', 'gzip-json', 'deflate-json']);
  });

  it('accepts chunked bodies, compressed or not, and identity/none encodings', async () => {
    const body = goodProtobufRequest('chunked');
    const gzipped = zlib.gzipSync(goodProtobufRequest('chunked-gzip'));
    const split = (buffer: Buffer) => [buffer.subarray(0, 7), buffer.subarray(7, 30), buffer.subarray(30)];
    const results = [
      await httpRequest(address, { headers: { 'Content-Type': 'application/x-protobuf' }, body: split(body) }),
      await httpRequest(address, { headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' }, body: split(gzipped) }),
      await httpRequest(address, { headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'identity' }, body: goodProtobufRequest('identity') }),
      await httpRequest(address, { headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'none' }, body: goodJsonRequest('none') }),
    ];
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(consumer.spans.map((row) => row.SpanName)).toEqual(['chunked', 'chunked-gzip', 'identity', 'none']);
  });

  it('accepts media type parameters and any letter case', async () => {
    const result = await httpRequest(address, { headers: { 'Content-Type': 'Application/JSON; charset=utf-8' }, body: goodJsonRequest('charset') });
    expect(result.status).toBe(200);
    expect(result.headers['content-type']).toBe('application/json');
    expect(JSON.parse(result.body.toString())).toEqual({});
  });

  it('answers an empty protobuf ExportTraceServiceResponse on success', async () => {
    const result = await httpRequest(address, { headers: { 'Content-Type': 'application/x-protobuf' }, body: goodProtobufRequest() });
    expect(result.status).toBe(200);
    const response = otlpSchema().exportTraceServiceResponse.decode(result.body) as { partialSuccess?: unknown };
    expect(response.partialSuccess).toBeNull();
  });

  it('reports a partial success for one bad span among good ones (protobuf)', async () => {
    const body = encodeRequest(requestObject([spanObject({ name: 'a' }), spanObject({ traceId: Buffer.alloc(5, 1) }), spanObject({ name: 'c' })], 'llm'));
    const result = await httpRequest(address, { headers: { 'Content-Type': 'application/x-protobuf' }, body });
    expect(result.status).toBe(200);
    const type = otlpSchema().exportTraceServiceResponse;
    const response = type.toObject(type.decode(result.body), { longs: String }) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(response.partialSuccess.rejectedSpans).toBe('1');
    expect(response.partialSuccess.errorMessage).toContain('span 1 of scope "llm": trace_id must be 16 bytes, got 5');
    expect(consumer.spans.map((row) => row.SpanName)).toEqual(['a', 'c']);
    expect(await counterValue(metrics.spansRejected, { transport: 'http' })).toBe(1);
    expect(await counterValue(metrics.spansReceived, { transport: 'http' })).toBe(2);
  });

  it('reports a partial success for one bad span among good ones (JSON)', async () => {
    const good = JSON.parse(goodJsonRequest('good-json')) as { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] };
    const spans = good.resourceSpans[0]!.scopeSpans[0]!.spans;
    spans.push({ ...spans[0], spanId: 'not-hex!' }, { ...spans[0], name: '' });
    const result = await httpRequest(address, { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(good) });
    expect(result.status).toBe(200);
    const response = JSON.parse(result.body.toString()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(response.partialSuccess.rejectedSpans).toBe('2');
    expect(response.partialSuccess.errorMessage).toContain('span 1 of scope "test-scope": span_id is not a hex string');
    expect(response.partialSuccess.errorMessage).toContain('span 2 of scope "test-scope": name must not be empty');
    expect(consumer.spans.map((row) => row.SpanName)).toEqual(['good-json']);
  });

  it('passes request headers to the consumer', async () => {
    await httpRequest(address, { headers: { 'Content-Type': 'application/x-protobuf', 'X-Project': 'alpha' }, body: goodProtobufRequest() });
    expect(consumer.batches[0]!.context).toMatchObject({ transport: 'http', headers: { 'x-project': 'alpha' } });
  });

  it('does not call the consumer when every span was rejected', async () => {
    const body = encodeRequest(requestObject([spanObject({ name: '' })]));
    const result = await httpRequest(address, { headers: { 'Content-Type': 'application/x-protobuf' }, body });
    expect(result.status).toBe(200);
    expect(consumer.batches).toHaveLength(0);
  });
});
