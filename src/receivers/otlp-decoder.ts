import { DecodeError } from './decode-error.js';
import { parseOtlpJson } from './otlp-json.js';
import { otlpSchema } from './otlp-schema.js';
import type { OtlpExportTraceRequest } from './otlp-types.js';
import { mapExportRequest, type MapOptions, type MappedSpans } from './span-mapper.js';

/** OTLP request bodies (protobuf or JSON) → storage rows. Both throw `DecodeError`. */

export function decodeProtobuf(body: Uint8Array, options?: MapOptions): MappedSpans {
  let request: OtlpExportTraceRequest;
  try {
    request = otlpSchema().exportTraceServiceRequest.decode(body) as unknown as OtlpExportTraceRequest;
  } catch (error) {
    throw new DecodeError(`request body is not a protobuf ExportTraceServiceRequest: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return mapExportRequest(request, undefined, options);
}

export function decodeJson(text: string, options?: MapOptions): MappedSpans {
  const { request, invalidSpans } = parseOtlpJson(text);
  return mapExportRequest(request, invalidSpans, options);
}
