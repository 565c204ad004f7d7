import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { DROPPED_ATTRIBUTES_KEY } from '../../src/receivers/attribute-limits.js';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { metricsText, metricSum } from '../helpers/admin-api.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { postJson, otlpJsonRequest, randomTraceId } from '../helpers/otlp-json.js';
import { spanObject } from './receiver-test-kit.js';

/**
 * A span carrying a million attribute keys (a 16 MB body, under the 20 MiB limit) sent to a
 * real daemon: acknowledged, stored with at most `max_attributes_per_span` attributes, and
 * the daemon answers /healthz meanwhile. Before the limits it took 18 s to acknowledge and
 * held the event loop (and /healthz) for 10 s.
 */
const MAX_ATTRIBUTES = 1000;
const MAX_BYTES = 1024 * 1024;
const KEYS = 1_000_000;

/** A one-span protobuf request whose span has `KEYS` string attributes `k<i>` = '<i mod 10>', written as bytes (fast). */
function millionAttributeRequest(name: string, traceId: string): Buffer {
  const spanType = otlpSchema().root.lookupType('opentelemetry.proto.trace.v1.Span');
  const span = Buffer.from(spanType.encode(spanType.fromObject(spanObject({ name, traceId: Buffer.from(traceId, 'hex') }))).finish());
  const attributes = Buffer.alloc(KEYS * 17);
  let at = 0;
  for (let i = 0; i < KEYS; i++) {
    const key = `k${i}`;
    // Span.attributes (9) { KeyValue.key (1), KeyValue.value (2) { AnyValue.string_value (1) } }: every length under 128.
    attributes[at++] = 0x4a;
    attributes[at++] = 2 + key.length + 2 + 3;
    attributes[at++] = 0x0a;
    attributes[at++] = key.length;
    at += attributes.write(key, at, 'latin1');
    attributes[at++] = 0x12;
    attributes[at++] = 3;
    attributes[at++] = 0x0a;
    attributes[at++] = 1;
    attributes[at++] = 0x30 + (i % 10);
  }
  const spanBytes = Buffer.concat([span, attributes.subarray(0, at)]);
  const delimited = (field: number, content: Buffer) => Buffer.concat([varintTag(field), varint(content.length), content]);
  return delimited(1, delimited(2, delimited(2, spanBytes)));
}

const varintTag = (field: number) => varint((field << 3) | 2);
function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

describe('a span with a million attributes, against a running daemon', () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'spanscore-attribute-bomb-')), 'clickhouse');
  let daemon: RunningDaemon;
  let wideTraceId = '';
  let heavyTraceId = '';

  beforeAll(async () => {
    daemon = await startDaemon(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:0 }
    max_attributes_per_span: ${MAX_ATTRIBUTES}
    max_span_attributes_bytes: ${MAX_BYTES}
storage:
  clickhouse:
    embedded: { path: ${dataDir} }
    insert: { linger: 5ms }
admin: { endpoint: 127.0.0.1:0 }
`);
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
  });

  it('is acknowledged, /healthz answering meanwhile', async () => {
    wideTraceId = randomTraceId();
    const body = millionAttributeRequest('wide', wideTraceId);
    expect(body.length).toBeGreaterThan(15 * 1024 * 1024);
    expect(body.length).toBeLessThan(20 * 1024 * 1024);

    let exported = false;
    const healthz: { status: number; duringExport: boolean }[] = [];
    const polling = (async () => {
      while (!exported) {
        const response = await fetch(`http://${daemon.addresses.admin}/healthz`, { signal: AbortSignal.timeout(30_000) });
        await response.arrayBuffer();
        healthz.push({ status: response.status, duringExport: !exported });
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const response = await fetch(`http://${daemon.addresses.http}/v1/traces`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-protobuf' },
      body,
      signal: AbortSignal.timeout(50_000),
    });
    exported = true;
    await polling;
    expect(response.status).toBe(200);
    expect(healthz.filter((answer) => answer.duringExport && answer.status === 200).length).toBeGreaterThan(0);

    const metrics = await metricsText(daemon.addresses.admin);
    expect(metricSum(metrics, 'spanscore_receiver_dropped_attributes_total', { transport: 'http' })).toBe(KEYS - MAX_ATTRIBUTES);
    expect(metricSum(metrics, 'spanscore_receiver_accepted_spans_total', { transport: 'http' })).toBe(1);
  });

  it('acknowledges a span of huge values (OTLP/JSON)', async () => {
    const attributes: Record<string, string> = {};
    for (let i = 0; i < 40; i++) attributes[`big${i}`] = 'x'.repeat(60_000);
    const { body, spans } = otlpJsonRequest([{ name: 'heavy', attributes }]);
    expect((await postJson(daemon.addresses.http!, body)).status).toBe(200);
    heavyTraceId = spans[0]!.traceId;
  });

  it('stored the first max_attributes_per_span keys and the count of the others; the attributes within max_span_attributes_bytes', async () => {
    expect(await daemon.stop('SIGTERM')).toBe(0);
    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'spanscore', logger: silentLogger() });
    try {
      const rows = await storage.query<{ SpanName: string; attributes: string; kept: string; dropped: string }>(
        `SELECT SpanName, length(SpanAttributes) AS attributes, SpanAttributes['k${MAX_ATTRIBUTES - 1}'] AS kept, SpanAttributes['${DROPPED_ATTRIBUTES_KEY}'] AS dropped
         FROM otel_traces WHERE TraceId IN ({wide:String}, {heavy:String}) ORDER BY SpanName`,
        { wide: wideTraceId, heavy: heavyTraceId },
      );
      expect(rows.map((row) => [row.SpanName, Number(row.attributes), row.dropped])).toEqual([
        // Each entry is 5 or 6 bytes of key and 60,000 of value: 17 fit in 1 MiB.
        ['heavy', 17 + 1, '23'],
        ['wide', MAX_ATTRIBUTES + 1, String(KEYS - MAX_ATTRIBUTES)],
      ]);
      expect(rows[1]!.kept).toBe(String((MAX_ATTRIBUTES - 1) % 10));
    } finally {
      await storage.close();
    }
  });
});
