import type { ClickHouseSettings } from '@clickhouse/client';

/**
 * `max_query_size` sized to a statement longer than ClickHouse's default of 256 KiB: a filter
 * with a big IN list compiles to a set literal of its values, which the default refuses as
 * "Max query size exceeded" although nothing is wrong with it. The size of what may be sent
 * at all is bounded upstream (the admin API's `admin.max_filter_bytes`).
 *
 * The syntax tree limits (`max_ast_elements`, 50,000 nodes) stay as they are: they are what
 * bounds the work of analysing a statement, which grows faster than its node count (an
 * `or()` of 20,000 comparisons takes minutes), and a long literal is a single node. A filter
 * refused by them is too complex, not too long (see on-demand/filter-complexity.ts).
 */

const DEFAULT_MAX_QUERY_SIZE = 262_144;
/** What the client appends to the statement (`\nFORMAT JSONEachRow`), with room to spare. */
const APPENDED_BYTES = 1024;

/** Settings letting ClickHouse read all of `sql`; undefined when the default does. */
export function parseLimitsFor(sql: string): ClickHouseSettings | undefined {
  // Cheap first: a UTF-16 unit is at most 3 bytes of UTF-8.
  if (sql.length * 3 + APPENDED_BYTES <= DEFAULT_MAX_QUERY_SIZE) return undefined;
  const bytes = Buffer.byteLength(sql) + APPENDED_BYTES;
  if (bytes <= DEFAULT_MAX_QUERY_SIZE) return undefined;
  return { max_query_size: String(bytes) };
}
