import type { Type } from 'protobufjs';
import { otlpSchema } from './otlp-schema.js';

/** Response bodies shared by both transports, in either OTLP encoding. */

export type OtlpBodyFormat = 'protobuf' | 'json';

/** google.rpc.Code numbers the receivers answer with. */
export const RpcCode = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** ExportTraceServiceResponse as a protobufjs plain object (partial_success only when needed). */
export interface ExportResponseObject {
  partialSuccess?: { rejectedSpans: number; errorMessage: string };
}

export function exportResponseObject(rejected: number, errorMessage: string): ExportResponseObject {
  return rejected > 0 || errorMessage !== '' ? { partialSuccess: { rejectedSpans: rejected, errorMessage } } : {};
}

export function encodeExportResponse(format: OtlpBodyFormat, rejected: number, errorMessage: string): Buffer {
  const response = exportResponseObject(rejected, errorMessage);
  if (format === 'json') {
    // ProtoJSON: int64 as a decimal string, empty message as {}.
    const partial = response.partialSuccess;
    return Buffer.from(
      JSON.stringify(
        partial === undefined ? {} : { partialSuccess: { rejectedSpans: String(partial.rejectedSpans), errorMessage: partial.errorMessage } },
      ),
    );
  }
  return encodeProtobuf(otlpSchema().exportTraceServiceResponse, response);
}

/** google.rpc.Status, the OTLP/HTTP error body. */
export function encodeRpcStatus(format: OtlpBodyFormat, code: number, message: string): Buffer {
  if (format === 'json') return Buffer.from(JSON.stringify({ code, message }));
  return encodeProtobuf(otlpSchema().rpcStatus, { code, message });
}

export function encodeProtobuf(type: Type, value: object): Buffer {
  const bytes = type.encode(value).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
