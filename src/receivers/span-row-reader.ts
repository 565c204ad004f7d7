import { INSTANCE_ATTRIBUTE, PROJECT_ATTRIBUTE, resolveProject } from '../pipeline/project.js';
import type { SpanEventRow, SpanLinkRow, SpanRow } from '../pipeline/span-row.js';
import { assign, AttributeList, DROPPED_ATTRIBUTES_KEY } from './attribute-limits.js';
import { AttributeReader } from './attribute-reader.js';
import { DecodeError, explainDecodeFailure } from './decode-error.js';
import { uint64BitsToDecimal, uint64DifferenceToDecimal } from './int64-format.js';
import { isWireError, WireReader } from './otlp-protobuf-reader.js';
import { idToHexOrEmpty, SPAN_ID_BYTES, SpanPartsReader, TRACE_ID_BYTES } from './span-parts-reader.js';
import {
  LAST_STORABLE_TIME,
  MAX_REJECT_REASONS,
  SPAN_KIND_NAMES,
  STATUS_CODE_NAMES,
  type MapOptions,
  type MappedSpans,
} from './span-mapper.js';
import { withOtlpRecursionLimit } from './value-nesting.js';

/**
 * `decodeProtobuf` (protobufjs decode, then `mapExportRequest`) in one pass over the bytes:
 * an OTLP/protobuf `ExportTraceServiceRequest` straight to `SpanRow`s, with no message
 * objects, Longs or Buffers in between. Same result for every input, refusals included
 * (same `DecodeError` text); test/receivers/otlp-protobuf-reader.test.ts checks it against
 * the reference path.
 *
 * What makes one pass harder than decode-then-map is that protobuf fixes no field order:
 * a span's ids may follow its attributes, a resource may follow its spans, and repeated
 * singular fields count (the last scalar wins, sub-messages merge). So a span's fate and
 * anything shared are settled when its message ends: rows are built with the scope's and
 * resource's fields filled in at the end of those, rejections are worded at the end of
 * their scope (the reason names the scope), and values cut for length (and attributes
 * dropped) are counted only for what the mapper would have rendered (valid spans; resources
 * with scope spans).
 *
 * Nesting depths (protobufjs' recursion limit counts them): request 0, ResourceSpans 1,
 * Resource / ScopeSpans 2, InstrumentationScope / Span 3, Event / Link / Status 4
 * (span-parts-reader.ts); a KeyValue sits one below its holder, its AnyValue one below it.
 */

/** Stands in for fields filled at the end of the scope / resource (never left in a result). */
const UNSET_RECORD: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** One cursor for every request: decoding is synchronous, and released after each request. */
const r = new WireReader();

// Per-request state; `decodeProtobufFast` is not reentrant (nothing it calls decodes).
let result: MappedSpans;
let rows: SpanRow[];
let attributes: AttributeReader;
let parts: SpanPartsReader;
/** The current span's attribute list (spans never interleave; events and links have `parts`' own). */
let spanList: AttributeList;
let options: MapOptions;
/** Spans refused in the current scope: reasons are worded once the scope's name is known. */
const pendingIndexes: number[] = [];
const pendingReasons: string[] = [];
// The last scope name / version read: occurrences of `scope` merge, set by readScope.
let scopeNameStart = 0;
let scopeNameEnd = 0;
let scopeVersionStart = 0;
let scopeVersionEnd = 0;

/** A span's times in the shape `uint64DifferenceToDecimal` takes (reused: no object per span). */
const startTime = { low: 0, high: 0 };
const endTime = { low: 0, high: 0 };

export function decodeProtobufFast(body: Uint8Array, mapOptions: MapOptions = {}): MappedSpans {
  return withOtlpRecursionLimit(() => decode(body, mapOptions));
}

function decode(body: Uint8Array, mapOptions: MapOptions): MappedSpans {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  options = mapOptions;
  result = { rows: [], rejected: 0, rejectReasons: [], truncatedValues: 0, droppedAttributes: 0 };
  rows = result.rows;
  attributes = new AttributeReader(r, options.maxAttributeValueLength);
  spanList = newList();
  parts = new SpanPartsReader(r, attributes, newList());
  r.reset(bytes);
  try {
    readRequest();
  } catch (error) {
    if (!isWireError(error)) throw error;
    throw new DecodeError(`request body is not a protobuf ExportTraceServiceRequest: ${explainDecodeFailure(error.message)}`, { cause: error });
  } finally {
    r.release();
    pendingIndexes.length = 0;
    pendingReasons.length = 0;
  }
  const mapped = result;
  mapped.truncatedValues = attributes.altered;
  result = undefined as unknown as MappedSpans;
  rows = undefined as unknown as SpanRow[];
  attributes = undefined as unknown as AttributeReader;
  parts = undefined as unknown as SpanPartsReader;
  spanList = undefined as unknown as AttributeList;
  options = undefined as unknown as MapOptions;
  return mapped;
}

function newList(): AttributeList {
  return new AttributeList(options.maxAttributesPerSpan, options.maxSpanAttributesBytes);
}

/** `DROPPED_ATTRIBUTES_KEY` as the mapper's `stampDropped` puts it. */
function stampDropped(record: Record<string, string>, dropped: number): void {
  if (dropped === 0) return;
  assign(record, DROPPED_ATTRIBUTES_KEY, String(dropped));
  result.droppedAttributes += dropped;
}

function readRequest(): void {
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === 0x0a) readResourceSpans(r.size());
    else r.skipField(tag & 7, 0, tag >>> 3);
  }
}

function readResourceSpans(size: number): void {
  const outer = r.enter(size, 1);
  const end = r.len;
  const firstRow = rows.length;
  const resourceRecord: Record<string, string> = {};
  // Its own list: a resource's occurrences merge, and spans are read between them.
  const resourceList = newList();
  resourceList.reset(resourceRecord);
  let resourceAltered = 0;
  let scopeSpansCount = 0;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === 0x0a) {
      const before = attributes.altered;
      readResource(r.size(), resourceList);
      resourceAltered += attributes.altered - before;
    } else if (tag === 0x12) {
      scopeSpansCount++;
      readScopeSpans(r.size());
    } else {
      r.skipField(tag & 7, 1, tag >>> 3); // schema_url included: read or skipped, same checks
    }
  }
  r.len = outer;
  // The mapper skips a resource without scope spans before rendering its attributes.
  if (scopeSpansCount === 0) {
    attributes.altered -= resourceAltered;
    return;
  }
  stampDropped(resourceRecord, resourceList.dropped);
  const serviceName = Object.hasOwn(resourceRecord, 'service.name') ? resourceRecord['service.name']! : '';
  resourceRecord[PROJECT_ATTRIBUTE] = resolveProject(options.project, resourceRecord[PROJECT_ATTRIBUTE], serviceName);
  if (options.instanceId !== undefined) resourceRecord[INSTANCE_ATTRIBUTE] = options.instanceId;
  for (let i = firstRow; i < rows.length; i++) {
    const row = rows[i]!;
    row.ServiceName = serviceName;
    row.ResourceAttributes = resourceRecord;
  }
}

/** Occurrences of `resource` merge: their attributes add up, in order. */
function readResource(size: number, list: AttributeList): void {
  const outer = r.enter(size, 2);
  const end = r.len;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === 0x0a) {
      attributes.readKeyValue(r.size(), 3, list);
    } else if (tag === 0x10) {
      r.uint32(); // dropped_attributes_count
    } else if (tag === 0x1a) {
      const entityOuter = r.enter(r.size(), 3); // entity_refs: decoded by protobufjs, unused
      r.skipMessage(3);
      r.len = entityOuter;
    } else {
      r.skipField(tag & 7, 2, tag >>> 3);
    }
  }
  r.len = outer;
}

function readScopeSpans(size: number): void {
  const outer = r.enter(size, 2);
  const end = r.len;
  const firstRow = rows.length;
  scopeNameStart = scopeNameEnd = scopeVersionStart = scopeVersionEnd = 0;
  let spanIndex = 0;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === 0x12) readSpan(r.size(), spanIndex++);
    else if (tag === 0x0a) readScope(r.size());
    else r.skipField(tag & 7, 2, tag >>> 3);
  }
  r.len = outer;
  const scopeName = r.utf8Shared(scopeNameStart, scopeNameEnd);
  const scopeVersion = r.utf8Shared(scopeVersionStart, scopeVersionEnd);
  for (let i = firstRow; i < rows.length; i++) {
    const row = rows[i]!;
    row.ScopeName = scopeName;
    row.ScopeVersion = scopeVersion;
  }
  if (pendingIndexes.length > 0) {
    const quoted = JSON.stringify(scopeName);
    for (let i = 0; i < pendingIndexes.length; i++) {
      result.rejectReasons.push(`span ${pendingIndexes[i]} of scope ${quoted}: ${pendingReasons[i]}`);
    }
    pendingIndexes.length = 0;
    pendingReasons.length = 0;
  }
}

/** Occurrences of `scope` merge: the last name / version read wins. */
function readScope(size: number): void {
  const outer = r.enter(size, 3);
  const end = r.len;
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a:
        scopeNameStart = r.delimited();
        scopeNameEnd = r.pos;
        continue;
      case 0x12:
        scopeVersionStart = r.delimited();
        scopeVersionEnd = r.pos;
        continue;
      case 0x1a:
        attributes.readKeyValue(r.size(), 4, null);
        continue;
      case 0x20:
        r.uint32(); // dropped_attributes_count
        continue;
    }
    r.skipField(tag & 7, 3, tag >>> 3);
  }
  r.len = outer;
}

function readSpan(size: number, index: number): void {
  const outer = r.enter(size, 3);
  const end = r.len;
  const alteredBefore = attributes.altered;
  let traceIdStart = 0;
  let traceIdEnd = 0;
  let spanIdStart = 0;
  let spanIdEnd = 0;
  let parentStart = 0;
  let parentEnd = 0;
  let traceStateStart = 0;
  let traceStateEnd = 0;
  let nameStart = 0;
  let nameEnd = 0;
  let kind = 0;
  let startLow = 0;
  let startHigh = 0;
  let endLow = 0;
  let endHigh = 0;
  const spanAttributes: Record<string, string> = {};
  spanList.reset(spanAttributes);
  const events: SpanEventRow[] = [];
  const links: SpanLinkRow[] = [];
  let firstLateEvent = -1;
  let linkProblem: string | undefined;
  parts.resetSpan();

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
        parentStart = r.delimited();
        parentEnd = r.pos;
        continue;
      case 0x2a:
        nameStart = r.delimited();
        nameEnd = r.pos;
        continue;
      case 0x30:
        kind = r.uint32() | 0; // an enum is an int32
        continue;
      case 0x39:
        r.fixed64();
        startLow = r.lo;
        startHigh = r.hi;
        continue;
      case 0x41:
        r.fixed64();
        endLow = r.lo;
        endHigh = r.hi;
        continue;
      case 0x4a:
        attributes.readKeyValue(r.size(), 4, spanList);
        continue;
      case 0x5a:
        events.push(parts.readEvent(r.size()));
        if (firstLateEvent < 0 && parts.eventTimeHigh >= 0x80000000) firstLateEvent = events.length - 1;
        continue;
      case 0x6a:
        links.push(parts.readLink(r.size()));
        linkProblem ??= parts.invalidLinkReason(links.length - 1);
        continue;
      case 0x7a:
        parts.readStatus(r.size());
        continue;
      case 0x50: // dropped_attributes_count
      case 0x60: // dropped_events_count
      case 0x70: // dropped_links_count
        r.uint32(); // a known varint may not run past 10 bytes, an unknown one may
        continue;
    }
    r.skipField(tag & 7, 3, tag >>> 3); // flags (fixed32) too: read or skipped, same checks
  }
  r.len = outer;

  // The checks and texts of span-mapper.ts' invalidSpanReason, in its order.
  let problem: string | undefined;
  const traceIdLength = traceIdEnd - traceIdStart;
  const spanIdLength = spanIdEnd - spanIdStart;
  const parentLength = parentEnd - parentStart;
  if (traceIdLength !== TRACE_ID_BYTES) problem = `trace_id must be ${TRACE_ID_BYTES} bytes, got ${traceIdLength}`;
  else if (r.isAllZero(traceIdStart, traceIdEnd)) problem = 'trace_id must not be all zeroes';
  else if (spanIdLength !== SPAN_ID_BYTES) problem = `span_id must be ${SPAN_ID_BYTES} bytes, got ${spanIdLength}`;
  else if (r.isAllZero(spanIdStart, spanIdEnd)) problem = 'span_id must not be all zeroes';
  else if (parentLength !== 0 && parentLength !== SPAN_ID_BYTES) problem = `parent_span_id must be empty or ${SPAN_ID_BYTES} bytes, got ${parentLength}`;
  else if (nameEnd === nameStart) problem = 'name must not be empty'; // decoded, a non-empty name is never ''
  else if (startHigh >= 0x80000000) problem = `start_time_unix_nano must be at most ${LAST_STORABLE_TIME}`;
  else if (firstLateEvent >= 0) problem = `events[${firstLateEvent}].time_unix_nano must be at most ${LAST_STORABLE_TIME}`;
  else problem = linkProblem;
  if (problem !== undefined) {
    result.rejected++;
    if (result.rejectReasons.length + pendingIndexes.length < MAX_REJECT_REASONS) {
      pendingIndexes.push(index);
      pendingReasons.push(problem);
    }
    attributes.altered = alteredBefore; // the mapper renders no value of a refused span
    return;
  }

  stampDropped(spanAttributes, spanList.dropped + parts.droppedAttributes);
  startTime.low = startLow;
  startTime.high = startHigh;
  endTime.low = endLow;
  endTime.high = endHigh;
  rows.push({
    Timestamp: uint64BitsToDecimal(startHigh, startLow),
    TraceId: r.hex(traceIdStart, traceIdEnd),
    SpanId: r.hex(spanIdStart, spanIdEnd),
    ParentSpanId: idToHexOrEmpty(r, parentStart, parentEnd),
    TraceState: r.utf8(traceStateStart, traceStateEnd),
    SpanName: r.utf8Shared(nameStart, nameEnd),
    SpanKind: SPAN_KIND_NAMES[kind] ?? '',
    ServiceName: '',
    ResourceAttributes: UNSET_RECORD,
    ScopeName: '',
    ScopeVersion: '',
    SpanAttributes: spanAttributes,
    Duration: uint64DifferenceToDecimal(endTime, startTime),
    StatusCode: STATUS_CODE_NAMES[parts.statusCode] ?? '',
    StatusMessage: r.utf8(parts.statusMessageStart, parts.statusMessageEnd),
    Events: events,
    Links: links,
  });
}
