import { ResultSet, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { readCappedResult } from './capped-result.js';
import { guardQuery } from './query-guard.js';
import { QueryLimitError } from './user-query-errors.js';

/** What one user query may take (`admin.query`). */
export interface QueryLimits {
  maxExecutionMs: number;
  /** Rows returned at most; more make the result `truncated`. */
  maxResultRows: number;
  /** Bytes of result (as JSON text) read at most; more is a QueryLimitError. */
  maxResultBytes: number;
}

export interface UserQueryResult {
  rows: Record<string, unknown>[];
  /** There were more than `maxResultRows` rows. */
  truncated: boolean;
}

/**
 * Where user queries run. `settings` are put in force read-only: per request on a server,
 * before `SET readonly = 1` in an embedded session (which refuses any change after it).
 * `perRequest` is what to send with each statement on the connection given to `use`.
 */
export interface ReadonlyConnections {
  withConnection<T>(settings: ClickHouseSettings, use: (client: ClickHouseClient, perRequest: ClickHouseSettings | undefined) => Promise<T>): Promise<T>;
}

/** ClickHouse errors that mean a limit was hit rather than bad SQL. */
const TIMEOUT_EXCEEDED = '159';
const TOO_MANY_ROWS_OR_BYTES = '396';
/** The guard's statements' output (`default_format`, which even a read-only ClickHouse user may set). */
const GUARD_FORMAT = 'JSONCompactEachRow';
/** How long past max_execution_time the client waits before it gives up on ClickHouse. */
const CLIENT_GRACE_MS = 5_000;

/**
 * SQL typed by a user, checked by the query guard and run read-only under `limits`:
 * `max_execution_time`, and `max_result_rows` / `max_result_bytes` with
 * `result_overflow_mode = throw`, plus the byte count of capped-result.ts.
 *
 * The check and the run get connections of their own: the result limits would apply to the
 * EXPLAIN output too (one row per syntax tree node), refusing any query with more nodes than
 * `maxResultRows`. The statement that runs wraps the canonical text (one statement, no
 * comments, so nothing can close the parenthesis early) and stops at one row more than
 * `maxResultRows`, to tell whether there were more.
 */
export async function runUserQuery(connections: ReadonlyConnections, sql: string, database: string, limits: QueryLimits): Promise<UserQueryResult> {
  const deadline = AbortSignal.timeout(2 * limits.maxExecutionMs + CLIENT_GRACE_MS);
  const time: ClickHouseSettings = { max_execution_time: limits.maxExecutionMs / 1000 };
  try {
    const canonical = await connections.withConnection(time, (client, perRequest) =>
      guardQuery(sql, database, async (statement, params) => {
        // Not `query`, which appends `FORMAT ...` to the text: after `EXPLAIN AST <statement>`
        // that would be the explained statement's FORMAT, not the EXPLAIN's.
        const settings: ClickHouseSettings = { ...perRequest, default_format: GUARD_FORMAT };
        const result = await client.exec({ query: statement, query_params: params, clickhouse_settings: settings, abort_signal: deadline });
        const rows = ResultSet.instance({ stream: result.stream, format: GUARD_FORMAT, query_id: result.query_id, response_headers: result.response_headers, log_error: () => undefined });
        return rows.json<unknown[]>();
      }),
    );
    const resultLimits: ClickHouseSettings = {
      ...time,
      max_result_rows: String(limits.maxResultRows + 1),
      max_result_bytes: String(limits.maxResultBytes),
      result_overflow_mode: 'throw',
    };
    const { columns, rows } = await connections.withConnection(resultLimits, (client, perRequest) =>
      readCappedResult(client, `SELECT * FROM (${canonical}) LIMIT ${limits.maxResultRows + 1}`, perRequest, limits.maxResultBytes, deadline),
    );
    const truncated = rows.length > limits.maxResultRows;
    const kept = truncated ? rows.slice(0, limits.maxResultRows) : rows;
    return { rows: kept.map((values) => Object.fromEntries(columns.map((column, index) => [column, values[index]]))), truncated };
  } catch (error) {
    throw asLimitError(error, limits, deadline) ?? error;
  }
}

function asLimitError(error: unknown, limits: QueryLimits, deadline: AbortSignal): QueryLimitError | undefined {
  const code = (error as { code?: unknown }).code;
  const seconds = limits.maxExecutionMs / 1000;
  if (code === TIMEOUT_EXCEEDED || (deadline.aborted && !(error instanceof QueryLimitError))) {
    return new QueryLimitError(`the query ran longer than admin.query.max_execution_time (${seconds}s): ${(error as Error).message}`);
  }
  if (code === TOO_MANY_ROWS_OR_BYTES) {
    return new QueryLimitError(`the result is larger than admin.query.max_result_bytes (${limits.maxResultBytes} bytes): ${(error as Error).message}`);
  }
  return undefined;
}
