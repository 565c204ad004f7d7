import type { SpanRow } from '../../pipeline/span-row.js';
import type { FieldConventions } from '../field-conventions.js';
import type { TraceTranscriptSpan } from '../scorer-args.js';
import { durationNsToMs, normaliseStatus, readConventionField } from '../span-fields.js';

/**
 * Every span of a trace as trace-rule scorers see it, in the order given (SpanReader returns
 * start order). `input` and `output` are read exactly as a scored span's are, so a scorer or
 * judge finds a child LLM call's prompt where it would find it when scoring that span alone.
 * Attribute maps are copied: the objects cross to worker threads and must not alias stored rows.
 */
export function buildTraceTranscript(spans: readonly SpanRow[], conventions: FieldConventions): TraceTranscriptSpan[] {
  return spans.map((span) => ({
    name: span.SpanName,
    spanId: span.SpanId,
    parentSpanId: span.ParentSpanId,
    kind: span.SpanKind,
    status: normaliseStatus(span.StatusCode),
    statusMessage: span.StatusMessage,
    timestamp: span.Timestamp,
    durationMs: durationNsToMs(span.Duration),
    input: readConventionField(span.SpanAttributes, conventions.input),
    output: readConventionField(span.SpanAttributes, conventions.output),
    attributes: { ...span.SpanAttributes },
  }));
}
