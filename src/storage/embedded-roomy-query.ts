import { createClient, type ClickHouseClient, type ClickHouseClientConfigOptions, type ClickHouseSettings } from '@clickhouse/client';
import { openEmbeddedConnection } from './embedded-connection.js';
import type { BoundStatement } from './query-param-literals.js';
import { quoteIdentifier } from './schema.js';

export interface OwnSessionQuery {
  /** The embedded store's data directory. */
  path: string;
  database: string;
  /** What every client of the storage is created with (session settings, logging). */
  clientOptions: Pick<ClickHouseClientConfigOptions, 'clickhouse_settings' | 'log'>;
  statement: BoundStatement;
  /** Parse limits sized to the statement (statement-limits.ts). */
  limits: ClickHouseSettings;
}

/**
 * Embedded mode: a read-only statement beyond ClickHouse's default parse limits. The shared
 * readonly session cannot raise them (readonly = 1 refuses any change of settings, even for
 * one query, and chdb makes per-query settings session-wide `SET`s anyway), so the statement
 * gets a session of its own that raises them before turning read-only, and is closed after.
 * Opening one takes a few ms, next to the seconds such a statement runs.
 */
export async function queryInOwnReadonlySession<T>(query: OwnSessionQuery): Promise<T[]> {
  const client = await openReadonlySession(query.path, query.database, query.clientOptions, query.limits);
  try {
    const result = await client.query({ query: query.statement.sql, query_params: query.statement.params, format: 'JSONEachRow' });
    return await result.json<T>();
  } finally {
    await client.close();
  }
}

/**
 * A chdb session on `database` that refuses writes and any change of settings: `limits` are
 * set first (chdb runs them as SETs before the statement), `readonly = 1` last. The settings
 * every query re-sends are accepted only because their values do not change.
 */
export async function openReadonlySession(
  path: string,
  database: string,
  clientOptions: OwnSessionQuery['clientOptions'],
  limits?: ClickHouseSettings,
): Promise<ClickHouseClient> {
  const client = createClient({ connection: await openEmbeddedConnection(path), ...clientOptions });
  try {
    await client.command({ query: `USE ${quoteIdentifier(database)}` });
    await client.command({ query: 'SET readonly = 1', ...(limits && { clickhouse_settings: limits }) });
  } catch (err) {
    await client.close();
    throw err;
  }
  return client;
}
