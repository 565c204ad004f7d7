import { createClient, type ClickHouseClient, type ClickHouseClientConfigOptions } from '@clickhouse/client';
import { openEmbeddedConnection } from './embedded-connection.js';
import { quoteIdentifier } from './schema.js';
import type { ReadonlyConnections } from './user-query.js';

/** Server mode: one client; the settings and `readonly = 1` go with every request. */
export function serverConnections(client: ClickHouseClient): ReadonlyConnections {
  return {
    withConnection: (settings, use) => use(client, { ...settings, readonly: '1' }),
  };
}

export interface EmbeddedStore {
  /** The embedded store's data directory (already opened by the storage's own session). */
  path: string;
  database: string;
  /** What every client of the storage is created with (session settings, logging). */
  clientOptions: Pick<ClickHouseClientConfigOptions, 'clickhouse_settings' | 'log'>;
}

/**
 * Embedded mode: a chdb session per use, closed after it. chdb turns per-query settings into
 * session-wide `SET`s, and after `SET readonly = 1` a session refuses to change any, so the
 * limits are set first and the session then turned read-only; limits that change with a
 * config reload simply apply to the next session. Opening one takes a few milliseconds.
 */
export function embeddedConnections(store: EmbeddedStore): ReadonlyConnections {
  return {
    async withConnection(settings, use) {
      const client = createClient({ connection: await openEmbeddedConnection(store.path), ...store.clientOptions });
      try {
        await client.command({ query: `USE ${quoteIdentifier(store.database)}` });
        // chdb runs the settings as SETs before the statement: the limits first, readonly last.
        await client.command({ query: 'SET readonly = 1', clickhouse_settings: settings });
        return await use(client, undefined);
      } finally {
        await client.close();
      }
    },
  };
}
