import { SpanKind, type Span } from '@opentelemetry/api';
import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import { RetryableStorageError } from '../pipeline/errors.js';
import type { TracesConsumer } from '../pipeline/traces-consumer.js';
import { selfTracer, setSpanError } from '../telemetry/self-tracer.js';
import type { MappedSpans } from './span-mapper.js';

/** How an export request ended, for the transport to translate into its own status. */
export type ExportOutcome =
  | { readonly stored: true; readonly rejected: number; readonly errorMessage: string }
  | { readonly stored: false; readonly message: string; readonly retryAfterSeconds: number };

export interface ExportHandlerOptions {
  transport: 'grpc' | 'http';
  consumer: TracesConsumer;
  metrics: DaemonMetrics;
  logger: Logger;
}

/** Used when the consumer failed without saying when to come back. */
const DEFAULT_RETRY_AFTER_SECONDS = 5;

/**
 * The transport-independent half of an export: hands decoded spans to the consumer and
 * decides between success (possibly partial) and "not stored, retry". Any consumer failure
 * is a retry: acknowledging spans that were not stored would lose them silently.
 *
 * Spans are counted once their fate is known, as the Collector's otelcol_receiver_accepted /
 * refused_spans: accepted when acknowledged, refused when left out of partial_success or
 * when their request is refused (a retried request counts again, as a new request).
 */
export class ExportHandler {
  constructor(private readonly options: ExportHandlerOptions) {}

  /** `body` is the request as read (decompressed): forwarding exporters pass it on unchanged. */
  async export(mapped: MappedSpans, headers: Record<string, string | undefined>, body?: { bytes: Uint8Array; encoding: 'protobuf' | 'json' }): Promise<ExportOutcome> {
    const { transport, consumer, metrics, logger } = this.options;
    const span = startExportSpan(transport, mapped);
    if (mapped.rows.length > 0) {
      try {
        const request = body && { body: body.bytes, encoding: body.encoding, spanCount: mapped.rows.length + mapped.rejected };
        await consumer.consume(mapped.rows, { transport, headers, ...(request && { request }) });
      } catch (error) {
        this.countRefused(mapped);
        return endExportSpan(span, this.notStored(error), error);
      }
    }
    metrics.spansReceived.inc({ transport }, mapped.rows.length);
    if (mapped.rejected > 0) {
      metrics.spansRejected.inc({ transport }, mapped.rejected);
      logger.debug({ transport, rejected: mapped.rejected, reasons: mapped.rejectReasons }, 'spans refused');
    }
    if (mapped.truncatedValues > 0) metrics.truncatedValues.inc({ transport }, mapped.truncatedValues);
    if (mapped.droppedAttributes > 0) metrics.droppedAttributes.inc({ transport }, mapped.droppedAttributes);
    return endExportSpan(span, { stored: true, rejected: mapped.rejected, errorMessage: rejectionMessage(mapped) });
  }

  /** Every span of a decoded request that is refused as a whole (not stored, not authorized). */
  countRefused(mapped: MappedSpans): void {
    const spans = mapped.rows.length + mapped.rejected;
    if (spans > 0) this.options.metrics.spansRejected.inc({ transport: this.options.transport }, spans);
  }

  /**
   * The full error goes to the log; the client gets `clientRetryMessage`. Debug for the
   * retryable ones: under overload or an outage this fires per request, and the memory
   * limiter and the storage log the state change itself once.
   */
  private notStored(error: unknown): ExportOutcome {
    const { transport, logger } = this.options;
    const retryAfterSeconds = error instanceof RetryableStorageError ? error.retryAfterSeconds : DEFAULT_RETRY_AFTER_SECONDS;
    if (error instanceof RetryableStorageError) logger.debug({ transport, err: error }, 'spans not stored; client asked to retry');
    else logger.error({ transport, err: error }, 'traces consumer failed; client asked to retry');
    return { stored: false, message: clientRetryMessage(error, retryAfterSeconds), retryAfterSeconds };
  }
}

/**
 * What an ingest client is told when its spans were not stored. An error that wraps another
 * (`cause`) carries that one's text: a driver's or the system's, with internal addresses,
 * database and table names ("ClickHouse insert of 20 rows into spanscore.otel_traces failed:
 * connect ECONNREFUSED 10.0.0.5:8123"), so the client gets a generic message. spanscore's own
 * refusals (memory limiter, pending spans, shutting down) wrap nothing, name nothing internal
 * and tell the client why to slow down: they are passed on. Anything else is a bug, never
 * shown either.
 */
export function clientRetryMessage(error: unknown, retryAfterSeconds: number): string {
  const reason = error instanceof RetryableStorageError && error.cause === undefined ? error.message : 'storage unavailable';
  return `spans not stored: ${reason}; retry in ${retryAfterSeconds} s`;
}

/** partial_success.error_message: every kept reason, and how many more were not kept. */
export function rejectionMessage(mapped: MappedSpans): string {
  if (mapped.rejected === 0) return '';
  const more = mapped.rejected - mapped.rejectReasons.length;
  const reasons = mapped.rejectReasons.join('; ');
  return `${mapped.rejected} span(s) rejected: ${reasons}${more > 0 ? `; and ${more} more` : ''}`;
}

/** Self-telemetry: one SERVER span per export request (after decoding: the consumer's part). */
function startExportSpan(transport: ExportHandlerOptions['transport'], mapped: MappedSpans): Span {
  const span = selfTracer.startSpan('otlp.export', { kind: SpanKind.SERVER });
  if (span.isRecording()) {
    span.setAttribute('spanscore.transport', transport);
    span.setAttribute('spanscore.spans.accepted', mapped.rows.length);
    span.setAttribute('spanscore.spans.rejected', mapped.rejected);
  }
  return span;
}

function endExportSpan(span: Span, outcome: ExportOutcome, error?: unknown): ExportOutcome {
  if (span.isRecording()) {
    span.setAttribute('spanscore.export.outcome', outcome.stored ? 'stored' : 'retry');
    if (!outcome.stored) {
      span.setAttribute('spanscore.export.retry_after_seconds', outcome.retryAfterSeconds);
      setSpanError(span, error ?? outcome.message);
    }
  }
  span.end();
  return outcome;
}
