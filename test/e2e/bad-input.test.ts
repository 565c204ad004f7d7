import { status as GrpcStatus } from '@grpc/grpc-js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { otlpJsonRequest, postJson, randomSpanId, randomTraceId } from '../helpers/otlp-json.js';
import { exportRaw } from '../helpers/raw-grpc.js';

/** Each bad request gets its exact status from the running daemon, which keeps serving. */
describe('bad input against a running daemon', () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'spanscore-bad-')), 'clickhouse');
  let daemon: RunningDaemon;
  const goodTraceIds: string[] = [];

  beforeAll(async () => {
    daemon = await startDaemon(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:0, max_recv_msg_size_mib: 1 }
      http: { endpoint: 127.0.0.1:0, max_request_body_size: 1048576 }
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

  /** A good request after every bad one proves the daemon is still serving. */
  async function expectStillServing(): Promise<void> {
    const traceId = randomTraceId();
    const { body } = otlpJsonRequest([{ traceId }]);
    const response = await postJson(daemon.addresses.http!, body);
    expect(response.status).toBe(200);
    goodTraceIds.push(traceId);
  }

  const http = () => `http://${daemon.addresses.http}`;

  it.each([
    ['undecodable protobuf', 'application/x-protobuf', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), 400],
    ['undecodable JSON', 'application/json', Buffer.from('{"resourceSpans": [ nope'), 400],
    ['another media type', 'text/plain', Buffer.from('hello'), 415],
  ])('%s -> %i', async (_what, contentType, body, expected) => {
    const response = await fetch(`${http()}/v1/traces`, { method: 'POST', headers: { 'Content-Type': contentType }, body });
    expect(response.status).toBe(expected);
    await expectStillServing();
  });

  it('405 for another method, 404 for another path', async () => {
    expect((await fetch(`${http()}/v1/traces`, { method: 'GET' })).status).toBe(405);
    expect((await fetch(`${http()}/v1/metrics`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status).toBe(404);
    await expectStillServing();
  });

  it('413 for a gzip bomb past the limit measured after decompression', async () => {
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const response = await fetch(`${http()}/v1/traces`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
      body: bomb,
    });
    expect(response.status).toBe(413);
    await expectStillServing();
  });

  it('partial success: a bad span is rejected alone, the rest stored', async () => {
    const goodTrace = randomTraceId();
    const { body } = otlpJsonRequest([{ traceId: goodTrace }, { traceId: 'abcd', spanId: randomSpanId() }, { traceId: goodTrace, name: '' }]);
    const response = await postJson(daemon.addresses.http!, body);
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { partialSuccess?: { rejectedSpans?: string | number; errorMessage?: string } };
    expect(Number(answer.partialSuccess?.rejectedSpans)).toBe(2);
    expect(answer.partialSuccess?.errorMessage).toMatch(/trace.?id/i);
    expect(answer.partialSuccess?.errorMessage).toMatch(/name/i);
    goodTraceIds.push(goodTrace);
  });

  it('gRPC: INVALID_ARGUMENT for an undecodable message, RESOURCE_EXHAUSTED past the size limit', async () => {
    const bad = await exportRaw(daemon.addresses.grpc!, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(bad.error?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    const huge = await exportRaw(daemon.addresses.grpc!, Buffer.alloc(2 * 1024 * 1024, 0));
    expect(huge.error?.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    await expectStillServing();
  });

  it('kept every good span through all of it', async () => {
    expect(await daemon.stop('SIGTERM')).toBe(0);
    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'spanscore', logger: silentLogger() });
    try {
      const rows = await storage.query<{ TraceId: string }>(`SELECT TraceId FROM otel_traces`);
      expect(new Set(rows.map((r) => r.TraceId))).toEqual(new Set(goodTraceIds));
      // The partial-success request stored exactly its one good span.
      expect(rows.length).toBe(goodTraceIds.length);
    } finally {
      await storage.close();
    }
  });
});
