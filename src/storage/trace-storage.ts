import type { SpanRow } from '../pipeline/span-row.js';
import type { ScoreRow } from './score-row.js';
import type { QueryLimits, UserQueryResult } from './user-query.js';

/**
 * The ClickHouse side of the daemon (the Collector's exporter). One implementation serves
 * both modes: a ClickHouse server over HTTP, or the embedded engine (chdb) plugged into the
 * same `@clickhouse/client`.
 */
export interface TraceStorage {
  /** Creates the database and tables if missing. Idempotent. */
  migrate(): Promise<void>;
  /** Resolves once ClickHouse has the rows; rejects with RetryableStorageError otherwise. */
  insertSpans(rows: SpanRow[]): Promise<void>;
  insertScores(rows: ScoreRow[]): Promise<void>;
  /** True when ClickHouse answers. Never throws. */
  ping(): Promise<boolean>;
  /** Runs a SELECT in the configured database and returns its rows as objects. */
  query<T = Record<string, unknown>>(
    sql: string,
    params?: Record<string, unknown>,
    options?: { readonly?: boolean },
  ): Promise<T[]>;
  /**
   * Runs SQL typed by a user (the admin API's `POST /query`, `spanscore query`): one SELECT
   * of this database's tables, read-only, under `limits` (see user-query.ts).
   */
  userQuery(sql: string, limits: QueryLimits): Promise<UserQueryResult>;
  close(): Promise<void>;
}
