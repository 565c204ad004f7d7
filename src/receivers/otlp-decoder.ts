import { isUtf8 } from 'node:buffer';
import protobuf from 'protobufjs';
import { DecodeError, explainDecodeFailure } from './decode-error.js';
import { parseOtlpJson } from './otlp-json.js';
import type { OtlpExportTraceRequest } from './otlp-types.js';
import { mapExportRequest, type MapOptions, type MappedSpans } from './span-mapper.js';
import { decodeProtobufFast } from './span-row-reader.js';
import { cappedSchema, withOtlpRecursionLimit } from './value-nesting.js';

/**
 * OTLP request bodies (protobuf or JSON) → storage rows. Both throw `DecodeError` (HTTP 400 /
 * gRPC INVALID_ARGUMENT) for anything that is not a request, and nothing else: truncated
 * bodies, lying length prefixes, wrong wire types, unknown groups nested past the recursion
 * limit all end there. Attribute values nested past the depth cap do not (value-nesting.ts).
 */

/**
 * The receivers' protobuf decoder: a single pass over the bytes straight into rows (see
 * span-row-reader.ts), 3x faster than protobufjs' object graph plus mapping, and proved
 * identical to `decodeProtobufReference` (results and error texts) by a differential test.
 */
export function decodeProtobuf(body: Uint8Array, options?: MapOptions): MappedSpans {
  return decodeProtobufFast(body, options);
}

/**
 * The reference the fast decoder is checked against: protobufjs' decode (with the depth-capped
 * types of value-nesting.ts), then `mapExportRequest`, which also serves OTLP/JSON.
 *
 * Strings that are not valid UTF-8 are decoded with U+FFFD for each bad sequence (Node's
 * decoder, WHATWG replacement). proto3 strings default to `utf8_validation = VERIFY`, with
 * which protobufjs refuses the whole request over one bad byte; the Collector (gogo-generated
 * pdata) does not check and stores such spans, so SDKs that cut strings mid-character keep
 * their spans here too, and ClickHouse only ever receives valid UTF-8.
 */
export function decodeProtobufReference(body: Uint8Array, options?: MapOptions): MappedSpans {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let request: OtlpExportTraceRequest;
  try {
    const reader = protobuf.Reader.create(bytes);
    // Generated decoders call stringVerify for VERIFY fields, on the one reader passed down to
    // every nested message: this request's reader reads them leniently, nothing else changes.
    reader.stringVerify = reader.string;
    request = withOtlpRecursionLimit(() => cappedSchema().exportTraceServiceRequest.decode(reader)) as unknown as OtlpExportTraceRequest;
  } catch (error) {
    const reason = (error as Error).message;
    throw new DecodeError(`request body is not a protobuf ExportTraceServiceRequest: ${explainDecodeFailure(reason)}`, { cause: error });
  }
  return mapExportRequest(request, {}, options);
}

/** A body as received (bytes) must be UTF-8, as JSON (RFC 8259) requires: otherwise 400. */
export function decodeJson(body: Uint8Array | string, options?: MapOptions): MappedSpans {
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    if (!isUtf8(body)) throw new DecodeError('request body is not valid UTF-8, as OTLP/JSON must be');
    text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  }
  const { request, invalidSpans, dropped } = parseOtlpJson(text, { maxAttributes: options?.maxAttributesPerSpan ?? Infinity });
  return mapExportRequest(request, { rejectedSpans: invalidSpans, droppedBySpan: dropped.bySpan, droppedByResource: dropped.byResource }, options);
}
