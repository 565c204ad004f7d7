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

/** protobufjs' terse reasons (binary and ProtoJSON alike), said in the client's terms. */
export function explainDecodeFailure(reason: string): string {
  if (reason.startsWith('index out of range')) return `${reason} (the body ends inside a field: truncated, or a length prefix runs past its end)`;
  if (reason === 'max depth exceeded') return `${reason} (messages or groups nested past the recursion limit)`;
  if (reason === 'invalid length encoding') return `${reason} (a length prefix is negative or beyond 2 GiB)`;
  return reason;
}
