import protojson from 'protobufjs/ext/protojson.js';
import { DecodeError, explainDecodeFailure } from './decode-error.js';
import { hexToBase64 } from './hex-id.js';
import { quoteInt64Numbers } from './json-int64.js';
import { boundJsonRequest, isObject, member, type JsonDropped } from './otlp-json-bounds.js';
import { otlpSchema } from './otlp-schema.js';
import type { OtlpExportTraceRequest } from './otlp-types.js';
import { spanLocation } from './span-mapper.js';
import { withOtlpRecursionLimit } from './value-nesting.js';

/**
 * OTLP/JSON → request message. OTLP/JSON is ProtoJSON (lowerCamelCase or original field
 * names, 64-bit integers as strings or numbers, enums as numbers or names) with one
 * exception: trace and span ids are hex, not base64. Large 64-bit integers written as
 * numbers are quoted in the text (json-int64.ts), ids are rewritten to base64 in the parsed
 * tree, then protobufjs' ProtoJSON reader does the rest.
 */
export interface ParsedJsonRequest {
  request: OtlpExportTraceRequest;
  /** Spans whose ids were not hex, by `spanLocation`: refused alone, not the request. */
  invalidSpans: Map<string, string> | undefined;
  /** Attributes removed by the receivers' bounds (empty without them). */
  dropped: JsonDropped;
}

/** The receivers' bounds (otlp-json-bounds.ts): nesting capped, attribute lists cut at `maxAttributes` keys. */
export interface JsonBounds {
  maxAttributes: number;
}

const SPAN_ID_FIELDS = [
  ['traceId', 'trace_id'],
  ['spanId', 'span_id'],
  ['parentSpanId', 'parent_span_id'],
] as const;
const LINK_ID_FIELDS = [
  ['traceId', 'trace_id'],
  ['spanId', 'span_id'],
] as const;

/** A `\uD800`..`\uDFFF` escape, or a surrogate already in the text: lone ones may follow. */
const SURROGATE_HINT = /\\u[dD][89a-fA-F]|[\ud800-\udfff]/;
const SURROGATE = /[\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * JSON may escape half of a surrogate pair (`"\ud800"`), which has no UTF-8 form: stored
 * as is, ClickHouse would hold invalid UTF-8. Such halves become U+FFFD, as in protobuf
 * strings. Walked with an explicit stack (a JSON.parse reviver recurses, and overflows on
 * deep nesting), and only when the text hints at a surrogate.
 */
function replaceLoneSurrogates(tree: unknown): void {
  const pending: unknown[] = [tree];
  while (pending.length > 0) {
    const node = pending.pop();
    if (typeof node !== 'object' || node === null) continue;
    const container = node as Record<string, unknown>;
    for (const key of Object.keys(container)) {
      const value = container[key];
      if (typeof value === 'string') {
        if (SURROGATE.test(value)) container[key] = value.replace(LONE_SURROGATE, '\ufffd');
      } else if (typeof value === 'object' && value !== null) {
        pending.push(value);
      }
    }
  }
}

/** Without `bounds` (the exporters' transcoding) the request is read whole, as sent. */
export function parseOtlpJson(text: string, bounds?: JsonBounds): ParsedJsonRequest {
  let tree: unknown;
  try {
    tree = JSON.parse(quoteInt64Numbers(text));
  } catch (error) {
    throw new DecodeError(`request body is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (SURROGATE_HINT.test(text)) replaceLoneSurrogates(tree);
  if (!isObject(tree)) throw new DecodeError('request body must be a JSON object (ExportTraceServiceRequest)');

  const invalidSpans = rewriteHexIds(tree);
  const dropped = bounds === undefined ? {} : boundJsonRequest(tree, bounds.maxAttributes);
  let request: OtlpExportTraceRequest;
  try {
    const read = () => protojson.fromJson(otlpSchema().exportTraceServiceRequest, tree, { ignoreUnknownFields: true });
    // Values nested up to the cap must read wherever they sit (value-nesting.ts), also when the
    // exporters transcode (no bounds) what the receivers took.
    const message = withOtlpRecursionLimit(read);
    request = message as unknown as OtlpExportTraceRequest;
  } catch (error) {
    throw new DecodeError(`request body is not an OTLP/JSON ExportTraceServiceRequest: ${explainDecodeFailure((error as Error).message)}`, {
      cause: error,
    });
  }
  return { request, invalidSpans, dropped };
}

/**
 * Replaces hex ids by base64 in place. Anything that is not shaped like a request is left
 * alone for the ProtoJSON reader to reject with a precise message.
 */
function rewriteHexIds(tree: Record<string, unknown>): Map<string, string> | undefined {
  let invalid: Map<string, string> | undefined;
  const resourceSpansList = member(tree, 'resourceSpans', 'resource_spans');
  if (!Array.isArray(resourceSpansList)) return undefined;
  for (let r = 0; r < resourceSpansList.length; r++) {
    const scopeSpansList = member(resourceSpansList[r], 'scopeSpans', 'scope_spans');
    if (!Array.isArray(scopeSpansList)) continue;
    for (let s = 0; s < scopeSpansList.length; s++) {
      const spans = member(scopeSpansList[s], 'spans');
      if (!Array.isArray(spans)) continue;
      for (let k = 0; k < spans.length; k++) {
        const span: unknown = spans[k];
        if (!isObject(span)) continue;
        let problem = rewriteIds(span, SPAN_ID_FIELDS, '');
        const links = member(span, 'links');
        if (Array.isArray(links)) {
          for (let i = 0; i < links.length; i++) {
            const link: unknown = links[i];
            if (!isObject(link)) continue;
            const linkProblem = rewriteIds(link, LINK_ID_FIELDS, `links[${i}].`);
            problem ??= linkProblem;
          }
        }
        if (problem !== undefined) (invalid ??= new Map()).set(spanLocation(r, s, k), problem);
      }
    }
  }
  return invalid;
}

/** Rewrites the given id fields of one object; returns a reason for the first bad one. */
function rewriteIds(
  target: Record<string, unknown>,
  fields: readonly (readonly [string, string])[],
  prefix: string,
): string | undefined {
  let problem: string | undefined;
  for (const [camel, snake] of fields) {
    // Both spellings are rewritten even once a problem is known: ProtoJSON must not see hex.
    const camelProblem = rewriteId(target, camel, `${prefix}${snake}`);
    const snakeProblem = rewriteId(target, snake, `${prefix}${snake}`);
    problem ??= camelProblem ?? snakeProblem;
  }
  return problem;
}

function rewriteId(target: Record<string, unknown>, key: string, label: string): string | undefined {
  const value = target[key];
  if (typeof value !== 'string') return undefined; // absent, or a type ProtoJSON will reject
  const base64 = hexToBase64(value);
  target[key] = base64 ?? '';
  return base64 === undefined ? `${label} is not a hex string: ${JSON.stringify(value.slice(0, 40))}` : undefined;
}
