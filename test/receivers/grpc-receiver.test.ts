import { Metadata, status } from '@grpc/grpc-js';
import { OTLPTraceExporter as OtlpGrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { retryInfoDelayMs } from '../../src/exporters/export-response.js';
import { OtlpGrpcSender } from '../../src/exporters/otlp-grpc-sender.js';
import { RetryableStorageError } from '../../src/pipeline/errors.js';
import { GrpcReceiver } from '../../src/receivers/grpc-receiver.js';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';
import { ANY_VALUE_ROW, anyValueSpan, expectSdkRows, exportSdkSpans, exportSpans } from './otel-sdk-scenario.js';
import {
  counterValue,
  encodeRequest,
  goodProtobufRequest,
  grpcExport,
  logger,
  noAuth,
  RecordingConsumer,
  requestObject,
  spanObject,
  startCountingProxy,
  testMetrics,
} from './receiver-test-kit.js';

const MAX_MESSAGE_BYTES = 64 * 1024;
const GZIP = 2;
const DEFLATE = 1;

let consumer: RecordingConsumer;
let metrics: DaemonMetrics;
let receiver: GrpcReceiver;
let address: string;

beforeEach(async () => {
  consumer = new RecordingConsumer();
  metrics = testMetrics();
  receiver = new GrpcReceiver({ endpoint: '127.0.0.1:0', maxRecvMessageSizeBytes: MAX_MESSAGE_BYTES, consumer, metrics, logger, auth: noAuth });
  address = await receiver.start();
});

afterEach(async () => {
  await receiver.shutdown(1000);
});

/** Each refused call must leave the receiver serving: a good call right after is stored. */
async function expectStillServing(): Promise<void> {
  const name = `after-${consumer.batches.length}`;
  const { error } = await grpcExport(address, goodProtobufRequest(name));
  expect(error).toBeNull();
  expect(consumer.spans.at(-1)?.SpanName).toBe(name);
}

/** A request whose single attribute makes it `size` bytes before compression (highly compressible). */
function requestOfSize(size: number): Buffer {
  return encodeRequest(requestObject([spanObject({ attributes: [{ key: 'padding', value: { stringValue: 'x'.repeat(size) } }] })]));
}

describe('GrpcReceiver with the OpenTelemetry JS gRPC exporter', () => {
  for (const compression of [undefined, 'gzip'] as const) {
    it(`stores SDK spans${compression ? ' sent with gzip' : ''}`, async () => {
      const exporter = new OtlpGrpcExporter({
        url: `http://${address}`,
        metadata: (() => {
          const metadata = new Metadata();
          metadata.set('x-project', 'alpha');
          return metadata;
        })(),
        ...(compression ? { compression: compression as never } : {}),
      });
      const spans = await exportSdkSpans(exporter);
      expectSdkRows(consumer.spans, spans);
      expect(consumer.batches[0]!.context).toMatchObject({ transport: 'grpc', headers: { 'x-project': 'alpha' } });
      expect(await counterValue(metrics.spansReceived, { transport: 'grpc' })).toBe(2);
      expect(await counterValue(metrics.requests, { transport: 'grpc', status: 'OK' })).toBe(2);
    });
  }

  it('receives gzip compressed messages from the exporter (fewer bytes on the wire)', async () => {
    const proxy = await startCountingProxy(address);
    const span = { ...anyValueSpan(), attributes: { prompt: 'You are a helpful assistant. '.repeat(2000) } };
    for (const compression of [undefined, 'gzip'] as const) {
      const exporter = new OtlpGrpcExporter({ url: `http://${proxy.address}`, ...(compression ? { compression: compression as never } : {}) });
      expect(await exportSpans(exporter, [span])).toBe(0);
      await exporter.shutdown();
    }
    await proxy.close();
    expect(consumer.spans.map((row) => row.SpanAttributes['prompt']?.length)).toEqual([58000, 58000]);
    // Both exports together: ~58 kB uncompressed plus a gzip one of a few kB.
    expect(proxy.bytesFromClient()).toBeLessThan(58000 + 10000);
  });

  it('maps every AnyValue type', async () => {
    const exporter = new OtlpGrpcExporter({ url: `http://${address}` });
    expect(await exportSpans(exporter, [anyValueSpan()])).toBe(0);
    await exporter.shutdown();
    expect(consumer.spans[0]).toMatchObject(ANY_VALUE_ROW);
  });
});

describe('GrpcReceiver requests', () => {
  it('accepts gzip and deflate compressed messages', async () => {
    const proxy = await startCountingProxy(address);
    const body = requestOfSize(50_000);
    for (const compression of [GZIP, DEFLATE] as const) {
      const { error } = await grpcExport(proxy.address, body, { compression });
      expect(error).toBeNull();
    }
    await proxy.close();
    expect(consumer.spans.map((row) => row.SpanAttributes['padding']?.length)).toEqual([50_000, 50_000]);
    // The client really compressed: two 50 kB messages crossed the wire in far fewer bytes.
    expect(proxy.bytesFromClient()).toBeLessThan(20_000);
  });

  it('answers partial_success for one bad span among good ones', async () => {
    const body = encodeRequest(requestObject([spanObject({ name: 'a' }), spanObject({ spanId: Buffer.alloc(8) }), spanObject({ name: 'c' })], 'llm'));
    const { error, response } = await grpcExport(address, body);
    expect(error).toBeNull();
    expect(response?.partialSuccess?.rejectedSpans).toBe('1');
    expect(response?.partialSuccess?.errorMessage).toContain('span 1 of scope "llm": span_id must not be all zeroes');
    expect(consumer.spans.map((row) => row.SpanName)).toEqual(['a', 'c']);
    expect(await counterValue(metrics.spansRejected, { transport: 'grpc' })).toBe(1);
  });

  it('answers no partial_success when every span was accepted', async () => {
    const { error, response } = await grpcExport(address, goodProtobufRequest());
    expect(error).toBeNull();
    expect(response?.partialSuccess).toBeUndefined();
  });

  it('INVALID_ARGUMENT for a message that does not decode', async () => {
    const { error } = await grpcExport(address, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/not a protobuf ExportTraceServiceRequest/);
    expect(await counterValue(metrics.requests, { transport: 'grpc', status: 'INVALID_ARGUMENT' })).toBe(1);
    await expectStillServing();
  });

  it('RESOURCE_EXHAUSTED for a message over the limit', async () => {
    const { error } = await grpcExport(address, requestOfSize(MAX_MESSAGE_BYTES + 100));
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(consumer.batches).toHaveLength(0);
    await expectStillServing();
  });

  it('RESOURCE_EXHAUSTED for a compressed message that passes the limit once decompressed', async () => {
    for (const compression of [GZIP, DEFLATE] as const) {
      const { error } = await grpcExport(address, requestOfSize(4 * MAX_MESSAGE_BYTES), { compression });
      expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(error?.details).toMatch(/decompresses to a size larger than 65536/);
    }
    expect(consumer.batches).toHaveLength(0);
    await expectStillServing();
  });

  it('UNAVAILABLE when the consumer cannot store, whatever the error', async () => {
    consumer.failNext(new RetryableStorageError('ClickHouse unreachable'), new Error('unexpected pipeline failure'));
    const retryable = await grpcExport(address, goodProtobufRequest());
    expect(retryable.error?.code).toBe(status.UNAVAILABLE);
    expect(retryable.error?.details).toMatch(/ClickHouse unreachable/);
    const other = await grpcExport(address, goodProtobufRequest());
    expect(other.error?.code).toBe(status.UNAVAILABLE);
    expect(other.error?.details).toBe('spans not stored: storage unavailable; retry in 5 s');
    expect(await counterValue(metrics.requests, { transport: 'grpc', status: 'UNAVAILABLE' })).toBe(2);
    await expectStillServing();
  });
});

describe('GrpcReceiver when spans cannot be stored', () => {
  /** What the storage throws when an insert fails: the driver's error, with internal addresses, as the cause. */
  const insertFailure = () =>
    new RetryableStorageError('ClickHouse insert of 1 rows into spanscore.otel_traces failed: connect ECONNREFUSED 10.0.0.5:8123', 7, {
      cause: new Error('connect ECONNREFUSED 10.0.0.5:8123'),
    });

  it('UNAVAILABLE carries google.rpc.RetryInfo with the Retry-After delay, which an OTLP exporter honours', async () => {
    consumer.failNext(insertFailure(), new RetryableStorageError('memory limit exceeded', 3));
    const { error } = await grpcExport(address, goodProtobufRequest());
    expect(error?.code).toBe(status.UNAVAILABLE);
    const details = error?.metadata.get('grpc-status-details-bin')[0];
    expect(Buffer.isBuffer(details)).toBe(true);
    // A google.rpc.Status repeating the call's code and message, with one RetryInfo detail.
    const rpcStatus = otlpSchema().rpcStatus.decode(details as Buffer) as unknown as { code: number; message: string; details: { type_url: string; value: Uint8Array }[] };
    expect([rpcStatus.code, rpcStatus.message]).toEqual([status.UNAVAILABLE, error?.details]);
    expect(rpcStatus.details.map((any) => any.type_url)).toEqual(['type.googleapis.com/google.rpc.RetryInfo']);
    expect(retryInfoDelayMs(details as Buffer)).toBe(7000);

    // The stock OpenTelemetry JS gRPC exporter (0.223) reads no RetryInfo (it does not retry
    // gRPC failures at all); spanscore's own OTLP exporter reads it as the Collector's does.
    const sender = new OtlpGrpcSender({ endpoint: address, headers: {}, compression: 'none', timeoutMs: 5000, tls: { insecure: true, insecureSkipVerify: false }, userAgent: 'test', owner: 'test' });
    const outcome = await sender.send(goodProtobufRequest(), new AbortController().signal);
    sender.close();
    expect(outcome).toMatchObject({ kind: 'retryable', retryAfterMs: 3000 });
    await expectStillServing();
  });

  it('tells the client "storage unavailable", never the storage error (internal address, table)', async () => {
    consumer.failNext(insertFailure());
    const { error } = await grpcExport(address, goodProtobufRequest());
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.details).toBe('spans not stored: storage unavailable; retry in 7 s');
    const trailer = (error?.metadata.get('grpc-status-details-bin')[0] as Buffer).toString('latin1');
    for (const secret of ['10.0.0.5', '8123', 'otel_traces', 'spanscore.', 'ECONNREFUSED']) {
      expect(error?.details).not.toContain(secret);
      expect(trailer).not.toContain(secret);
    }
    await expectStillServing();
  });

  it('counts spans as accepted only when acknowledged; spans of a refused request as refused', async () => {
    const twoSpans = encodeRequest(requestObject([spanObject({ name: 'a' }), spanObject({ name: 'b' })]));
    consumer.failNext(insertFailure(), insertFailure());
    expect((await grpcExport(address, twoSpans)).error?.code).toBe(status.UNAVAILABLE);
    expect((await grpcExport(address, twoSpans)).error?.code).toBe(status.UNAVAILABLE);
    expect(await counterValue(metrics.spansReceived, { transport: 'grpc' })).toBe(0);
    expect(await counterValue(metrics.spansRejected, { transport: 'grpc' })).toBe(4);
    expect((await grpcExport(address, twoSpans)).error).toBeNull();
    expect(await counterValue(metrics.spansReceived, { transport: 'grpc' })).toBe(2);
    expect(await counterValue(metrics.spansRejected, { transport: 'grpc' })).toBe(4);
  });
});

describe('GrpcReceiver lifecycle', () => {
  it('binds a real port when asked for port 0', () => {
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(address).not.toBe('127.0.0.1:0');
  });

  it('lets an in-flight call finish on shutdown, then refuses calls', async () => {
    const release = consumer.hold();
    const inFlight = grpcExport(address, goodProtobufRequest('in-flight'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    let shutDown = false;
    const shutdown = receiver.shutdown(5000).then(() => (shutDown = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(shutDown).toBe(false);
    const late = await grpcExport(address, goodProtobufRequest('late'));
    expect(late.error?.code).toBe(status.UNAVAILABLE);
    release();
    expect((await inFlight).error).toBeNull();
    await shutdown;
    expect(consumer.spans.map((row) => row.SpanName)).toEqual(['in-flight']);
  });

  it('cancels calls still running at the deadline', async () => {
    consumer.hold(); // never released
    const stuck = grpcExport(address, goodProtobufRequest());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await receiver.shutdown(200);
    expect(Date.now() - started).toBeLessThan(2000);
    // grpc-js cancels the stream; OTLP exporters retry CANCELLED like UNAVAILABLE.
    expect([status.CANCELLED, status.UNAVAILABLE]).toContain((await stuck).error?.code);
  });
});
