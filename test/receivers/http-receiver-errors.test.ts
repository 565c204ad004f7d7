import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { RetryableStorageError } from '../../src/pipeline/errors.js';
import { HttpReceiver } from '../../src/receivers/http-receiver.js';
import {
  counterValue,
  decodeStatus,
  goodJsonRequest,
  goodProtobufRequest,
  httpRequest,
  logger,
  noAuth,
  RecordingConsumer,
  testMetrics,
  type HttpResult,
} from './receiver-test-kit.js';

const MAX_BODY_BYTES = 1024 * 1024;
const PROTOBUF = { 'Content-Type': 'application/x-protobuf' };
const JSON_TYPE = { 'Content-Type': 'application/json' };

let consumer: RecordingConsumer;
let metrics: DaemonMetrics;
let receiver: HttpReceiver;
let address: string;

beforeEach(async () => {
  consumer = new RecordingConsumer();
  metrics = testMetrics();
  receiver = new HttpReceiver({ endpoint: '127.0.0.1:0', maxBodyBytes: MAX_BODY_BYTES, consumer, metrics, logger, auth: noAuth });
  address = await receiver.start();
});

afterEach(async () => {
  await receiver.shutdown(1000);
});

/** Each refused request must leave the receiver serving: a good request right after is stored. */
async function expectStillServing(): Promise<void> {
  const name = `after-${consumer.batches.length}`;
  const result = await httpRequest(address, { headers: PROTOBUF, body: goodProtobufRequest(name) });
  expect(result.status).toBe(200);
  expect(consumer.spans.at(-1)?.SpanName).toBe(name);
}

function expectStatus(result: HttpResult, httpStatus: number, contentType: string, rpcCode: number, message: RegExp): void {
  expect(result.status).toBe(httpStatus);
  expect(result.headers['content-type']).toBe(contentType);
  const status = decodeStatus(result);
  expect(status.code).toBe(rpcCode);
  expect(status.message).toMatch(message);
}

describe('HttpReceiver refusals', () => {
  it('404 for another path, as a JSON google.rpc.Status NOT_FOUND', async () => {
    const result = await httpRequest(address, { path: '/v1/metrics', headers: PROTOBUF, body: goodProtobufRequest() });
    expectStatus(result, 404, 'application/json', 5, /"\/v1\/metrics".*POST \/v1\/traces/);
    expect(await counterValue(metrics.requests, { transport: 'http', status: '404' })).toBe(1);
    await expectStillServing();
  });

  it('405 with Allow: POST for another method', async () => {
    const result = await httpRequest(address, { method: 'GET' });
    expectStatus(result, 405, 'application/json', 12, /GET not allowed/);
    expect(result.headers['allow']).toBe('POST');
    const put = await httpRequest(address, { method: 'PUT', headers: PROTOBUF, body: goodProtobufRequest() });
    expect(put.status).toBe(405);
    expect(consumer.batches).toHaveLength(0);
    await expectStillServing();
  });

  it('415 for another media type or a missing one', async () => {
    const text = await httpRequest(address, { headers: { 'Content-Type': 'text/plain' }, body: 'hello' });
    expectStatus(text, 415, 'application/json', 3, /text\/plain.*application\/x-protobuf or application\/json/);
    const none = await httpRequest(address, { body: goodProtobufRequest() });
    expect(none.status).toBe(415);
    await expectStillServing();
  });

  it('415 for an unsupported Content-Encoding, in the request encoding', async () => {
    const result = await httpRequest(address, { headers: { ...PROTOBUF, 'Content-Encoding': 'br' }, body: goodProtobufRequest() });
    expectStatus(result, 415, 'application/x-protobuf', 3, /Content-Encoding br/);
    expect(result.headers['accept-encoding']).toBe('gzip, deflate, identity');
    await expectStillServing();
  });

  it('400 for a protobuf body that does not decode, with a protobuf Status', async () => {
    const result = await httpRequest(address, { headers: PROTOBUF, body: Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]) });
    expectStatus(result, 400, 'application/x-protobuf', 3, /not a protobuf ExportTraceServiceRequest/);
    expect(await counterValue(metrics.requests, { transport: 'http', status: '400' })).toBe(1);
    await expectStillServing();
  });

  it('400 for a JSON body that does not decode, with a JSON Status', async () => {
    const result = await httpRequest(address, { headers: { 'Content-Type': 'application/json; charset=utf-8' }, body: '{"resourceSpans": 42}' });
    expectStatus(result, 400, 'application/json', 3, /not an OTLP\/JSON ExportTraceServiceRequest/);
    const notJson = await httpRequest(address, { headers: JSON_TYPE, body: 'resourceSpans' });
    expectStatus(notJson, 400, 'application/json', 3, /not valid JSON/);
    await expectStillServing();
  });

  it('400 for a corrupt or truncated gzip stream and a corrupt deflate stream', async () => {
    const gzipped = zlib.gzipSync(goodProtobufRequest());
    const corrupt = Buffer.from(gzipped);
    corrupt.fill(0x55, 10, 30);
    const cases = [
      { encoding: 'gzip', body: corrupt },
      { encoding: 'gzip', body: gzipped.subarray(0, gzipped.length - 12) },
      { encoding: 'gzip', body: goodProtobufRequest() },
      { encoding: 'deflate', body: Buffer.from('definitely not zlib') },
    ];
    for (const { encoding, body } of cases) {
      const result = await httpRequest(address, { headers: { ...PROTOBUF, 'Content-Encoding': encoding }, body });
      expectStatus(result, 400, 'application/x-protobuf', 3, new RegExp(`not valid ${encoding} data`));
    }
    expect(consumer.batches).toHaveLength(0);
    await expectStillServing();
  });

  it('413 for a body over the limit, declared or chunked', async () => {
    const big = Buffer.alloc(MAX_BODY_BYTES + 1, 0x20);
    const declared = await httpRequest(address, { headers: JSON_TYPE, body: big });
    expectStatus(declared, 413, 'application/json', 8, /exceeds the limit of 1048576 bytes/);
    const chunked = await httpRequest(address, { headers: PROTOBUF, body: [big.subarray(0, 600_000), big.subarray(600_000)] });
    expectStatus(chunked, 413, 'application/x-protobuf', 8, /exceeds the limit/);
    await expectStillServing();
  });

  it('413 for a gzip bomb, measured after decompression without inflating it all', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(10 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(MAX_BODY_BYTES / 10);
    const heapBefore = process.memoryUsage().arrayBuffers;
    const result = await httpRequest(address, { headers: { ...PROTOBUF, 'Content-Encoding': 'gzip' }, body: bomb });
    expectStatus(result, 413, 'application/x-protobuf', 8, /size after decompression exceeds the limit of 1048576 bytes/);
    // Inflating the whole bomb would have held 10 MiB at once; the reader stops near 1 MiB.
    expect(process.memoryUsage().arrayBuffers - heapBefore).toBeLessThan(8 * 1024 * 1024);
    expect(await counterValue(metrics.requests, { transport: 'http', status: '413' })).toBe(1);
    await expectStillServing();
  });

  it('accepts a body exactly at the limit after decompression', async () => {
    const body = Buffer.from(goodJsonRequest('at-limit'));
    const padded = Buffer.concat([body, Buffer.alloc(MAX_BODY_BYTES - body.length, 0x20)]);
    const result = await httpRequest(address, { headers: { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, body: zlib.gzipSync(padded) });
    expect(result.status).toBe(200);
    expect(consumer.spans.map((row) => row.SpanName)).toEqual(['at-limit']);
  });
});

describe('HttpReceiver when spans cannot be stored', () => {
  it('503 with Retry-After from a RetryableStorageError, protobuf and JSON', async () => {
    consumer.failNext(new RetryableStorageError('ClickHouse unreachable', 7), new RetryableStorageError('still down', 3));
    const proto = await httpRequest(address, { headers: PROTOBUF, body: goodProtobufRequest() });
    expectStatus(proto, 503, 'application/x-protobuf', 14, /ClickHouse unreachable/);
    expect(proto.headers['retry-after']).toBe('7');
    const json = await httpRequest(address, { headers: JSON_TYPE, body: goodJsonRequest() });
    expectStatus(json, 503, 'application/json', 14, /still down/);
    expect(json.headers['retry-after']).toBe('3');
    expect(await counterValue(metrics.requests, { transport: 'http', status: '503' })).toBe(2);
    await expectStillServing();
  });

  it('503 for any other consumer failure too (spans are never acknowledged unstored), its text kept for the log', async () => {
    consumer.failNext(new TypeError('bug in the pipeline'));
    const result = await httpRequest(address, { headers: PROTOBUF, body: goodProtobufRequest() });
    expectStatus(result, 503, 'application/x-protobuf', 14, /^spans not stored: storage unavailable; retry in 5 s$/);
    expect(result.headers['retry-after']).toBe('5');
    await expectStillServing();
  });

  it('503 bodies say "storage unavailable" and when to retry, never the storage error (internal address, table)', async () => {
    const detail = 'ClickHouse insert of 1 rows into spanscore.otel_traces failed: connect ECONNREFUSED 10.0.0.5:8123';
    const insertFailure = () => new RetryableStorageError(detail, 9, { cause: new Error('connect ECONNREFUSED 10.0.0.5:8123') });
    consumer.failNext(insertFailure(), insertFailure());
    for (const [headers, body, type] of [
      [PROTOBUF, goodProtobufRequest(), 'application/x-protobuf'],
      [JSON_TYPE, goodJsonRequest(), 'application/json'],
    ] as const) {
      const result = await httpRequest(address, { headers, body });
      expectStatus(result, 503, type, 14, /^spans not stored: storage unavailable; retry in 9 s$/);
      expect(result.headers['retry-after']).toBe('9');
      for (const secret of ['10.0.0.5', '8123', 'otel_traces', 'ECONNREFUSED']) expect(result.body.toString('latin1')).not.toContain(secret);
    }
    await expectStillServing();
  });

  it('counts spans of a refused request as refused, not accepted', async () => {
    consumer.failNext(new RetryableStorageError('memory limit exceeded', 2));
    expect((await httpRequest(address, { headers: PROTOBUF, body: goodProtobufRequest() })).status).toBe(503);
    expect(await counterValue(metrics.spansReceived, { transport: 'http' })).toBe(0);
    expect(await counterValue(metrics.spansRejected, { transport: 'http' })).toBe(1);
    await expectStillServing();
    expect(await counterValue(metrics.spansReceived, { transport: 'http' })).toBe(1);
  });
});

describe('HttpReceiver lifecycle', () => {
  it('binds a real port when asked for port 0', () => {
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(address).not.toBe('127.0.0.1:0');
  });

  it('lets an in-flight request finish on shutdown, then refuses connections', async () => {
    const release = consumer.hold();
    const inFlight = httpRequest(address, { headers: PROTOBUF, body: goodProtobufRequest('in-flight') });
    await new Promise((resolve) => setTimeout(resolve, 50));
    let shutDown = false;
    const shutdown = receiver.shutdown(5000).then(() => (shutDown = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(shutDown).toBe(false);
    await expect(httpRequest(address, { headers: PROTOBUF, body: goodProtobufRequest('late') })).rejects.toThrow(/ECONNREFUSED/);
    release();
    const result = await inFlight;
    expect(result.status).toBe(200);
    expect(result.headers['connection']).toBe('close');
    await shutdown;
    expect(consumer.spans.map((row) => row.SpanName)).toEqual(['in-flight']);
  });

  it('cuts connections still busy at the deadline', async () => {
    consumer.hold(); // never released
    const stuck = httpRequest(address, { headers: PROTOBUF, body: goodProtobufRequest() });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await receiver.shutdown(200);
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(stuck).rejects.toThrow(/socket hang up|ECONNRESET/);
  });
});
