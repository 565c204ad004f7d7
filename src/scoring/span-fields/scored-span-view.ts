import type { SpanRow } from '../../pipeline/span-row.js';
import type { ScoredSpanView } from '../scorer-args.js';

/**
 * The span as scorers see it: camelCase names, duration in ms, status in lower case.
 * Attribute maps are copied so a scorer running in-process cannot edit the stored row.
 */
export function toScoredSpanView(span: SpanRow): ScoredSpanView {
  return {
    traceId: span.TraceId,
    spanId: span.SpanId,
    parentSpanId: span.ParentSpanId,
    name: span.SpanName,
    kind: span.SpanKind,
    serviceName: span.ServiceName,
    scopeName: span.ScopeName,
    attributes: { ...span.SpanAttributes },
    resource: { ...span.ResourceAttributes },
    timestamp: span.Timestamp,
    durationMs: durationNsToMs(span.Duration),
    status: normaliseStatus(span.StatusCode),
    statusMessage: span.StatusMessage,
  };
}

/** ns (decimal string) → ms. Exact below 2^53 ns (~104 days); unreadable values give 0. */
export function durationNsToMs(durationNs: string): number {
  const ns = Number(durationNs);
  return Number.isFinite(ns) && ns >= 0 ? ns / 1e6 : 0;
}

/**
 * `Ok` | `Error` | `Unset` → `ok` | `error` | `unset`. Older Collector exporters wrote
 * `STATUS_CODE_OK` and friends, so that prefix is accepted too; anything else is `unset`.
 */
export function normaliseStatus(statusCode: string): 'ok' | 'error' | 'unset' {
  const code = statusCode.toLowerCase().replace(/^status_code_/, '');
  return code === 'ok' || code === 'error' ? code : 'unset';
}
