/**
 * What one attempt to send an export request came to, as the OTLP specification sorts it.
 * Senders never throw: everything, network errors included, ends up as one of these, so the
 * retry logic is written once for both transports.
 */
export type SendOutcome =
  | {
      kind: 'success';
      /** partial_success.rejected_spans: the downstream accepted the request but dropped these. */
      rejectedSpans: number;
      /** partial_success.error_message ('' when none). */
      rejectionMessage: string;
    }
  | {
      kind: 'retryable';
      message: string;
      /** The delay the downstream asked for (Retry-After, google.rpc.RetryInfo), when it did. */
      retryAfterMs?: number;
    }
  | { kind: 'permanent'; message: string };

/** The `reason` label of spanscore_exporter_send_failed_spans_total. */
export type FailureReason =
  /** Refused by the downstream with a non-retryable status (or the request could not be built). */
  | 'permanent'
  /** Retryable failures until max_elapsed_time ran out, or retry_on_failure is disabled. */
  | 'retries_exhausted'
  /** Acknowledged with partial_success: the downstream dropped them. */
  | 'rejected'
  /** Still queued (or retrying) when the shutdown deadline passed, or offered after shutdown began. */
  | 'shutdown';

export function success(rejectedSpans = 0, rejectionMessage = ''): SendOutcome {
  return { kind: 'success', rejectedSpans, rejectionMessage };
}

export function retryable(message: string, retryAfterMs?: number): SendOutcome {
  return retryAfterMs === undefined ? { kind: 'retryable', message } : { kind: 'retryable', message, retryAfterMs };
}

export function permanent(message: string): SendOutcome {
  return { kind: 'permanent', message };
}

/** A sender for one downstream; `send` resolves (never rejects), early when `signal` aborts. */
export interface OtlpSender {
  /** Loads TLS material etc.; rejects with a readable error when it cannot. Idempotent. */
  ready(): Promise<void>;
  send(body: Uint8Array, signal: AbortSignal): Promise<SendOutcome>;
  /** Releases connections (keep-alive sockets, the gRPC channel). */
  close(): void;
}
