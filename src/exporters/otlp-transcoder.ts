import { isUtf8 } from 'node:buffer';
import protobuf from 'protobufjs';
import { DecodeError, explainDecodeFailure } from '../receivers/decode-error.js';
import { bytesToHex } from '../receivers/hex-id.js';
import { parseOtlpJson } from '../receivers/otlp-json.js';
import { otlpSchema } from '../receivers/otlp-schema.js';
import type { BytesValue } from '../receivers/otlp-types.js';
import { withOtlpRecursionLimit } from '../receivers/value-nesting.js';

/**
 * OTLP/protobuf ⇄ OTLP/JSON for forwarding a request to a downstream that wants the other
 * encoding. Both directions go through protobufjs' message for the project's schema, so
 * every field the schema knows survives (resource and scope schema urls, flags, dropped
 * counts, entity refs...). Fields unknown to the schema have no JSON name and are dropped.
 *
 * Both throw `DecodeError` (an Error) with the reason when the body is not a request.
 */

/** ProtoJSON spellings from `toObject`: 64-bit integers as decimal strings, bytes base64, NaN/±Infinity as strings. */
const JSON_CONVERSION: protobuf.IConversionOptions = { longs: String, bytes: String, json: true };

/** protobuf ExportTraceServiceRequest → OTLP/JSON text. */
export function protobufToJson(body: Uint8Array): string {
  const type = otlpSchema().exportTraceServiceRequest;
  const message = decodeLeniently(type, body);
  // The generated toObject is ~10x cheaper than protojson's reflective writer (measured on
  // 16-attribute spans), and writes enums as numbers, as OTLP/JSON wants.
  const json = withOtlpRecursionLimit(() => type.toObject(message, JSON_CONVERSION)) as JsonNode;
  adjustForOtlp(message as unknown as MessageNode, json);
  return JSON.stringify(json);
}

/** OTLP/JSON (text, or UTF-8 bytes) → protobuf ExportTraceServiceRequest. */
export function jsonToProtobuf(body: Uint8Array | string): Uint8Array {
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    if (!isUtf8(body)) throw new DecodeError('OTLP/JSON body is not valid UTF-8');
    text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  }
  // The receivers' parser: same leniency (snake_case keys, int64 as numbers, enum names,
  // unknown fields ignored, lone surrogates → U+FFFD), same hex-id handling.
  const { request, invalidSpans } = parseOtlpJson(text);
  if (invalidSpans !== undefined) {
    // The receivers drop such spans alone; a transcoder must not silently lose them.
    const [location, reason] = invalidSpans.entries().next().value!;
    const more = invalidSpans.size > 1 ? ` (and ${invalidSpans.size - 1} more span(s))` : '';
    throw new DecodeError(`OTLP/JSON span ${location} (resource/scope/span index): ${reason}${more}`);
  }
  const type = otlpSchema().exportTraceServiceRequest;
  // The receivers took values nested up to their cap at this limit; forwarding must not fail at a lower one.
  return withOtlpRecursionLimit(() => type.encode(request as unknown as protobuf.Message).finish());
}

function decodeLeniently(type: protobuf.Type, body: Uint8Array): protobuf.Message {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  try {
    const reader = protobuf.Reader.create(bytes);
    // Invalid UTF-8 becomes U+FFFD instead of failing the request, as in the receivers
    // (decodeProtobufReference): they accepted this body, so its forward must not fail on it.
    reader.stringVerify = reader.string;
    return withOtlpRecursionLimit(() => type.decode(reader));
  } catch (error) {
    const looksLikeJson = bytes.length > 0 && (bytes[0] === 0x7b || bytes[0] === 0x20 || bytes[0] === 0x0a);
    const hint = looksLikeJson ? ' (the body looks like JSON, not protobuf)' : '';
    throw new DecodeError(`body is not a protobuf ExportTraceServiceRequest: ${explainDecodeFailure((error as Error).message)}${hint}`, { cause: error });
  }
}

type JsonNode = Record<string, unknown>;
/** The decoded message, walked in step with its `toObject` output (repeated fields map 1:1). */
type MessageNode = Record<string, unknown>;

const SPAN_ID_FIELDS = ['traceId', 'spanId', 'parentSpanId'] as const;
const LINK_ID_FIELDS = ['traceId', 'spanId'] as const;

/**
 * The two places OTLP/JSON departs from ProtoJSON output: trace/span ids are hex, not base64
 * (rewritten from the decoded bytes, not by re-decoding base64); and -0, which JSON.stringify
 * writes as 0, is kept as the string "-0" (ProtoJSON accepts doubles as strings) so the
 * value survives exactly.
 */
function adjustForOtlp(message: MessageNode, json: JsonNode): void {
  const resourceSpansList = json.resourceSpans as JsonNode[] | undefined;
  if (resourceSpansList === undefined) return;
  const messages = message.resourceSpans as MessageNode[];
  for (let r = 0; r < resourceSpansList.length; r++) {
    const resourceSpans = resourceSpansList[r]!;
    keepNegativeZeros((resourceSpans.resource as JsonNode | undefined)?.attributes);
    const scopeSpansList = resourceSpans.scopeSpans as JsonNode[] | undefined;
    if (scopeSpansList === undefined) continue;
    const scopeMessages = messages[r]!.scopeSpans as MessageNode[];
    for (let s = 0; s < scopeSpansList.length; s++) {
      const scopeSpans = scopeSpansList[s]!;
      keepNegativeZeros((scopeSpans.scope as JsonNode | undefined)?.attributes);
      const spans = scopeSpans.spans as JsonNode[] | undefined;
      if (spans === undefined) continue;
      const spanMessages = scopeMessages[s]!.spans as MessageNode[];
      for (let k = 0; k < spans.length; k++) adjustSpan(spanMessages[k]!, spans[k]!);
    }
  }
}

function adjustSpan(message: MessageNode, span: JsonNode): void {
  hexIds(message, span, SPAN_ID_FIELDS);
  keepNegativeZeros(span.attributes);
  const events = span.events as JsonNode[] | undefined;
  if (events !== undefined) for (const event of events) keepNegativeZeros(event.attributes);
  const links = span.links as JsonNode[] | undefined;
  if (links === undefined) return;
  const linkMessages = message.links as MessageNode[];
  for (let i = 0; i < links.length; i++) {
    hexIds(linkMessages[i]!, links[i]!, LINK_ID_FIELDS);
    keepNegativeZeros(links[i]!.attributes);
  }
}

function hexIds(message: MessageNode, json: JsonNode, fields: readonly string[]): void {
  for (const field of fields) {
    if (json[field] !== undefined) json[field] = bytesToHex(message[field] as BytesValue);
  }
}

/** Attribute lists (KeyValue JSON), arrays and kvlists inside them included. */
function keepNegativeZeros(attributes: unknown): void {
  if (attributes === undefined) return;
  for (const keyValue of attributes as JsonNode[]) keepNegativeZero(keyValue.value as JsonNode | undefined);
}

function keepNegativeZero(value: JsonNode | undefined): void {
  if (value === undefined) return;
  const double = value.doubleValue;
  if (double !== undefined) {
    if (double === 0 && 1 / double < 0) value.doubleValue = '-0';
    return;
  }
  const array = value.arrayValue as JsonNode | undefined;
  if (array !== undefined) {
    const values = array.values as JsonNode[] | undefined;
    if (values !== undefined) for (const element of values) keepNegativeZero(element);
    return;
  }
  const kvlist = value.kvlistValue as JsonNode | undefined;
  if (kvlist !== undefined) keepNegativeZeros(kvlist.values);
}
