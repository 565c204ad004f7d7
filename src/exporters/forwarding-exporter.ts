/** What a forwarded request carries: spans the receivers took, or scoring spans spanscore wrote. */
export type ForwardKind = 'received' | 'scoring';

/** One OTLP ExportTraceServiceRequest body to send; an exporter transcodes it when its protocol wants the other encoding. */
export interface ForwardPayload {
  kind: ForwardKind;
  body: Uint8Array;
  encoding: 'protobuf' | 'json';
  spanCount: number;
}

/**
 * An exporter downstream of the pipeline (the Collector's exporter with its sending queue).
 * Offering never waits and never throws: ingestion must not slow down because a downstream
 * is down; a full queue sheds, and the shed spans are counted.
 */
export interface ForwardingExporter {
  /** `otlp` or `otlp/<name>`. */
  readonly name: string;
  readonly forwardsReceived: boolean;
  readonly forwardsScoring: boolean;
  /** Whether a payload of `bytes` would be queued now: a forward-only pipeline refuses (retryably) instead of shedding. */
  hasRoom(bytes: number): boolean;
  /** Queues the payload; when the queue is full the payload is shed (counted) and false returned. */
  offer(payload: ForwardPayload): boolean;
  /** Reads what it needs before the first send (TLS files): a bad file fails the start, not every send. */
  start(): Promise<void>;
  /** Sends what is queued until `deadlineMs` has passed; what is left then is counted as failed (reason `shutdown`). */
  shutdown(deadlineMs: number): Promise<void>;
}
