/**
 * One row of `otel_traces`, already mapped the way the OpenTelemetry Collector's
 * clickhouseexporter maps a span (hex ids, `Server`/`Client` kinds, `Ok`/`Error`/`Unset`
 * status, attribute values rendered as strings), so that everything after the receivers
 * speaks the storage shape and dashboards written for the Collector's table work on ours.
 *
 * Timestamps are nanoseconds since the Unix epoch as decimal strings: a JS number cannot
 * hold them exactly, and ClickHouse parses `seconds.nanos` strings into DateTime64(9)
 * without loss (see `toClickHouseTime`).
 */
export interface SpanRow {
  /** Start time, ns since epoch (decimal string). */
  Timestamp: string;
  TraceId: string;
  SpanId: string;
  /** Empty string for a root span. */
  ParentSpanId: string;
  TraceState: string;
  SpanName: string;
  /** `Unspecified` | `Internal` | `Server` | `Client` | `Producer` | `Consumer` */
  SpanKind: string;
  ServiceName: string;
  ResourceAttributes: Record<string, string>;
  ScopeName: string;
  ScopeVersion: string;
  SpanAttributes: Record<string, string>;
  /** end - start, ns (decimal string; UInt64 in ClickHouse). */
  Duration: string;
  /** `Unset` | `Ok` | `Error` */
  StatusCode: string;
  StatusMessage: string;
  Events: SpanEventRow[];
  Links: SpanLinkRow[];
}

export interface SpanEventRow {
  Timestamp: string;
  Name: string;
  Attributes: Record<string, string>;
}

export interface SpanLinkRow {
  TraceId: string;
  SpanId: string;
  TraceState: string;
  Attributes: Record<string, string>;
}
