import type { ServerResponse } from 'node:http';
import { encodeExportResponse, encodeRpcStatus, RpcCode, type OtlpBodyFormat } from './otlp-responses.js';

/** Writing OTLP/HTTP responses: bodies in the request's own encoding. */

export const CONTENT_TYPE: Record<OtlpBodyFormat, string> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/** `Content-Type` → body format (parameters such as charset ignored); undefined otherwise. */
export function parseOtlpContentType(header: string | undefined): OtlpBodyFormat | undefined {
  const mediaType = (header ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType === CONTENT_TYPE.protobuf) return 'protobuf';
  if (mediaType === CONTENT_TYPE.json) return 'json';
  return undefined;
}

/**
 * google.rpc.Code carried in the error body for each HTTP status we send (HTTP/gRPC
 * status mapping of googleapis' code.proto where one exists).
 */
const RPC_CODE_BY_HTTP_STATUS: Readonly<Record<number, number>> = {
  400: RpcCode.INVALID_ARGUMENT,
  401: RpcCode.UNAUTHENTICATED,
  403: RpcCode.PERMISSION_DENIED,
  404: RpcCode.NOT_FOUND,
  405: RpcCode.UNIMPLEMENTED,
  413: RpcCode.RESOURCE_EXHAUSTED,
  415: RpcCode.INVALID_ARGUMENT,
  500: RpcCode.INTERNAL,
  503: RpcCode.UNAVAILABLE,
};

export function writeExportResponse(response: ServerResponse, format: OtlpBodyFormat, rejected: number, errorMessage: string): void {
  writeBody(response, 200, format, encodeExportResponse(format, rejected, errorMessage), {});
}

/** An error answer: `google.rpc.Status { code, message }` in `format`. */
export function writeErrorStatus(
  response: ServerResponse,
  httpStatus: number,
  format: OtlpBodyFormat,
  message: string,
  headers: Record<string, string> = {},
): void {
  const code = RPC_CODE_BY_HTTP_STATUS[httpStatus] ?? RpcCode.INTERNAL;
  writeBody(response, httpStatus, format, encodeRpcStatus(format, code, message), headers);
}

function writeBody(response: ServerResponse, httpStatus: number, format: OtlpBodyFormat, body: Buffer, headers: Record<string, string>) {
  response.writeHead(httpStatus, {
    ...headers,
    'Content-Type': CONTENT_TYPE[format],
    'Content-Length': String(body.length),
  });
  response.end(body);
}
