// Inherited by the server process: stored times must read back in UTC whatever its zone.
process.env.TZ = 'America/New_York';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { RetryableStorageError } from '../../src/pipeline/errors.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { describeStorageContract } from './storage-contract.js';
import { spanRow } from './storage-fixtures.js';

let server: ClickHouseServer;
beforeAll(async () => {
  server = await startClickHouseServer();
});
afterAll(async () => {
  await server?.dispose();
});

describe('ClickHouseStorage, ClickHouse server over HTTP', () => {
  describeStorageContract(() => ({ url: server.url }), 'contract');

  it('fails inserts while the server is down, and takes the same insert once it is back', async () => {
    const storage = new ClickHouseStorage({ url: server.url, database: 'outage', requestTimeoutMs: 5000, logger: silentLogger() });
    try {
      await storage.migrate();
      const before = spanRow();
      await storage.insertSpans([before]);
      expect(await storage.ping()).toBe(true);

      await server.stop();
      expect(await storage.ping()).toBe(false);
      const during = [spanRow(), spanRow()];
      const error = await storage.insertSpans(during).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RetryableStorageError);
      expect((error as Error).message).toMatch(/into outage\.otel_traces failed: .*ECONNREFUSED/);

      await server.restart();
      expect(await storage.ping()).toBe(true);
      await storage.insertSpans(during);
      const stored = await storage.query<{ TraceId: string }>('SELECT TraceId FROM otel_traces ORDER BY TraceId');
      expect(stored.map((r) => r.TraceId)).toEqual([before, ...during].map((r) => r.TraceId).sort());
    } finally {
      await storage.close();
    }
  });

  it('inserts 10,000 spans in one insert', async () => {
    const storage = new ClickHouseStorage({ url: server.url, database: 'bulk', logger: silentLogger() });
    try {
      await storage.migrate();
      const rows = Array.from({ length: 10_000 }, () => spanRow());
      const started = performance.now();
      await storage.insertSpans(rows);
      const elapsedMs = performance.now() - started;
      console.log(`server: 10,000-span insert took ${elapsedMs.toFixed(0)} ms`);
      expect(await storage.query('SELECT count() AS n FROM otel_traces')).toEqual([{ n: '10000' }]);
    } finally {
      await storage.close();
    }
  });
});
