import { hostname } from 'node:os';
import type protobuf from 'protobufjs';

/**
 * The load's spans as the daemon stores them: the JSONEachRow objects of `otel_traces`
 * (the Collector clickhouseexporter's mapping: hex ids, kind and status names, attribute
 * values as strings, `seconds.nanos` times, Nested columns as parallel arrays), including
 * the resource attributes the receivers stamp (`spanscore.project`, `spanscore.instance`).
 *
 * Built here rather than with the daemon's own decoder and row mapper on purpose: the floor
 * must stay the same yardstick while src/ is being optimised, and the stored shape is a
 * contract (the Collector's table), not an implementation detail. Checked equal, field for
 * field, to src/'s `toTracesJsonRow(decodeProtobuf(body).rows[i])` when written.
 */
const SPAN_KINDS = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'];
const STATUS_CODES = ['Unset', 'Ok', 'Error'];

interface AnyValue {
  stringValue?: string;
  intValue?: string;
  boolValue?: boolean;
  doubleValue?: number;
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}
interface PlainSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId?: Uint8Array;
  traceState?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: KeyValue[];
  status?: { code?: number; message?: string };
}
interface PlainRequest {
  resourceSpans: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans: Array<{ scope?: { name?: string; version?: string }; spans: PlainSpan[] }>;
  }>;
}

function attributeRecord(attributes: KeyValue[] | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const { key, value } of attributes ?? []) {
    if (Object.hasOwn(record, key)) continue;
    // The load only carries strings and ints; the other kinds are not needed by the floor.
    record[key] = value?.stringValue ?? value?.intValue ?? String(value?.boolValue ?? value?.doubleValue ?? '');
  }
  return record;
}

function clickHouseTime(ns: string): string {
  const digits = ns.padStart(19, '0');
  return `${digits.slice(0, -9)}.${digits.slice(-9)}`;
}

const hex = (bytes: Uint8Array | undefined) => (bytes === undefined || bytes.length === 0 ? '' : Buffer.from(bytes).toString('hex'));

export function toStoredRows(type: protobuf.Type, body: Buffer): Record<string, unknown>[] {
  const request = type.toObject(type.decode(body), { longs: String, defaults: false }) as PlainRequest;
  const rows: Record<string, unknown>[] = [];
  for (const resourceSpans of request.resourceSpans) {
    const resource = attributeRecord(resourceSpans.resource?.attributes);
    const serviceName = resource['service.name'] ?? '';
    resource['spanscore.project'] ||= serviceName;
    resource['spanscore.instance'] = hostname();
    for (const scopeSpans of resourceSpans.scopeSpans) {
      for (const span of scopeSpans.spans) {
        rows.push({
          Timestamp: clickHouseTime(span.startTimeUnixNano),
          TraceId: hex(span.traceId),
          SpanId: hex(span.spanId),
          ParentSpanId: hex(span.parentSpanId),
          TraceState: span.traceState ?? '',
          SpanName: span.name,
          SpanKind: SPAN_KINDS[span.kind ?? 0] ?? '',
          ServiceName: serviceName,
          ResourceAttributes: resource,
          ScopeName: scopeSpans.scope?.name ?? '',
          ScopeVersion: scopeSpans.scope?.version ?? '',
          SpanAttributes: attributeRecord(span.attributes),
          Duration: (BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano)).toString(),
          StatusCode: STATUS_CODES[span.status?.code ?? 0] ?? '',
          StatusMessage: span.status?.message ?? '',
          'Events.Timestamp': [],
          'Events.Name': [],
          'Events.Attributes': [],
          'Links.TraceId': [],
          'Links.SpanId': [],
          'Links.TraceState': [],
          'Links.Attributes': [],
        });
      }
    }
  }
  return rows;
}
