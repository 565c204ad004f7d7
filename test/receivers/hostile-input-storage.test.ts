import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { DEPTH_MARKER_JSON, MAX_NESTING_DEPTH } from '../../src/receivers/attribute-values.js';
import { GrpcReceiver } from '../../src/receivers/grpc-receiver.js';
import { HttpReceiver } from '../../src/receivers/http-receiver.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { encodeRequest, goodJsonRequest, grpcExport, httpRequest, logger, noAuth, requestObject, spanObject, testMetrics } from './receiver-test-kit.js';

/**
 * What hostile values become once stored: receivers in front of a real ClickHouse, the
 * stored strings read back byte for byte.
 */
const LIMIT = 100;

let server: ClickHouseServer;
let storage: ClickHouseStorage;
let http: HttpReceiver;
let grpc: GrpcReceiver;
let httpAddress: string;
let grpcAddress: string;

beforeAll(async () => {
  server = await startClickHouseServer();
  storage = new ClickHouseStorage({ url: server.url, database: 'hostile', logger: silentLogger() });
  await storage.migrate();
  const consumer = { consume: (spans: Parameters<ClickHouseStorage['insertSpans']>[0]) => storage.insertSpans(spans) };
  const options = { endpoint: '127.0.0.1:0', consumer, metrics: testMetrics(), logger, auth: noAuth, maxAttributeValueLength: LIMIT };
  http = new HttpReceiver(options);
  grpc = new GrpcReceiver(options);
  [httpAddress, grpcAddress] = await Promise.all([http.start(), grpc.start()]);
});

afterAll(async () => {
  await Promise.all([http?.shutdown(500), grpc?.shutdown(500)]);
  await storage?.close();
  await server?.dispose();
});

async function stored(spanName: string): Promise<{ SpanName: string; SpanAttributes: Record<string, string>; hexValue: string }> {
  const rows = await storage.query<{ SpanName: string; SpanAttributes: Record<string, string>; hexValue: string }>(
    "SELECT SpanName, SpanAttributes, hex(SpanAttributes['k']) AS hexValue FROM otel_traces WHERE SpanName = {name:String}",
    { name: spanName },
  );
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

/** `levels` arrays nested around a string. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { stringValue: 'core' };
  for (let i = 0; i < levels; i++) value = { arrayValue: { values: [value] } };
  return value;
}

describe.each(['http', 'grpc'] as const)('hostile values stored through OTLP/%s', (transport) => {
  async function send(body: Buffer): Promise<void> {
    if (transport === 'http') expect((await httpRequest(httpAddress, { headers: { 'Content-Type': 'application/x-protobuf' }, body })).status).toBe(200);
    else expect((await grpcExport(grpcAddress, body)).error).toBeNull();
  }

  it('a long value is stored cut, with the marker', async () => {
    const value = 'é'.repeat(10_000);
    await send(encodeRequest(requestObject([spanObject({ name: `long-${transport}`, attributes: [{ key: 'k', value: { stringValue: value } }] })])));
    expect((await stored(`long-${transport}`)).SpanAttributes.k).toBe(`${'é'.repeat(LIMIT)}…[truncated ${10_000 - LIMIT} chars]`);
  });

  it('invalid UTF-8 is stored as U+FFFD (valid UTF-8 in ClickHouse)', async () => {
    const body = encodeRequest(requestObject([spanObject({ name: `utf8-${transport}`, attributes: [{ key: 'k', value: { stringValue: 'a-XY-b' } }] })]));
    const at = body.indexOf('a-XY-b');
    body[at + 2] = 0xe2; // the start of a three-byte sequence ...
    body[at + 3] = 0x28; // ... cut short by '('
    await send(body);
    const row = await stored(`utf8-${transport}`);
    expect(row.SpanAttributes.k).toBe('a-\ufffd(-b');
    expect(row.hexValue).toBe(Buffer.from('a-\ufffd(-b').toString('hex').toUpperCase());
  });

  it('a value nested deeper than the cap is stored with the depth marker', async () => {
    await send(encodeRequest(requestObject([spanObject({ name: `deep-${transport}`, attributes: [{ key: 'k', value: nested(MAX_NESTING_DEPTH + 5) }] })])));
    const expected = '['.repeat(MAX_NESTING_DEPTH) + DEPTH_MARKER_JSON + ']'.repeat(MAX_NESTING_DEPTH);
    expect(expected.length).toBeLessThanOrEqual(LIMIT);
    expect((await stored(`deep-${transport}`)).SpanAttributes.k).toBe(expected);
  });
});

describe('hostile OTLP/JSON values stored', () => {
  it('escaped lone surrogates are stored as U+FFFD, escaped pairs as the character', async () => {
    const body = goodJsonRequest('surrogates').replace('"name":"surrogates"', '"name":"surrogates","attributes":[{"key":"k","value":{"stringValue":"\\ud800|\\ud83d\\ude00|\\udc00"}}]');
    expect((await httpRequest(httpAddress, { headers: { 'Content-Type': 'application/json' }, body })).status).toBe(200);
    const row = await stored('surrogates');
    expect(row.SpanAttributes.k).toBe('\ufffd|😀|\ufffd');
    expect(row.hexValue).toBe(Buffer.from('\ufffd|😀|\ufffd').toString('hex').toUpperCase());
  });
});
