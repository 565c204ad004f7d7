import type { Logger } from '../admin/logger.js';
import { RetryableStorageError } from '../pipeline/errors.js';
import type { SpanRow } from '../pipeline/span-row.js';
import type { ReceivedRequest } from '../pipeline/traces-consumer.js';
import type { ForwardingExporter } from './forwarding-exporter.js';
import { encodeSpanRows } from './span-rows-encoder.js';

/** Forward-only pipelines refuse while a queue is full; its consumers send within seconds when the downstream is up. */
const QUEUE_FULL_RETRY_AFTER_SECONDS = 5;

/**
 * The fan-out to the forwarding exporters (the Collector's fanout consumer): received requests
 * to those that forward `received`, scoring spans to those that forward `scoring`.
 */
export class SpanForwarder {
  private readonly received: ForwardingExporter[];
  private readonly scoring: ForwardingExporter[];
  /**
   * Scoring spans already forwarded: the score recorder retries a failed ClickHouse insert with
   * the same rows, which must not reach the downstream twice.
   */
  private readonly forwardedScoringSpans = new WeakSet<SpanRow>();

  constructor(
    readonly exporters: readonly ForwardingExporter[],
    private readonly logger: Logger,
  ) {
    this.received = exporters.filter((e) => e.forwardsReceived);
    this.scoring = exporters.filter((e) => e.forwardsScoring);
  }

  get forwardsReceived(): boolean {
    return this.received.length > 0;
  }

  /**
   * For a pipeline without storage, before acknowledging: the exporters' queues are all the
   * durability there is, so a request that one of them cannot take is refused (retryably) and
   * stays with the client, rather than acknowledged and shed. Checked for all before any
   * takes it, so a refused request is in none of them.
   */
  admitReceived(request: ReceivedRequest): void {
    for (const exporter of this.received) {
      if (!exporter.hasRoom(request.body.byteLength)) {
        throw new RetryableStorageError(`the sending queue of exporter ${exporter.name} is full (downstream slow or down)`, QUEUE_FULL_RETRY_AFTER_SECONDS);
      }
    }
  }

  /** Never waits: an exporter whose queue is full sheds and counts it. */
  forwardReceived(request: ReceivedRequest): void {
    for (const exporter of this.received) {
      exporter.offer({ kind: 'received', body: request.body, encoding: request.encoding, spanCount: request.spanCount });
    }
  }

  forwardScoring(rows: readonly SpanRow[]): void {
    if (this.scoring.length === 0) return;
    const fresh = rows.filter((row) => !this.forwardedScoringSpans.has(row));
    if (fresh.length === 0) return;
    let body: Uint8Array;
    try {
      body = encodeSpanRows(fresh);
    } catch (error) {
      // A row spanscore built itself that does not encode is a bug; scoring goes on.
      this.logger.error({ err: error, spans: fresh.length }, 'scoring spans could not be encoded for forwarding');
      return;
    }
    for (const row of fresh) this.forwardedScoringSpans.add(row);
    for (const exporter of this.scoring) exporter.offer({ kind: 'scoring', body, encoding: 'protobuf', spanCount: fresh.length });
  }

  async start(): Promise<void> {
    await Promise.all(this.exporters.map((e) => e.start()));
  }

  async shutdown(deadlineMs: number): Promise<void> {
    await Promise.all(this.exporters.map((e) => e.shutdown(deadlineMs)));
  }
}
