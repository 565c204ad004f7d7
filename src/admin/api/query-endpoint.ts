import { z } from 'zod';
import { ApiError, parseOrThrow } from './api-error.js';
import type { ApiCall, ApiResult, ApiRoute } from './api-router.js';

const queryBody = z.strictObject({ sql: z.string().trim().min(1, 'an SQL statement is required') });

export const queryRoutes: ApiRoute[] = [{ method: 'POST', path: '/query', handler: runQuery }];

/**
 * `POST /query`: one read-only SQL statement (ClickHouse refuses writes under `readonly`).
 * It reads every project's data, so it needs a key for all projects. At most
 * `admin.max_query_rows` rows come back, `truncated: true` when there were more.
 */
async function runQuery(call: ApiCall): Promise<ApiResult> {
  call.auth.need('read');
  call.auth.needProject('read', '*');
  const { sql } = parseOrThrow(queryBody, await call.body());
  const maxRows = call.ctx.config().admin.maxQueryRows;
  const statement = withoutTrailingSemicolons(sql);
  let rows: Record<string, unknown>[];
  try {
    rows = await call.ctx.storage.query(capped(statement, maxRows + 1), {}, { readonly: true });
  } catch (error) {
    if (!isQueryError(error)) throw error;
    throw new ApiError(400, 'INVALID_ARGUMENT', `sql: ${(error as Error).message}`, [{ field: 'sql', message: (error as Error).message }]);
  }
  const truncated = rows.length > maxRows;
  if (truncated) rows = rows.slice(0, maxRows);
  return { body: { rows, row_count: rows.length, truncated, ...(truncated && { max_rows: maxRows }) } };
}

/**
 * A SELECT is wrapped so ClickHouse stops after `limit` rows (one more than returned, to know
 * whether there were more) instead of sending them all here; the readonly session cannot be
 * given `max_result_rows`, since it refuses any settings change. Other statements (SHOW,
 * DESCRIBE, EXPLAIN) are small and are cut after reading.
 */
function capped(sql: string, limit: number): string {
  if (!/^(SELECT|WITH)\b/i.test(withoutLeadingComments(sql))) return sql;
  // The newline ends a trailing `--` comment before the closing parenthesis.
  return `SELECT * FROM (\n${sql}\n) LIMIT ${limit}`;
}

function withoutTrailingSemicolons(sql: string): string {
  return sql.replace(/[\s;]+$/, '');
}

function withoutLeadingComments(sql: string): string {
  let text = sql.trimStart();
  for (;;) {
    if (text.startsWith('--')) text = text.slice(text.indexOf('\n') === -1 ? text.length : text.indexOf('\n')).trimStart();
    else if (text.startsWith('/*')) text = text.slice(text.indexOf('*/') === -1 ? text.length : text.indexOf('*/') + 2).trimStart();
    else return text;
  }
}

/**
 * A statement ClickHouse (or the readonly guard) refused, which is the client's to fix, as
 * opposed to storage being down (a 500). ClickHouse errors carry its error code.
 */
function isQueryError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (typeof code === 'string' && /^\d+$/.test(code)) || typeof code === 'number' || /readonly|read-only|INTO OUTFILE/i.test(error.message);
}
