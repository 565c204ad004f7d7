import type { SpanRow } from './span-row.js';

/**
 * A stage that takes spans after they are stored (the scoring processor is one). It must
 * neither throw nor block: ingestion never waits on what comes after storage.
 */
export interface StoredSpanConsumer {
  onStored(spans: SpanRow[]): void;
}
