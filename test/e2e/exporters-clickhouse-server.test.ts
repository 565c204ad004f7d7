import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { waitFor } from '../helpers/wait-for.js';
import { e2eConfig, expectScores, expectSpansStored, sendWithEveryExporter } from './exporters-scenario.js';

describe('stock OTel exporters -> daemon -> ClickHouse HTTP server', () => {
  let server: ClickHouseServer;
  let daemon: RunningDaemon | undefined;
  let storage: ClickHouseStorage;

  beforeAll(async () => {
    server = await startClickHouseServer();
    storage = new ClickHouseStorage({ url: server.url, database: 'e2e', logger: silentLogger() });
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await storage?.close();
    await server?.stop();
  });

  it('stores every span and scores every selected span while running', async () => {
    daemon = await startDaemon(e2eConfig(`    url: ${server.url}`));
    const sent = await sendWithEveryExporter(daemon);
    const query = (sql: string) => storage.query(sql);
    // Spans are stored before the exporters were answered: no waiting needed.
    await expectSpansStored(query, sent);
    // Scores follow asynchronously.
    await waitFor(async () => Number((await query(`SELECT count() AS n FROM scores`))[0]!.n) === 27, {
      timeoutMs: 30_000,
      what: '27 score rows',
    });
    await expectScores(query, sent);
    expect(await daemon.stop('SIGTERM')).toBe(0);
  });
});
