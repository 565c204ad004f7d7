import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { insertRetryingAmbiguous, isAmbiguousInsertFailure } from '../../src/storage/ambiguous-insert-retry.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { spanRow } from './storage-fixtures.js';

/**
 * A TCP proxy to ClickHouse that, when armed, lets the next request through but cuts the
 * client's connection instead of passing the answer back: ClickHouse stored the rows, the
 * client cannot know.
 */
async function startCuttingProxy(target: number): Promise<{ port: number; armCut(): void; close(): Promise<void> }> {
  let armed = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (armed) {
        armed = false;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    armCut: () => (armed = true),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('an insert whose connection broke after ClickHouse stored it', () => {
  let server: ClickHouseServer;
  let proxy: Awaited<ReturnType<typeof startCuttingProxy>>;
  let direct: ClickHouseStorage;
  let proxied: ClickHouseStorage;
  const count = async (ids: string[]) =>
    Number((await direct.query<{ n: string }>('SELECT count() AS n FROM otel_traces WHERE SpanId IN {ids:Array(String)}', { ids }))[0]!.n);

  beforeAll(async () => {
    server = await startClickHouseServer();
    proxy = await startCuttingProxy(server.port);
    direct = new ClickHouseStorage({ url: server.url, database: 'spanscore', logger: silentLogger() });
    await direct.migrate();
    proxied = new ClickHouseStorage({ url: `http://127.0.0.1:${proxy.port}`, database: 'spanscore', logger: silentLogger() });
  });
  afterAll(async () => {
    await proxied?.close();
    await direct?.close();
    await proxy?.close();
    await server?.dispose();
  });

  it('fails ambiguously: the rows are stored although the insert reports an error', async () => {
    const rows = [spanRow(), spanRow()];
    proxy.armCut();
    const error = await proxied.insertSpans(rows, 'cut-once').catch((e: unknown) => e);
    expect(isAmbiguousInsertFailure(error)).toBe(true);
    expect(await count(rows.map((r) => r.SpanId))).toBe(2);
  });

  it('is sent again with the same token and stored once', async () => {
    const rows = [spanRow(), spanRow(), spanRow()];
    let attempts = 0;
    proxy.armCut();
    await insertRetryingAmbiguous(() => {
      attempts++;
      return proxied.insertSpans(rows, 'retried-token');
    });
    expect(attempts).toBe(2);
    expect(await count(rows.map((r) => r.SpanId))).toBe(3);
  });

  it('is not retried when ClickHouse answered with an error', async () => {
    let attempts = 0;
    const error = await insertRetryingAmbiguous(() => {
      attempts++;
      return proxied.insertSpans([spanRow({ Duration: 'not a number' })]);
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(attempts).toBe(1);
  });
});
