import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import { RetryableStorageError } from './errors.js';
import type { MemoryLimiter } from './memory-limiter.js';
import { EMBEDDED_SPAN_MEMORY, estimateRowsBytes, type SpanMemoryProfile } from './span-size.js';
import type { StoredSpanConsumer } from './span-consumer.js';
import type { SpanRow } from './span-row.js';
import type { ConsumeContext, TracesConsumer } from './traces-consumer.js';
import type { SpanForwarder } from '../exporters/span-forwarder.js';

/**
 * Writes rows durably (a GroupCommitWriter): resolves when ClickHouse has them, or with
 * 'buffered' when they are in the durable local buffer instead; the buffer hands them to the
 * stored-span consumers (`deliverStored`) once it has replayed them into ClickHouse.
 */
export interface SpanWriter {
  write(rows: SpanRow[]): Promise<'stored' | 'buffered' | void | undefined>;
}

export interface TracesPipelineOptions {
  /** Refuses data (retryably) while the process is short of memory. */
  limiter?: Pick<MemoryLimiter, 'refuseIngest' | 'retryAfterSeconds' | 'noteRefused'>;
  /**
   * Spans of requests waiting for their insert, beyond which new requests are refused
   * (retryably). Each waiting request holds its decoded spans until ClickHouse answers, so
   * while inserts are slow this is what memory would grow with. Default 200,000.
   */
  maxPendingSpans?: number;
  /** What a span in flight costs in memory: the embedded engine's share counts too. Default EMBEDDED_SPAN_MEMORY. */
  spanMemory?: SpanMemoryProfile;
  /** Forwards each received request downstream: after the insert, or instead of it when there is no writer. */
  forwarder?: Pick<SpanForwarder, 'forwardsReceived' | 'admitReceived' | 'forwardReceived'>;
}

export const DEFAULT_MAX_PENDING_SPANS = 200_000;
/** Inserts finish in well under a second when ClickHouse keeps up. */
const PENDING_RETRY_AFTER_SECONDS = 1;

/**
 * The traces pipeline: receivers -> memory limiter -> storage (group commit) -> forwarding
 * exporters and stored-span consumers (scoring). A request is acknowledged only once its spans
 * are stored; forwarding and scoring start after that and never hold the acknowledgement back.
 * Without storage (`writer` undefined) a request is acknowledged once every exporter that
 * forwards received spans has queued it.
 */
export class TracesPipeline implements TracesConsumer {
  private accepting = true;
  private pendingSpans = 0;
  /** Estimated memory of the pending spans (estimateRowsBytes). */
  private pendingBytes = 0;
  private readonly limiter: TracesPipelineOptions['limiter'];
  private readonly maxPendingSpans: number;
  private readonly spanMemory: SpanMemoryProfile;
  private readonly forwarder: TracesPipelineOptions['forwarder'];

  constructor(
    private readonly writer: SpanWriter | undefined,
    private readonly after: StoredSpanConsumer[],
    private readonly metrics: DaemonMetrics,
    private readonly logger: Logger,
    options: TracesPipelineOptions = {},
  ) {
    this.limiter = options.limiter;
    this.maxPendingSpans = options.maxPendingSpans ?? DEFAULT_MAX_PENDING_SPANS;
    this.spanMemory = options.spanMemory ?? EMBEDDED_SPAN_MEMORY;
    this.forwarder = options.forwarder?.forwardsReceived ? options.forwarder : undefined;
    if (!(this.maxPendingSpans >= 1)) throw new RangeError(`maxPendingSpans must be >= 1, got ${this.maxPendingSpans}`);
  }

  async consume(spans: SpanRow[], context: ConsumeContext): Promise<void> {
    if (!this.accepting) throw new RetryableStorageError('spanscore is shutting down', 1);
    if (spans.length === 0) return;
    const bytes = this.limiter === undefined ? 0 : estimateRowsBytes(spans, this.spanMemory);
    this.admit(spans.length, bytes);
    let buffered = false;
    if (this.writer === undefined) {
      // Without storage the request body is the only thing forwarded: acknowledging without it would drop the spans.
      if (context.request === undefined) throw new Error('a forward-only pipeline needs the request body (ConsumeContext.request)');
      this.forwarder?.admitReceived(context.request);
    } else {
      buffered = (await this.store(spans, bytes)) === 'buffered';
    }
    if (context.request) this.forwarder?.forwardReceived(context.request);
    // Buffered spans are scored once replayed into ClickHouse (deliverStored), like every stored span.
    if (!buffered) this.deliverStored(spans);
  }

  /** Hands stored spans to the consumers after storage (scoring); replayed buffer records come here too. */
  deliverStored(spans: SpanRow[]): void {
    for (const consumer of this.after) {
      try {
        consumer.onStored(spans);
      } catch (error) {
        // Spans are stored and acknowledged whatever happens downstream.
        this.logger.error({ err: error }, 'a stored-span consumer threw');
      }
    }
  }

  private async store(spans: SpanRow[], bytes: number): Promise<'stored' | 'buffered'> {
    this.pendingSpans += spans.length;
    this.pendingBytes += bytes;
    this.metrics.pipelinePendingSpans.set(this.pendingSpans);
    let outcome: Awaited<ReturnType<SpanWriter['write']>>;
    try {
      outcome = await this.writer!.write(spans);
    } finally {
      this.pendingSpans -= spans.length;
      this.pendingBytes -= bytes;
      this.metrics.pipelinePendingSpans.set(this.pendingSpans);
    }
    if (outcome === 'buffered') return 'buffered';
    this.metrics.spansStored.inc(spans.length);
    return 'stored';
  }

  /** Spans accepted and waiting for their insert. */
  get pending(): number {
    return this.pendingSpans;
  }

  /**
   * For a receiver, before it reads and decodes a request: the error to answer with when the
   * request would be refused anyway (shutting down, memory above the soft limit), so that a
   * refusal under overload costs no decoding and leaves no garbage. Counted per request in
   * `spanscore_memory_limiter_refused_requests_total` (its spans are not known yet).
   */
  refusal(): RetryableStorageError | undefined {
    if (!this.accepting) return new RetryableStorageError('spanscore is shutting down', 1);
    const reason = this.limiter?.refuseIngest();
    if (reason === undefined) return undefined;
    this.metrics.memoryLimiterRefusedRequests.inc();
    return new RetryableStorageError(reason, this.limiter!.retryAfterSeconds());
  }

  /** New requests get a retryable error from now on (the exporter will try a replica or retry). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Throws RetryableStorageError when this request must wait: the exporter keeps it and retries. */
  private admit(count: number, bytes: number): void {
    const reason = this.limiter?.refuseIngest(bytes, this.pendingBytes);
    if (reason !== undefined) {
      this.metrics.memoryLimiterRefusedSpans.inc(count);
      this.limiter!.noteRefused(count);
      throw new RetryableStorageError(reason, this.limiter!.retryAfterSeconds());
    }
    // An idle pipeline takes any request, however large: the limit must not refuse one forever.
    if (this.pendingSpans > 0 && this.pendingSpans + count > this.maxPendingSpans) {
      this.metrics.pipelineRefusedSpans.inc(count);
      throw new RetryableStorageError(
        `${this.pendingSpans} spans are already waiting for ClickHouse (at most ${this.maxPendingSpans})`,
        PENDING_RETRY_AFTER_SECONDS,
      );
    }
  }
}
