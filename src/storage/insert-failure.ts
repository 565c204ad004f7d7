import { ClickHouseError } from '@clickhouse/client';

/**
 * ClickHouse error codes that say the rows themselves are wrong (they cannot be parsed or do
 * not fit a column): sending them again cannot succeed. Every other failure (ClickHouse down,
 * overloaded, out of memory, Keeper away, too many parts, credentials being fixed) may clear.
 */
const DATA_ERROR_CODES = new Set([6, 26, 27, 32, 33, 38, 41, 53, 69, 72, 117, 131, 190]);

/** Rows that could not be turned into ClickHouse's input format: sending them again cannot help. */
export class RowEncodingError extends Error {
  override readonly name = 'RowEncodingError';
}

/** True when `error` (or what it wraps) is ClickHouse refusing the data for good, or rows that cannot be encoded. */
export function isPermanentInsertFailure(error: unknown): boolean {
  for (let cause: unknown = error, depth = 0; cause !== undefined && depth < 5; depth++) {
    if (cause instanceof RowEncodingError) return true;
    if (cause instanceof ClickHouseError) return DATA_ERROR_CODES.has(Number(cause.code));
    if (!(cause instanceof Error)) return false;
    // The embedded engine reports ClickHouse's exception text, `Code: N. DB::Exception: ...`.
    const code = /\bCode: (\d+)\. DB::Exception/.exec(cause.message)?.[1];
    if (code !== undefined) return DATA_ERROR_CODES.has(Number(code));
    cause = cause.cause;
  }
  return false;
}
