import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { SpanReader } from '../../src/storage/span-reader.js';
import { hexId, spanRow } from './storage-fixtures.js';

let storage: ClickHouseStorage;
let reader: SpanReader;

beforeAll(async () => {
  storage = new ClickHouseStorage({ embeddedPath: join(mkdtempSync(join(tmpdir(), 'spanscore-reader-')), 'ch'), database: 'reader_test', logger: silentLogger() });
  await storage.migrate();
  reader = new SpanReader(storage);
});

afterAll(async () => {
  await storage.close();
});

describe('SpanReader', () => {
  it('reads spans back exactly as they were stored (ns times, UInt64 duration, events, links)', async () => {
    const row = spanRow();
    await storage.insertSpans([row]);
    expect(await reader.byIds([row.SpanId])).toEqual([row]);
    expect(await reader.byIds([row.SpanId], row.TraceId)).toEqual([row]);
    expect(await reader.byIds([row.SpanId], hexId(16))).toEqual([]);
  });

  it('reads a trace in start order, without scoring spans', async () => {
    const traceId = hexId(16);
    const root = spanRow({ TraceId: traceId, ParentSpanId: '', Timestamp: '1700000000000000002' });
    const child = spanRow({ TraceId: traceId, ParentSpanId: root.SpanId, Timestamp: '1700000000000000001' });
    const scoring = spanRow({ TraceId: traceId, ParentSpanId: root.SpanId, ScopeName: 'spanscore', Timestamp: '1700000000000000003' });
    await storage.insertSpans([root, scoring, child]);
    expect((await reader.byTrace(traceId)).map((s) => s.SpanId)).toEqual([child.SpanId, root.SpanId]);
  });

  it('finds matching spans most recent first, within a time window and a limit', async () => {
    const service = `svc-${hexId(4)}`;
    const now = BigInt(Date.now()) * 1_000_000n;
    const ago = (minutes: number) => String(now - BigInt(minutes) * 60_000_000_000n);
    const spans = [5, 1, 30, 90, 3000].map((minutes) => spanRow({ ServiceName: service, Timestamp: ago(minutes) }));
    await storage.insertSpans(spans);
    const where = 'ServiceName = {service:String}';
    const recent = await reader.matching({ where, params: { service }, sinceHours: 1, limit: 10 });
    expect(recent.map((s) => s.Timestamp)).toEqual([ago(1), ago(5), ago(30)]);
    expect((await reader.matching({ where, params: { service }, limit: 2 })).map((s) => s.Timestamp)).toEqual([ago(1), ago(5)]);
    const range = await reader.matching({ where, params: { service }, fromNs: ago(100), toNs: ago(10), limit: 10 });
    expect(range.map((s) => s.Timestamp)).toEqual([ago(30), ago(90)]);
  });
});
