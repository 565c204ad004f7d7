import type { SpanEventRow, SpanLinkRow } from '../pipeline/span-row.js';
import type { AttributeList } from './attribute-limits.js';
import type { AttributeReader } from './attribute-reader.js';
import { uint64BitsToDecimal } from './int64-format.js';
import type { WireReader } from './otlp-protobuf-reader.js';

/**
 * The messages inside a `Span` (events, links, status) for `span-row-reader.ts`, read off
 * the wire into the rows `mapEvents` / `mapLinks` make. What the span's validity check needs
 * of the last one read is left in fields, so that no object is made for it.
 *
 * Nesting depth (protobufjs' recursion limit counts it): 4, their attributes 5.
 */

export const TRACE_ID_BYTES = 16;
export const SPAN_ID_BYTES = 8;

export class SpanPartsReader {
  /** High word of the last event's time: from 0x80000000 on, past what ClickHouse stores. */
  eventTimeHigh = 0;
  /** Id lengths of the last link. */
  linkTraceIdLength = 0;
  linkSpanIdLength = 0;
  // Status occurrences merge (the last message / code read wins): reset per span.
  statusMessageStart = 0;
  statusMessageEnd = 0;
  statusCode = 0;
  /** Attributes dropped from the events and links read since `resetSpan` (see `AttributeList`). */
  droppedAttributes = 0;

  constructor(
    private readonly r: WireReader,
    private readonly attributes: AttributeReader,
    /** One event's or link's list at a time: they never interleave. */
    private readonly list: AttributeList,
  ) {}

  resetSpan(): void {
    this.statusMessageStart = this.statusMessageEnd = this.statusCode = 0;
    this.droppedAttributes = 0;
  }

  readEvent(size: number): SpanEventRow {
    const r = this.r;
    const outer = r.enter(size, 4);
    const end = r.len;
    let timeLow = 0;
    let timeHigh = 0;
    let nameStart = 0;
    let nameEnd = 0;
    const attributes: Record<string, string> = {};
    this.list.reset(attributes);
    while (r.pos < end) {
      const tag = r.tag();
      switch (tag) {
        case 0x09:
          r.fixed64();
          timeLow = r.lo;
          timeHigh = r.hi;
          continue;
        case 0x12:
          nameStart = r.delimited();
          nameEnd = r.pos;
          continue;
        case 0x1a:
          this.attributes.readKeyValue(r.size(), 5, this.list);
          continue;
        case 0x20:
          r.uint32(); // dropped_attributes_count
          continue;
      }
      r.skipField(tag & 7, 4, tag >>> 3);
    }
    r.len = outer;
    this.droppedAttributes += this.list.dropped;
    this.eventTimeHigh = timeHigh;
    return { Timestamp: uint64BitsToDecimal(timeHigh, timeLow), Name: r.utf8(nameStart, nameEnd), Attributes: attributes };
  }

  readLink(size: number): SpanLinkRow {
    const r = this.r;
    const outer = r.enter(size, 4);
    const end = r.len;
    let traceIdStart = 0;
    let traceIdEnd = 0;
    let spanIdStart = 0;
    let spanIdEnd = 0;
    let traceStateStart = 0;
    let traceStateEnd = 0;
    const attributes: Record<string, string> = {};
    this.list.reset(attributes);
    while (r.pos < end) {
      const tag = r.tag();
      switch (tag) {
        case 0x0a:
          traceIdStart = r.delimited();
          traceIdEnd = r.pos;
          continue;
        case 0x12:
          spanIdStart = r.delimited();
          spanIdEnd = r.pos;
          continue;
        case 0x1a:
          traceStateStart = r.delimited();
          traceStateEnd = r.pos;
          continue;
        case 0x22:
          this.attributes.readKeyValue(r.size(), 5, this.list);
          continue;
        case 0x28:
          r.uint32(); // dropped_attributes_count
          continue;
      }
      r.skipField(tag & 7, 4, tag >>> 3); // flags (fixed32) too: read or skipped, same checks
    }
    r.len = outer;
    this.droppedAttributes += this.list.dropped;
    this.linkTraceIdLength = traceIdEnd - traceIdStart;
    this.linkSpanIdLength = spanIdEnd - spanIdStart;
    return {
      TraceId: idToHexOrEmpty(r, traceIdStart, traceIdEnd),
      SpanId: idToHexOrEmpty(r, spanIdStart, spanIdEnd),
      TraceState: r.utf8(traceStateStart, traceStateEnd),
      Attributes: attributes,
    };
  }

  /** span-mapper.ts' check of link `index`, the last one read. */
  invalidLinkReason(index: number): string | undefined {
    if (this.linkTraceIdLength !== 0 && this.linkTraceIdLength !== TRACE_ID_BYTES) {
      return `links[${index}].trace_id must be ${TRACE_ID_BYTES} bytes, got ${this.linkTraceIdLength}`;
    }
    if (this.linkSpanIdLength !== 0 && this.linkSpanIdLength !== SPAN_ID_BYTES) {
      return `links[${index}].span_id must be ${SPAN_ID_BYTES} bytes, got ${this.linkSpanIdLength}`;
    }
    return undefined;
  }

  readStatus(size: number): void {
    const r = this.r;
    const outer = r.enter(size, 4);
    const end = r.len;
    while (r.pos < end) {
      const tag = r.tag();
      if (tag === 0x12) {
        this.statusMessageStart = r.delimited();
        this.statusMessageEnd = r.pos;
      } else if (tag === 0x18) {
        this.statusCode = r.uint32() | 0; // an enum is an int32
      } else {
        r.skipField(tag & 7, 4, tag >>> 3);
      }
    }
    r.len = outer;
  }
}

/** Hex id, or '' for a missing or all-zero one (hex-id.ts' `idToHexOrEmpty`). */
export function idToHexOrEmpty(r: WireReader, start: number, end: number): string {
  return start === end || r.isAllZero(start, end) ? '' : r.hex(start, end);
}
