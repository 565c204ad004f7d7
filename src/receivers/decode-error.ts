/**
 * The request body is not a decodable `ExportTraceServiceRequest` (bad protobuf, bad JSON,
 * wrong field types). Receivers answer it with HTTP 400 / gRPC INVALID_ARGUMENT: retrying
 * the same bytes cannot succeed.
 */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
