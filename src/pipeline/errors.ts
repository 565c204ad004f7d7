/**
 * Thrown when spans could not be stored but a retry later may succeed (ClickHouse
 * unreachable, insert failed, shutting down). Receivers map it to HTTP 503 +
 * Retry-After and gRPC UNAVAILABLE so that exporters retry instead of dropping.
 */
export class RetryableStorageError extends Error {
  override readonly name = 'RetryableStorageError';
  constructor(
    message: string,
    /** Seconds the client should wait before retrying. */
    readonly retryAfterSeconds = 5,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
