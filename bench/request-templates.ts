import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { PACKAGE_ROOT } from '../test/helpers/package-root.js';

/**
 * Pre-encoded requests whose trace and span ids are rewritten in place before each send.
 *
 * Replaying a few bodies would store the same ids again and again: the rules would then score
 * the same traces over and over and a score row could not be told apart from the previous
 * send's. Re-encoding every request would cost the load generator as much CPU as decoding
 * costs the daemon, on the same two cores. Overwriting the 24 id bytes of each span in a
 * copy of the body keeps every span new for the price of a memcpy.
 */
export interface RequestTemplate {
  body: Buffer;
  /** Byte offset of each span's 16-byte trace id in `body`, in span order. */
  traceIdOffsets: Int32Array;
  /** Byte offset of each span's 8-byte span id. */
  spanIdOffsets: Int32Array;
}

/** A request ready to send, and for tracked ones the (trace id, span id) of its spans in hex. */
export interface StampedRequest {
  body: Buffer;
  ids?: Array<[string, string]>;
}

export function exportRequestType(): protobuf.Type {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(PACKAGE_ROOT, 'proto', target));
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  return root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
}

interface DecodedIds {
  resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ traceId: Uint8Array; spanId: Uint8Array }> }> }>;
}

/** Finds where each id sits: fields are encoded in span order, so each search starts after the last hit. */
export function toTemplates(bodies: Buffer[]): RequestTemplate[] {
  const type = exportRequestType();
  return bodies.map((body) => {
    const request = type.decode(body) as unknown as DecodedIds;
    const spans = request.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    const traceIdOffsets = new Int32Array(spans.length);
    const spanIdOffsets = new Int32Array(spans.length);
    let from = 0;
    spans.forEach((span, i) => {
      traceIdOffsets[i] = body.indexOf(Buffer.from(span.traceId), from);
      spanIdOffsets[i] = body.indexOf(Buffer.from(span.spanId), traceIdOffsets[i]! + 16);
      if (traceIdOffsets[i]! < 0 || spanIdOffsets[i]! < 0) throw new Error(`span ${i}: id bytes not found in the encoded request`);
      from = spanIdOffsets[i]! + 8;
    });
    return { body, traceIdOffsets, spanIdOffsets };
  });
}

/**
 * A copy of the template with random new ids. The first `trackedSpans` spans' trace ids start
 * with the 4 `marker` bytes, so their score rows can be found with one prefix condition; every
 * other trace id has its top bit cleared, so it can never carry the marker (whose top bit is
 * set). Sampling reads only the low 56 bits of a trace id, which stay random either way.
 */
export function stamp(template: RequestTemplate, trackedSpans: number, marker: Buffer): StampedRequest {
  const { traceIdOffsets, spanIdOffsets } = template;
  const body = Buffer.allocUnsafe(template.body.length);
  template.body.copy(body);
  const spans = traceIdOffsets.length;
  const random = randomFillSync(Buffer.allocUnsafe(spans * 24));
  const ids: Array<[string, string]> | undefined = trackedSpans > 0 ? [] : undefined;
  for (let i = 0; i < spans; i++) {
    const t = traceIdOffsets[i]!;
    const s = spanIdOffsets[i]!;
    random.copy(body, t, i * 24, i * 24 + 16);
    random.copy(body, s, i * 24 + 16, i * 24 + 24);
    if (i < trackedSpans) {
      marker.copy(body, t);
      ids!.push([body.toString('hex', t, t + 16), body.toString('hex', s, s + 8)]);
    } else {
      body[t] = body[t]! & 0x7f;
    }
  }
  return { body, ids };
}
