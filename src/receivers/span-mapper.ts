import { INSTANCE_ATTRIBUTE, PROJECT_ATTRIBUTE, resolveProject } from '../pipeline/project.js';
import type { SpanEventRow, SpanLinkRow, SpanRow } from '../pipeline/span-row.js';
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
}

/** Enough to diagnose a misbehaving client without letting one request build a huge message. */
export const MAX_REJECT_REASONS = 10;

/** The config's default `receivers.otlp.max_attribute_value_length`. */
export const DEFAULT_MAX_ATTRIBUTE_VALUE_LENGTH = 65_536;

/**
 * Reasons for spans found unusable before mapping (OTLP/JSON ids that are not hex), keyed
 * by `spanLocation(resourceIndex, scopeIndex, spanIndex)`.
 */
export type PreRejectedSpans = ReadonlyMap<string, string>;

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
export function mapExportRequest(request: OtlpExportTraceRequest, preRejected?: PreRejectedSpans, options: MapOptions = {}): MappedSpans {
  const result: MappedSpans = { rows: [], rejected: 0, rejectReasons: [], truncatedValues: 0 };
  const resourceSpansList = request.resourceSpans ?? [];
  const attributes = new AttributeFlattener(options.maxAttributeValueLength);

  for (let r = 0; r < resourceSpansList.length; r++) {
    const resourceSpans = resourceSpansList[r];
    const scopeSpansList = resourceSpans?.scopeSpans;
    if (scopeSpansList == null || scopeSpansList.length === 0) continue;
    const resourceRecord = attributes.toRecord(resourceSpans?.resource?.attributes);
    // The map keeps the first of duplicate keys, as the Collector's lookup of service.name does.
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
        const problem =
          span == null ? 'span is null' : (preRejected?.get(spanLocation(r, s, k)) ?? invalidSpanReason(span));
        if (span == null || problem !== undefined) {
          result.rejected++;
          if (result.rejectReasons.length < MAX_REJECT_REASONS) {
            result.rejectReasons.push(`span ${k} of scope ${JSON.stringify(scope.scopeName)}: ${problem}`);
          }
          continue;
        }
        result.rows.push(toSpanRow(span, scope, attributes));
      }
    }
  }
  result.truncatedValues = attributes.alteredValues;
  return result;
}

/** Only called for spans `invalidSpanReason` accepted (ids of the right length, a name). */
function toSpanRow(span: OtlpSpan, scope: ScopeContext, attributes: AttributeFlattener): SpanRow {
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
    SpanAttributes: attributes.toRecord(span.attributes),
    Duration: uint64DifferenceToDecimal(span.endTimeUnixNano, span.startTimeUnixNano),
    StatusCode: enumName(STATUS_CODE_NAMES, span.status?.code),
    StatusMessage: span.status?.message ?? '',
    Events: mapEvents(span.events, attributes),
    Links: mapLinks(span.links, attributes),
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

function mapEvents(events: readonly (OtlpSpanEvent | null | undefined)[] | null | undefined, attributes: AttributeFlattener): SpanEventRow[] {
  const rows: SpanEventRow[] = [];
  if (events == null) return rows;
  for (const event of events) {
    if (event == null) continue;
    rows.push({
      Timestamp: uint64ToDecimal(event.timeUnixNano),
      Name: event.name ?? '',
      Attributes: attributes.toRecord(event.attributes),
    });
  }
  return rows;
}

function mapLinks(links: readonly (OtlpSpanLink | null | undefined)[] | null | undefined, attributes: AttributeFlattener): SpanLinkRow[] {
  const rows: SpanLinkRow[] = [];
  if (links == null) return rows;
  for (const link of links) {
    if (link == null) continue;
    rows.push({
      TraceId: idToHexOrEmpty(link.traceId),
      SpanId: idToHexOrEmpty(link.spanId),
      TraceState: link.traceState ?? '',
      Attributes: attributes.toRecord(link.attributes),
    });
  }
  return rows;
}
