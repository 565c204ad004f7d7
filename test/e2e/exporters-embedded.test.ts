import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { e2eConfig, expectScores, expectSpansStored, sendWithEveryExporter } from './exporters-scenario.js';

describe('stock OTel exporters -> daemon -> embedded ClickHouse', () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'spanscore-e2e-')), 'clickhouse');
  let daemon: RunningDaemon | undefined;
  let storage: ClickHouseStorage | undefined;

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await storage?.close();
  });

  it('stores every span and scores every selected span, flushed on SIGTERM', async () => {
    daemon = await startDaemon(e2eConfig(`    embedded: { path: ${dataDir} }`));
    const sent = await sendWithEveryExporter(daemon);
    // The embedded store belongs to the daemon's process while it runs: stop it (SIGTERM
    // drains the scoring queue), then read the store from here.
    expect(await daemon.stop('SIGTERM')).toBe(0);
    expect(daemon.logs.some((l) => l.msg === 'spanscore stopped')).toBe(true);

    storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'e2e', logger: silentLogger() });
    const query = (sql: string) => storage!.query(sql);
    await expectSpansStored(query, sent);
    await expectScores(query, sent);
  });
});
