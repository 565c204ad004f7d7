import { ResultSet, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { QueryLimitError } from './user-query-errors.js';

export interface CappedResult {
  columns: string[];
  /** Each row's values, in the order of `columns`. */
  rows: unknown[][];
}

const FORMAT = 'JSONCompactEachRowWithNames';

/**
 * Runs `statement` and reads its rows as they arrive, stopping once more than `maxBytes`
 * of result have come: the request is aborted (ClickHouse cancels the query when its
 * connection goes) and QueryLimitError thrown. ClickHouse's own `max_result_bytes` is not
 * enough: it counts blocks in memory, not the text sent, and lets a first block of any size
 * through, so one row of 700 MB reaches the client, where it cannot even become a string.
 *
 * The bytes are counted before the client splits them into rows: its row reader buffers a
 * line until it ends, and a line can be the whole result. Column names come once, first
 * (JSONCompactEachRowWithNames), rather than in every row, so a long alias cannot multiply
 * the result.
 *
 * @param signal aborts the request (the caller's deadline).
 */
export async function readCappedResult(
  client: ClickHouseClient,
  statement: string,
  settings: ClickHouseSettings | undefined,
  maxBytes: number,
  signal: AbortSignal,
): Promise<CappedResult> {
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  if (signal.aborted) stop();
  signal.addEventListener('abort', stop, { once: true });
  try {
    const result = await client.exec({ query: `${statement}\nFORMAT ${FORMAT}`, clickhouse_settings: settings, abort_signal: abort.signal });
    const capped = new ByteCap(maxBytes);
    // Errors reach the reader through `capped`; this settles when either side stops.
    const piped = pipeline(result.stream, capped).catch(() => undefined);
    const rows = ResultSet.instance({
      stream: capped,
      format: FORMAT,
      query_id: result.query_id,
      response_headers: result.response_headers,
      log_error: () => undefined, // thrown to the caller instead
    }).stream();
    let columns: string[] | undefined;
    const values: unknown[][] = [];
    try {
      for await (const batch of rows) {
        for (const row of batch as { json(): unknown }[]) {
          const parsed = row.json() as unknown[];
          if (columns === undefined) columns = parsed.map(String);
          else values.push(parsed);
        }
      }
    } finally {
      capped.destroy();
      await piped;
    }
    return { columns: columns ?? [], rows: values };
  } catch (error) {
    abort.abort();
    throw error;
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

/** Passes bytes through until more than `max` have passed, then fails the stream. */
class ByteCap extends Transform {
  #seen = 0;

  constructor(private readonly max: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.max) {
      callback(new QueryLimitError(`the result is larger than admin.query.max_result_bytes (${this.max} bytes): select fewer rows or columns`));
      return;
    }
    callback(null, chunk);
  }
}
