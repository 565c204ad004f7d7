import type { SpanRow } from '../pipeline/span-row.js';
import type { ScoreRow } from './score-row.js';
import type { TraceStorage } from './trace-storage.js';
import type { UserQueryResult } from './user-query.js';

/** What a forward-only spanscore answers when asked for something only ClickHouse has. */
export class StorageDisabledError extends Error {
  override readonly name = 'StorageDisabledError';
  constructor(what = 'this') {
    super(`${what} needs ClickHouse, and this spanscore runs forward-only (no \`storage.clickhouse\` in its config)`);
  }
}

/**
 * The storage of a forward-only pipeline: writes go nowhere (the exporters carry the spans and
 * the scoring spans; `checkPipeline` refused the configs where that would drop anything), reads fail.
 */
export class NoStorage implements TraceStorage {
  async migrate(): Promise<void> {}
  async insertSpans(_rows: SpanRow[]): Promise<void> {}
  async insertScores(_rows: ScoreRow[]): Promise<void> {}
  async ping(): Promise<boolean> {
    return true;
  }
  async query<T>(): Promise<T[]> {
    throw new StorageDisabledError('reading stored spans or scores');
  }
  async userQuery(): Promise<UserQueryResult> {
    throw new StorageDisabledError('reading stored spans or scores');
  }
  async close(): Promise<void> {}
}
