/**
 * The shape of a decoded `ExportTraceServiceRequest`, as far as the span mapper reads it.
 *
 * Two producers fill it: protobufjs binary decoding (message instances whose unset fields
 * fall back to prototype defaults: `''`, `0`, `[]`, `null`) and ProtoJSON parsing (plain
 * objects that simply omit unset fields). Every field is therefore optional and nullable,
 * and a oneof member counts as set only when it is an own property.
 */

/** A 64-bit integer as protobufjs hands it over: a `long.js` Long, or a plain number. */
export type Int64Value = LongBits | number;

/** The part of a `long.js` Long the mapper needs (two's-complement 32-bit halves). */
export interface LongBits {
  low: number;
  high: number;
  unsigned?: boolean;
}

/** `bytes` fields: a Buffer/Uint8Array when set, the prototype default `[]` when not. */
export type BytesValue = Uint8Array | readonly number[];

type Maybe<T> = T | null | undefined;

export interface OtlpAnyValue {
  stringValue?: Maybe<string>;
  boolValue?: Maybe<boolean>;
  intValue?: Maybe<Int64Value>;
  doubleValue?: Maybe<number>;
  arrayValue?: Maybe<OtlpArrayValue>;
  kvlistValue?: Maybe<OtlpKeyValueList>;
  bytesValue?: Maybe<BytesValue>;
}

export interface OtlpArrayValue {
  values?: Maybe<readonly Maybe<OtlpAnyValue>[]>;
}

export interface OtlpKeyValueList {
  values?: Maybe<readonly Maybe<OtlpKeyValue>[]>;
}

export interface OtlpKeyValue {
  key?: Maybe<string>;
  value?: Maybe<OtlpAnyValue>;
}

export type OtlpAttributes = Maybe<readonly Maybe<OtlpKeyValue>[]>;

export interface OtlpInstrumentationScope {
  name?: Maybe<string>;
  version?: Maybe<string>;
  attributes?: OtlpAttributes;
}

export interface OtlpResource {
  attributes?: OtlpAttributes;
}

export interface OtlpStatus {
  message?: Maybe<string>;
  code?: Maybe<number>;
}

export interface OtlpSpanEvent {
  timeUnixNano?: Maybe<Int64Value>;
  name?: Maybe<string>;
  attributes?: OtlpAttributes;
}

export interface OtlpSpanLink {
  traceId?: Maybe<BytesValue>;
  spanId?: Maybe<BytesValue>;
  traceState?: Maybe<string>;
  attributes?: OtlpAttributes;
}

export interface OtlpSpan {
  traceId?: Maybe<BytesValue>;
  spanId?: Maybe<BytesValue>;
  traceState?: Maybe<string>;
  parentSpanId?: Maybe<BytesValue>;
  name?: Maybe<string>;
  kind?: Maybe<number>;
  startTimeUnixNano?: Maybe<Int64Value>;
  endTimeUnixNano?: Maybe<Int64Value>;
  attributes?: OtlpAttributes;
  events?: Maybe<readonly Maybe<OtlpSpanEvent>[]>;
  links?: Maybe<readonly Maybe<OtlpSpanLink>[]>;
  status?: Maybe<OtlpStatus>;
}

export interface OtlpScopeSpans {
  scope?: Maybe<OtlpInstrumentationScope>;
  spans?: Maybe<readonly Maybe<OtlpSpan>[]>;
}

export interface OtlpResourceSpans {
  resource?: Maybe<OtlpResource>;
  scopeSpans?: Maybe<readonly Maybe<OtlpScopeSpans>[]>;
}

export interface OtlpExportTraceRequest {
  resourceSpans?: Maybe<readonly Maybe<OtlpResourceSpans>[]>;
}
