import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { DEPTH_MARKER_JSON, MAX_NESTING_DEPTH } from '../../src/receivers/attribute-values.js';
import { GrpcReceiver } from '../../src/receivers/grpc-receiver.js';
import { HttpReceiver } from '../../src/receivers/http-receiver.js';
import { grpcFrame, jsonDepthBomb, protobufDepthBomb, rawGrpcCall, withFirstLengthPrefix } from './hostile-payloads.js';
import {
  counterValue,
  decodeStatus,
  encodeRequest,
  goodJsonRequest,
  goodProtobufRequest,
  grpcExport,
  httpRequest,
  logger,
  noAuth,
  RecordingConsumer,
  requestObject,
  spanObject,
  testMetrics,
} from './receiver-test-kit.js';

const LIMIT = 1000;
const PROTOBUF = { 'Content-Type': 'application/x-protobuf' };
const JSON_TYPE = { 'Content-Type': 'application/json' };
const TRACE_ID = '5b8efff798038103d269b633813fc60c';

let consumer: RecordingConsumer;
let metrics: DaemonMetrics;
let http: HttpReceiver;
let grpc: GrpcReceiver;
let httpAddress: string;
let grpcAddress: string;

beforeAll(async () => {
  consumer = new RecordingConsumer();
  metrics = testMetrics();
  const common = { endpoint: '127.0.0.1:0', consumer, metrics, logger, auth: noAuth, maxAttributeValueLength: LIMIT };
  http = new HttpReceiver(common);
  grpc = new GrpcReceiver(common);
  [httpAddress, grpcAddress] = await Promise.all([http.start(), grpc.start()]);
});

afterAll(async () => {
  await Promise.all([http?.shutdown(1000), grpc?.shutdown(1000)]);
});

beforeEach(() => {
  consumer.batches.length = 0;
});

/** After each hostile request both receivers still store a good one. */
async function expectStillServing(): Promise<void> {
  const before = consumer.spans.length;
  expect((await httpRequest(httpAddress, { headers: PROTOBUF, body: goodProtobufRequest('after-http') })).status).toBe(200);
  expect((await grpcExport(grpcAddress, goodProtobufRequest('after-grpc'))).error).toBeNull();
  expect(consumer.spans.slice(before).map((s) => s.SpanName)).toEqual(['after-http', 'after-grpc']);
}

async function sendProtobuf(transport: 'http' | 'grpc', body: Buffer): Promise<{ ok: boolean; code: number | undefined; message: string }> {
  if (transport === 'http') {
    const result = await httpRequest(httpAddress, { headers: PROTOBUF, body });
    return { ok: result.status === 200, code: result.status, message: result.status === 200 ? '' : decodeStatus(result).message };
  }
  const { error } = await grpcExport(grpcAddress, body);
  return { ok: error === null, code: error?.code, message: error?.details ?? '' };
}

const BAD_REQUEST = { http: 400, grpc: status.INVALID_ARGUMENT };

describe.each(['http', 'grpc'] as const)('hostile protobuf over %s', (transport) => {
  it('cuts long span, resource, event and link attribute values with the marker, and counts them', async () => {
    const long = 'x'.repeat(100_000);
    const attributes = [{ key: 'big', value: { stringValue: long } }];
    const request = requestObject([
      spanObject({
        name: `long-${transport}`,
        attributes: [...attributes, { key: 'list', value: { arrayValue: { values: [{ stringValue: long }] } } }],
        events: [{ name: 'e', timeUnixNano: '1700000000123456789', attributes }],
        links: [{ traceId: Buffer.from(TRACE_ID, 'hex'), spanId: Buffer.from('0102030405060708', 'hex'), attributes }],
      }),
    ]);
    (request.resourceSpans as { resource: { attributes: unknown[] } }[])[0]!.resource.attributes.push(...attributes);
    const before = await counterValue(metrics.truncatedValues, { transport });
    expect((await sendProtobuf(transport, encodeRequest(request))).ok).toBe(true);

    const cut = `${'x'.repeat(LIMIT)}…[truncated ${100_000 - LIMIT} chars]`;
    const row = consumer.spans.find((s) => s.SpanName === `long-${transport}`)!;
    expect(row.SpanAttributes).toEqual({ big: cut, list: `["${'x'.repeat(LIMIT - 2)}…[truncated ${100_000 + 4 - LIMIT} chars]` });
    expect(row.ResourceAttributes.big).toBe(cut);
    expect(row.Events[0]!.Attributes.big).toBe(cut);
    expect(row.Links[0]!.Attributes.big).toBe(cut);
    expect((await counterValue(metrics.truncatedValues, { transport })) - before).toBe(5);
  });

  it('stores a depth bomb (10,000 nested kvlists) with the depth marker, without a stack overflow', async () => {
    const bomb = protobufDepthBomb(10_000);
    expect(bomb.length).toBeLessThan(200_000);
    const before = consumer.spans.length;
    expect(await sendProtobuf(transport, bomb)).toEqual({ ok: true, code: transport === 'http' ? 200 : undefined, message: '' });
    const stored = consumer.spans.slice(before);
    expect(stored.map((row) => row.SpanName)).toEqual(['bomb']);
    // The bomb's inner KeyValues have no key: ''.
    expect(stored[0]!.SpanAttributes.deep).toBe('{"":'.repeat(MAX_NESTING_DEPTH) + DEPTH_MARKER_JSON + '}'.repeat(MAX_NESTING_DEPTH));
    await expectStillServing();
  });

  it('stores invalid UTF-8 as U+FFFD instead of refusing the request', async () => {
    const body = encodeRequest(requestObject([spanObject({ name: `utf8-${transport}`, attributes: [{ key: 'k', value: { stringValue: 'bad:ZZ.' } }] })]));
    const at = body.indexOf('bad:ZZ');
    body[at + 4] = 0xc3; // a lead byte followed by a byte that cannot continue it
    body[at + 5] = 0xff;
    expect((await sendProtobuf(transport, body)).ok).toBe(true);
    expect(consumer.spans.find((s) => s.SpanName === `utf8-${transport}`)!.SpanAttributes.k).toBe('bad:\ufffd\ufffd.');
  });

  it('refuses truncated bodies and lying length prefixes with a message saying where', async () => {
    const good = goodProtobufRequest('framing');
    for (const body of [good.subarray(0, good.length - 7), good.subarray(0, 3), withFirstLengthPrefix(good, good.length * 3)]) {
      const answer = await sendProtobuf(transport, body);
      expect(answer.code).toBe(BAD_REQUEST[transport]);
      expect(answer.message).toMatch(
        /^request body is not a protobuf ExportTraceServiceRequest: index out of range(: \d+ \+ \d+ > \d+)? \(the body ends inside a field: truncated, or a length prefix runs past its end\)$/,
      );
    }
    const negative = await sendProtobuf(transport, withFirstLengthPrefix(good, 2 ** 31));
    expect([negative.code, negative.message]).toEqual([
      BAD_REQUEST[transport],
      'request body is not a protobuf ExportTraceServiceRequest: invalid length encoding (a length prefix is negative or beyond 2 GiB)',
    ]);
    await expectStillServing();
  });
});

describe('hostile OTLP/JSON over HTTP', () => {
  it('stores a depth bomb with the depth marker', async () => {
    const before = consumer.spans.length;
    expect((await httpRequest(httpAddress, { headers: JSON_TYPE, body: jsonDepthBomb(10_000) })).status).toBe(200);
    const stored = consumer.spans.slice(before);
    expect(stored.map((row) => row.SpanName)).toEqual(['bomb']);
    expect(stored[0]!.SpanAttributes.deep).toBe('{"k":'.repeat(MAX_NESTING_DEPTH) + DEPTH_MARKER_JSON + '}'.repeat(MAX_NESTING_DEPTH));
    await expectStillServing();
  });

  it('refuses a body that is not UTF-8 as 400, and a truncated one', async () => {
    const latin1 = Buffer.from(goodJsonRequest('café'), 'latin1');
    const notUtf8 = await httpRequest(httpAddress, { headers: JSON_TYPE, body: latin1 });
    expect([notUtf8.status, decodeStatus(notUtf8).message]).toEqual([400, 'request body is not valid UTF-8, as OTLP/JSON must be']);
    const json = goodJsonRequest('cut');
    const truncated = await httpRequest(httpAddress, { headers: JSON_TYPE, body: json.slice(0, json.length - 10) });
    expect(truncated.status).toBe(400);
    expect(decodeStatus(truncated).message).toMatch(/^request body is not valid JSON: /);
    await expectStillServing();
  });

  it('cuts long values and stores escaped lone surrogates as U+FFFD', async () => {
    const body = goodJsonRequest('json-hostile').replace(
      '"name":"json-hostile"',
      `"name":"json-hostile","attributes":[{"key":"big","value":{"stringValue":"${'y'.repeat(5000)}"}},{"key":"half","value":{"stringValue":"a\\ud800b"}}]`,
    );
    expect((await httpRequest(httpAddress, { headers: JSON_TYPE, body })).status).toBe(200);
    const row = consumer.spans.find((s) => s.SpanName === 'json-hostile')!;
    expect(row.SpanAttributes).toEqual({ big: `${'y'.repeat(LIMIT)}…[truncated ${5000 - LIMIT} chars]`, half: 'a\ufffdb' });
  });
});

describe('gRPC framing that lies', () => {
  it('INVALID_ARGUMENT when the frame prefix promises more bytes than the stream carries', async () => {
    const message = goodProtobufRequest('never');
    for (const frame of [grpcFrame(message, message.length + 100), grpcFrame(message).subarray(0, 20), grpcFrame(message).subarray(0, 3)]) {
      const answer = await rawGrpcCall(grpcAddress, frame);
      expect(answer).toEqual({
        httpStatus: 200,
        grpcStatus: status.INVALID_ARGUMENT,
        grpcMessage: 'the request stream ended before a whole request message arrived (truncated message, or a length prefix longer than the message)',
      });
    }
    expect(consumer.spans.some((s) => s.SpanName === 'never')).toBe(false);
    await expectStillServing();
  });

  it('a frame prefix shorter than the message: the rest reads as a next frame with an absurd length', async () => {
    const message = goodProtobufRequest('short');
    const answer = await rawGrpcCall(grpcAddress, grpcFrame(message, message.length - 7));
    // grpc-js refuses the would-be second frame by its size before the handler sees anything.
    expect(answer.grpcStatus).toBe(status.RESOURCE_EXHAUSTED);
    expect(answer.grpcMessage).toMatch(/^Received message larger than max \(\d+ vs 16777216\)$/);
    expect(consumer.spans.some((s) => s.SpanName === 'short')).toBe(false);
    await expectStillServing();
  });
});
