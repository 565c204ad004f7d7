// Set before the engine loads: stored times must read back in UTC whatever the machine's zone.
process.env.TZ = 'Asia/Kolkata';

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { GroupCommitWriter } from '../../src/storage/group-commit-writer.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import { describeStorageContract } from './storage-contract.js';
import { spanRow } from './storage-fixtures.js';

const dataDir = mkdtempSync(join(tmpdir(), 'spanscore-embedded-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('ClickHouseStorage, embedded (chdb)', () => {
  describeStorageContract(() => ({ embeddedPath: dataDir }), 'contract');

  it('takes group-committed writes from many concurrent requests', async () => {
    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'group_commit', logger: silentLogger() });
    try {
      await storage.migrate();
      let inserts = 0;
      const writer = new GroupCommitWriter<SpanRow>({
        maxBatchRows: 1000,
        lingerMs: 20,
        insert: (rows) => {
          inserts++;
          return storage.insertSpans(rows);
        },
      });
      const requests = Array.from({ length: 50 }, () => [spanRow(), spanRow()]);
      await Promise.all(requests.map((rows) => writer.write(rows)));
      await writer.close();
      expect(inserts).toBeLessThanOrEqual(3);
      expect(await storage.query('SELECT count() AS n FROM otel_traces')).toEqual([{ n: '100' }]);
    } finally {
      await storage.close();
    }
  });

  it('inserts 10,000 spans in one insert', async () => {
    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'bulk', logger: silentLogger() });
    try {
      await storage.migrate();
      const rows = Array.from({ length: 10_000 }, () => spanRow());
      const started = performance.now();
      await storage.insertSpans(rows);
      const elapsedMs = performance.now() - started;
      console.log(`embedded: 10,000-span insert took ${elapsedMs.toFixed(0)} ms`);
      expect(await storage.query('SELECT count() AS n FROM otel_traces')).toEqual([{ n: '10000' }]);
    } finally {
      await storage.close();
    }
  });
});
