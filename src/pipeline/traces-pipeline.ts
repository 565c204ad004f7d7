import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import { RetryableStorageError } from './errors.js';
import type { StoredSpanConsumer } from './span-consumer.js';
import type { SpanRow } from './span-row.js';
import type { ConsumeContext, TracesConsumer } from './traces-consumer.js';

/** Writes rows durably; resolves when ClickHouse has them (a GroupCommitWriter). */
export interface SpanWriter {
  write(rows: SpanRow[]): Promise<void>;
}

/**
 * The traces pipeline: receivers -> storage (group commit) -> stored-span consumers
 * (scoring). A request is acknowledged only once its spans are stored; scoring starts
 * after that and never holds the acknowledgement back.
 */
export class TracesPipeline implements TracesConsumer {
  private accepting = true;

  constructor(
    private readonly writer: SpanWriter,
    private readonly after: StoredSpanConsumer[],
    private readonly metrics: DaemonMetrics,
    private readonly logger: Logger,
  ) {}

  async consume(spans: SpanRow[], _context: ConsumeContext): Promise<void> {
    if (!this.accepting) throw new RetryableStorageError('spanscore is shutting down', 1);
    if (spans.length === 0) return;
    await this.writer.write(spans);
    this.metrics.spansStored.inc(spans.length);
    for (const consumer of this.after) {
      try {
        consumer.onStored(spans);
      } catch (error) {
        // Spans are stored and acknowledged whatever happens downstream.
        this.logger.error({ err: error }, 'a stored-span consumer threw');
      }
    }
  }

  /** New requests get a retryable error from now on (the exporter will try a replica or retry). */
  stopAccepting(): void {
    this.accepting = false;
  }
}
