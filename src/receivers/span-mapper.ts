import { INSTANCE_ATTRIBUTE, PROJECT_ATTRIBUTE, resolveProject } from '../pipeline/project.js';
import type { SpanEventRow, SpanLinkRow, SpanRow } from '../pipeline/span-row.js';
import { assign, DROPPED_ATTRIBUTES_KEY } from './attribute-limits.js';
import { AttributeFlattener } from './attribute-values.js';
import { bytesToHex, idToHexOrEmpty, isAllZero } from './hex-id.js';
import { exceedsInt64, uint64DifferenceToDecimal, uint64ToDecimal } from './int64-format.js';
import type { OtlpExportTraceRequest, OtlpSpan, OtlpSpanEvent, OtlpSpanLink } from './otlp-types.js';

/**
 * Spans of one export request in storage shape, plus the spans that were refused.
 *
 * Rows of the same resource share one `ResourceAttributes` object (built once per
 * resource, not per span): treat rows as immutable.
 */
export interface MappedSpans {
  rows: SpanRow[];
  /** Spans refused individually (bad ids, empty name); they are reported in partial_success. */
  rejected: number;
  /** Why, one entry per refused span, capped at `MAX_REJECT_REASONS` entries. */
  rejectReasons: string[];
  /** Attribute values stored altered: cut at `maxAttributeValueLength`, or nested too deep. */
  truncatedValues: number;
  /** Attributes not stored: past `maxAttributesPerSpan` or `maxSpanAttributesBytes` (see `AttributeList`). */
  droppedAttributes: number;
}

/** Enough to diagnose a misbehaving client without letting one request build a huge message. */
export const MAX_REJECT_REASONS = 10;

/** What the OTLP/JSON reader settled before mapping, keyed by `spanLocation` / resource index. */
export interface PreMapped {
  /** Why spans found unusable (ids that are not hex) are: refused alone, not the request. */
  rejectedSpans?: ReadonlyMap<string, string>;
  /** Attributes already dropped past the count limit: a span's (its events' and links' included), a resource's. */
  droppedBySpan?: ReadonlyMap<string, number>;
  droppedByResource?: ReadonlyMap<number, number>;
}

export function spanLocation(resourceIndex: number, scopeIndex: number, spanIndex: number): string {
  return `${resourceIndex}/${scopeIndex}/${spanIndex}`;
}

// Names of ptrace.SpanKind / ptrace.StatusCode (`String()`), indexed by enum number.
export const SPAN_KIND_NAMES = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'];
export const STATUS_CODE_NAMES = ['Unset', 'Ok', 'Error'];

const TRACE_ID_BYTES = 16;
/** 2^63 - 1 ns: the last instant DateTime64(9) holds. */
export const LAST_STORABLE_TIME = '9223372036854775807 (2262-04-11T23:47:16.854775807Z)';
const SPAN_ID_BYTES = 8;

/** What the receiver knows about a request beyond its body. */
export interface MapOptions {
  /** The request's `x-spanscore-project` header / metadata: overrides every resource's own. */
  project?: string;
  /** This replica's `service.instance_id`, stamped on every resource. */
  instanceId?: string;
  /** Longer attribute values are cut with a marker (see `truncateValue`). Default: no limit. */
  maxAttributeValueLength?: number;
  /** Attributes kept per list: a span's, an event's, a link's, a resource's (see `AttributeList`). Default: no limit. */
  maxAttributesPerSpan?: number;
  /** UTF-8 bytes of keys and stored values kept per list. Default: no limit. */
  maxSpanAttributesBytes?: number;
}

/** What rows of one scope share. */
interface ScopeContext {
  serviceName: string;
  resourceAttributes: Record<string, string>;
  scopeName: string;
  scopeVersion: string;
}

/**
 * Maps a decoded request the way the Collector's clickhouseexporter maps ptrace.Traces, and
 * stamps each resource with its project (`spanscore.project`) and the receiving replica
 * (`spanscore.instance`), overwriting whatever the client sent under those keys.
 */
export function mapExportRequest(request: OtlpExportTraceRequest, pre: PreMapped = {}, options: MapOptions = {}): MappedSpans {
  const result: MappedSpans = { rows: [], rejected: 0, rejectReasons: [], truncatedValues: 0, droppedAttributes: 0 };
  const resourceSpansList = request.resourceSpans ?? [];
  const attributes = new AttributeFlattener(options.maxAttributeValueLength, options.maxAttributesPerSpan, options.maxSpanAttributesBytes);

  for (let r = 0; r < resourceSpansList.length; r++) {
    const resourceSpans = resourceSpansList[r];
    const scopeSpansList = resourceSpans?.scopeSpans;
    if (scopeSpansList == null || scopeSpansList.length === 0) continue;
    const resourceRecord = attributes.toRecord(resourceSpans?.resource?.attributes);
    stampDropped(resourceRecord, attributes.lastDropped + (pre.droppedByResource?.get(r) ?? 0), result);
    // The stored value (the last of duplicate keys), so that ServiceName and ResourceAttributes
    // agree; the Collector's lookup (pcommon.Map.Get) would take the first.
    const serviceName = Object.hasOwn(resourceRecord, 'service.name') ? resourceRecord['service.name']! : '';
    resourceRecord[PROJECT_ATTRIBUTE] = resolveProject(options.project, resourceRecord[PROJECT_ATTRIBUTE], serviceName);
    if (options.instanceId !== undefined) resourceRecord[INSTANCE_ATTRIBUTE] = options.instanceId;

    for (let s = 0; s < scopeSpansList.length; s++) {
      const scopeSpans = scopeSpansList[s];
      const spans = scopeSpans?.spans;
      if (spans == null) continue;
      const scope: ScopeContext = {
        serviceName,
        resourceAttributes: resourceRecord,
        scopeName: scopeSpans?.scope?.name ?? '',
        scopeVersion: scopeSpans?.scope?.version ?? '',
      };

      for (let k = 0; k < spans.length; k++) {
        const span = spans[k];
        const location = spanLocation(r, s, k);
        const problem = span == null ? 'span is null' : (pre.rejectedSpans?.get(location) ?? invalidSpanReason(span));
        if (span == null || problem !== undefined) {
          result.rejected++;
          if (result.rejectReasons.length < MAX_REJECT_REASONS) {
            result.rejectReasons.push(`span ${k} of scope ${JSON.stringify(scope.scopeName)}: ${problem}`);
          }
          continue;
        }
        result.rows.push(toSpanRow(span, scope, attributes, pre.droppedBySpan?.get(location) ?? 0, result));
      }
    }
  }
  result.truncatedValues = attributes.alteredValues;
  return result;
}

/** `DROPPED_ATTRIBUTES_KEY` on a map the receiver dropped attributes from, and the count for the metrics. */
function stampDropped(record: Record<string, string>, dropped: number, result: MappedSpans): void {
  if (dropped === 0) return;
  assign(record, DROPPED_ATTRIBUTES_KEY, String(dropped));
  result.droppedAttributes += dropped;
}

/** Only called for spans `invalidSpanReason` accepted (ids of the right length, a name). */
function toSpanRow(span: OtlpSpan, scope: ScopeContext, attributes: AttributeFlattener, preDropped: number, result: MappedSpans): SpanRow {
  const spanAttributes = attributes.toRecord(span.attributes);
  let dropped = preDropped + attributes.lastDropped;
  const events = mapEvents(span.events, attributes);
  dropped += events.dropped;
  const links = mapLinks(span.links, attributes);
  dropped += links.dropped;
  stampDropped(spanAttributes, dropped, result);
  return {
    Timestamp: uint64ToDecimal(span.startTimeUnixNano),
    TraceId: bytesToHex(span.traceId ?? []),
    SpanId: bytesToHex(span.spanId ?? []),
    ParentSpanId: idToHexOrEmpty(span.parentSpanId),
    TraceState: span.traceState ?? '',
    SpanName: span.name ?? '',
    SpanKind: enumName(SPAN_KIND_NAMES, span.kind),
    ServiceName: scope.serviceName,
    ResourceAttributes: scope.resourceAttributes,
    ScopeName: scope.scopeName,
    ScopeVersion: scope.scopeVersion,
    SpanAttributes: spanAttributes,
    Duration: uint64DifferenceToDecimal(span.endTimeUnixNano, span.startTimeUnixNano),
    StatusCode: enumName(STATUS_CODE_NAMES, span.status?.code),
    StatusMessage: span.status?.message ?? '',
    Events: events.rows,
    Links: links.rows,
  };
}

/** Why the span cannot be stored, or undefined when it can. */
function invalidSpanReason(span: OtlpSpan): string | undefined {
  const traceId = span.traceId;
  const traceIdLength = traceId?.length ?? 0;
  if (traceIdLength !== TRACE_ID_BYTES) return `trace_id must be ${TRACE_ID_BYTES} bytes, got ${traceIdLength}`;
  if (isAllZero(traceId!)) return 'trace_id must not be all zeroes';

  const spanId = span.spanId;
  const spanIdLength = spanId?.length ?? 0;
  if (spanIdLength !== SPAN_ID_BYTES) return `span_id must be ${SPAN_ID_BYTES} bytes, got ${spanIdLength}`;
  if (isAllZero(spanId!)) return 'span_id must not be all zeroes';

  const parentLength = span.parentSpanId?.length ?? 0;
  if (parentLength !== 0 && parentLength !== SPAN_ID_BYTES) {
    return `parent_span_id must be empty or ${SPAN_ID_BYTES} bytes, got ${parentLength}`;
  }
  if (span.name == null || span.name === '') return 'name must not be empty';
  if (exceedsInt64(span.startTimeUnixNano)) return `start_time_unix_nano must be at most ${LAST_STORABLE_TIME}`;
  const events = span.events;
  if (events != null) {
    for (let i = 0; i < events.length; i++) {
      if (exceedsInt64(events[i]?.timeUnixNano)) return `events[${i}].time_unix_nano must be at most ${LAST_STORABLE_TIME}`;
    }
  }

  // The Collector's pdata cannot even decode a link id of another length (it fails the whole
  // request); refusing just this span keeps its neighbours.
  const links = span.links;
  if (links != null) {
    for (let i = 0; i < links.length; i++) {
      const linkTraceIdLength = links[i]?.traceId?.length ?? 0;
      if (linkTraceIdLength !== 0 && linkTraceIdLength !== TRACE_ID_BYTES) {
        return `links[${i}].trace_id must be ${TRACE_ID_BYTES} bytes, got ${linkTraceIdLength}`;
      }
      const linkSpanIdLength = links[i]?.spanId?.length ?? 0;
      if (linkSpanIdLength !== 0 && linkSpanIdLength !== SPAN_ID_BYTES) {
        return `links[${i}].span_id must be ${SPAN_ID_BYTES} bytes, got ${linkSpanIdLength}`;
      }
    }
  }
  return undefined;
}

/** Like Go's generated `String()`: unknown enum numbers map to ''. */
function enumName(names: readonly string[], value: number | null | undefined): string {
  return names[value ?? 0] ?? '';
}

/** Rows, and the attributes dropped from them. */
interface MappedParts<Row> {
  rows: Row[];
  dropped: number;
}

function mapEvents(events: readonly (OtlpSpanEvent | null | undefined)[] | null | undefined, attributes: AttributeFlattener): MappedParts<SpanEventRow> {
  const mapped: MappedParts<SpanEventRow> = { rows: [], dropped: 0 };
  if (events == null) return mapped;
  for (const event of events) {
    if (event == null) continue;
    mapped.rows.push({
      Timestamp: uint64ToDecimal(event.timeUnixNano),
      Name: event.name ?? '',
      Attributes: attributes.toRecord(event.attributes),
    });
    mapped.dropped += attributes.lastDropped;
  }
  return mapped;
}

function mapLinks(links: readonly (OtlpSpanLink | null | undefined)[] | null | undefined, attributes: AttributeFlattener): MappedParts<SpanLinkRow> {
  const mapped: MappedParts<SpanLinkRow> = { rows: [], dropped: 0 };
  if (links == null) return mapped;
  for (const link of links) {
    if (link == null) continue;
    mapped.rows.push({
      TraceId: idToHexOrEmpty(link.traceId),
      SpanId: idToHexOrEmpty(link.spanId),
      TraceState: link.traceState ?? '',
      Attributes: attributes.toRecord(link.attributes),
    });
    mapped.dropped += attributes.lastDropped;
  }
  return mapped;
}
