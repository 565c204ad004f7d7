import protobuf from 'protobufjs';
import { otlpSchema } from '../receivers/otlp-schema.js';

/**
 * Reading what a downstream answered: ExportTraceServiceResponse.partial_success on success,
 * google.rpc.Status on failure, and the delay it asks for before a retry. Downstreams are
 * not all well behaved: whatever does not decode is treated as absent, never as an error.
 */

export type BodyEncoding = 'protobuf' | 'json';

export interface PartialSuccess {
  rejectedSpans: number;
  errorMessage: string;
}

/** partial_success of a 2xx / OK answer; undefined when absent, empty or undecodable. */
export function parsePartialSuccess(body: Uint8Array, encoding: BodyEncoding): PartialSuccess | undefined {
  if (body.byteLength === 0) return undefined;
  try {
    if (encoding === 'json') {
      const parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as Record<string, unknown>;
      const partial = (parsed.partialSuccess ?? parsed.partial_success) as Record<string, unknown> | undefined;
      if (partial === undefined || partial === null || typeof partial !== 'object') return undefined;
      return normalise(partial.rejectedSpans ?? partial.rejected_spans, partial.errorMessage ?? partial.error_message);
    }
    const decoded = otlpSchema().exportTraceServiceResponse.decode(body) as unknown as { partialSuccess?: { rejectedSpans?: unknown; errorMessage?: unknown } };
    if (decoded.partialSuccess === undefined || decoded.partialSuccess === null) return undefined;
    return normalise(decoded.partialSuccess.rejectedSpans, decoded.partialSuccess.errorMessage);
  } catch {
    return undefined;
  }
}

function normalise(rejected: unknown, message: unknown): PartialSuccess | undefined {
  // int64: a protobufjs Long, a number, or (ProtoJSON) a decimal string.
  const count = Number(typeof rejected === 'object' && rejected !== null ? String(rejected) : (rejected ?? 0));
  const rejectedSpans = Number.isFinite(count) && count > 0 ? Math.floor(count) : 0;
  const errorMessage = typeof message === 'string' ? message : '';
  return rejectedSpans === 0 && errorMessage === '' ? undefined : { rejectedSpans, errorMessage };
}

/** google.rpc.Status.message of an OTLP/HTTP error body, when it is one. */
export function rpcStatusMessage(body: Uint8Array, encoding: BodyEncoding): string | undefined {
  if (body.byteLength === 0) return undefined;
  try {
    if (encoding === 'json') {
      const parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as { message?: unknown };
      return typeof parsed.message === 'string' && parsed.message !== '' ? parsed.message : undefined;
    }
    const status = otlpSchema().rpcStatus.decode(body) as unknown as { message?: string };
    return status.message ? status.message : undefined;
  } catch {
    return undefined;
  }
}

/** What an error body says, for logs: the Status message, or the start of the body as text. */
export function describeErrorBody(body: Uint8Array, encoding: BodyEncoding): string {
  const message = rpcStatusMessage(body, encoding);
  if (message !== undefined) return message;
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8').trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or garbled. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const RETRY_INFO_TYPE = 'google.rpc.RetryInfo';

/**
 * protobufjs supplies google.protobuf.Any from its bundled definitions, which keep the
 * snake_case field name whatever the schema's case option; both spellings are read.
 */
interface AnyMessage {
  type_url?: string;
  typeUrl?: string;
  value?: Uint8Array;
}

/**
 * google.rpc.RetryInfo.retry_delay from `grpc-status-details-bin` (a google.rpc.Status whose
 * details are Any). RetryInfo { Duration retry_delay = 1 } and Duration { int64 seconds = 1;
 * int32 nanos = 2 } are read by hand: two fields do not justify shipping error_details.proto.
 */
export function retryInfoDelayMs(statusDetails: Uint8Array): number | undefined {
  try {
    const status = otlpSchema().rpcStatus.decode(statusDetails) as unknown as { details?: AnyMessage[] };
    for (const any of status.details ?? []) {
      const typeUrl = any.type_url ?? any.typeUrl;
      if (typeUrl === undefined || any.value === undefined) continue;
      if (typeUrl.slice(typeUrl.lastIndexOf('/') + 1) !== RETRY_INFO_TYPE) continue;
      return readRetryDelay(any.value);
    }
  } catch {
    // Undecodable details: as if there were none.
  }
  return undefined;
}

function readRetryDelay(retryInfo: Uint8Array): number | undefined {
  const reader = protobuf.Reader.create(retryInfo);
  let delay: number | undefined;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) {
      delay = readDuration(reader.bytes());
    } else {
      reader.skipType(tag & 7);
    }
  }
  return delay;
}

function readDuration(duration: Uint8Array): number {
  const reader = protobuf.Reader.create(duration);
  let seconds = 0;
  let nanos = 0;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 0) seconds = Number(reader.int64().toString());
    else if (tag >>> 3 === 2 && (tag & 7) === 0) nanos = reader.int32();
    else reader.skipType(tag & 7);
  }
  return Math.max(0, seconds * 1000 + Math.round(nanos / 1e6));
}

/** RetryInfo inside a google.rpc.Status, as a downstream would send it (the test sink uses it). */
export function encodeRetryInfoStatus(code: number, message: string, delayMs: number): Buffer {
  const duration = protobuf.Writer.create();
  duration.uint32((1 << 3) | 0).int64(Math.floor(delayMs / 1000));
  duration.uint32((2 << 3) | 0).int32((delayMs % 1000) * 1e6);
  const retryInfo = protobuf.Writer.create().uint32((1 << 3) | 2).bytes(duration.finish()).finish();
  const status = otlpSchema().rpcStatus.encode({ code, message, details: [{ type_url: `type.googleapis.com/${RETRY_INFO_TYPE}`, value: retryInfo }] }).finish();
  return Buffer.from(status.buffer, status.byteOffset, status.byteLength);
}
