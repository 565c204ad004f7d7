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
 */
export class ExportHandler {
  constructor(private readonly options: ExportHandlerOptions) {}

  /** `body` is the request as read (decompressed): forwarding exporters pass it on unchanged. */
  async export(mapped: MappedSpans, headers: Record<string, string | undefined>, body?: { bytes: Uint8Array; encoding: 'protobuf' | 'json' }): Promise<ExportOutcome> {
    const { transport, consumer, metrics, logger } = this.options;
    const span = startExportSpan(transport, mapped);
    metrics.spansReceived.inc({ transport }, mapped.rows.length);
    if (mapped.truncatedValues > 0) metrics.truncatedValues.inc({ transport }, mapped.truncatedValues);
    if (mapped.rejected > 0) {
      metrics.spansRejected.inc({ transport }, mapped.rejected);
      logger.debug({ transport, rejected: mapped.rejected, reasons: mapped.rejectReasons }, 'spans refused');
    }
    if (mapped.rows.length > 0) {
      try {
        const request = body && { body: body.bytes, encoding: body.encoding, spanCount: mapped.rows.length + mapped.rejected };
        await consumer.consume(mapped.rows, { transport, headers, ...(request && { request }) });
      } catch (error) {
        return endExportSpan(span, this.notStored(error), error);
      }
    }
    return endExportSpan(span, { stored: true, rejected: mapped.rejected, errorMessage: rejectionMessage(mapped) });
  }

  private notStored(error: unknown): ExportOutcome {
    const { transport, logger } = this.options;
    if (error instanceof RetryableStorageError) {
      // Debug: under overload or an outage this fires per request; the memory limiter and the
      // storage log the state change itself once.
      logger.debug({ transport, reason: error.message }, 'spans not stored; client asked to retry');
      return { stored: false, message: `spans not stored, retry later: ${error.message}`, retryAfterSeconds: error.retryAfterSeconds };
    }
    logger.error({ transport, err: error }, 'traces consumer failed; client asked to retry');
    const reason = error instanceof Error ? error.message : String(error);
    return { stored: false, message: `spans not stored, retry later: ${reason}`, retryAfterSeconds: DEFAULT_RETRY_AFTER_SECONDS };
  }
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
