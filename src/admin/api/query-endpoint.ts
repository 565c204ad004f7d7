import { z } from 'zod';
import { QueryLimitError, QueryRefusedError } from '../../storage/user-query-errors.js';
import { ApiError, parseOrThrow } from './api-error.js';
import type { ApiCall, ApiResult, ApiRoute } from './api-router.js';

const queryBody = z.strictObject({ sql: z.string().trim().min(1, 'an SQL statement is required') });

export const queryRoutes: ApiRoute[] = [{ method: 'POST', path: '/query', handler: runQuery }];

/**
 * `POST /query`: one SELECT of spanscore's tables (src/storage/query-guard.ts decides), run
 * read-only under `admin.query`'s limits. It reads every project's data, so it needs a key
 * for all projects. At most `admin.query.max_result_rows` rows come back, `truncated: true`
 * when there were more.
 */
async function runQuery(call: ApiCall): Promise<ApiResult> {
  call.auth.need('read');
  call.auth.needProject('read', '*');
  const { sql } = parseOrThrow(queryBody, await call.body());
  const limits = call.ctx.config().admin.query;
  let result;
  try {
    result = await call.ctx.storage.userQuery(withoutTrailingSemicolons(sql), limits);
  } catch (error) {
    if (!isQueryError(error)) throw error;
    // A result over the byte cap is the query's fault like any refusal: 400, not 413, which
    // means a request body too large (the API answers that for bodies over 1 MiB) and would
    // tell a client to send less rather than to ask for less.
    throw new ApiError(400, 'INVALID_ARGUMENT', `sql: ${(error as Error).message}`, [{ field: 'sql', message: (error as Error).message }]);
  }
  const { rows, truncated } = result;
  return { body: { rows, row_count: rows.length, truncated, ...(truncated && { max_rows: limits.maxResultRows }) } };
}

/** `SELECT 1;;` as typed in a SQL console: ClickHouse parses one trailing semicolon only. */
function withoutTrailingSemicolons(sql: string): string {
  return sql.replace(/[\s;]+$/, '');
}

/**
 * A statement the guard refused, a limit it hit, or one ClickHouse refused (its errors carry
 * a numeric code): the client's to fix, as opposed to storage being down (a 500).
 */
function isQueryError(error: unknown): boolean {
  if (error instanceof QueryRefusedError || error instanceof QueryLimitError) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (typeof code === 'string' && /^\d+$/.test(code)) || typeof code === 'number';
}
