import type { SpanRow } from './span-row.js';

/**
 * What a receiver hands decoded spans to (the Collector's `consumer.Traces`).
 * The returned promise resolves only once the spans are durably stored: receivers
 * acknowledge their request on resolve, and answer a retryable error on reject.
 */
export interface TracesConsumer {
  consume(spans: SpanRow[], context: ConsumeContext): Promise<void>;
}

export interface ConsumeContext {
  /** `grpc` | `http` — for metrics and logs. */
  transport: 'grpc' | 'http';
  /** Lower-cased request headers / gRPC metadata, for later issues (projects, auth). */
  headers: Record<string, string | undefined>;
  /** The request as received (decompressed), for exporters that forward it unchanged. */
  request?: ReceivedRequest;
}

/** An OTLP ExportTraceServiceRequest body exactly as a receiver read it. */
export interface ReceivedRequest {
  body: Uint8Array;
  encoding: 'protobuf' | 'json';
  /** Spans in the body, the ones the receiver rejected included. */
  spanCount: number;
}
