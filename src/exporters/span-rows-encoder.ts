import protobuf from 'protobufjs';
import type { SpanEventRow, SpanLinkRow, SpanRow } from '../pipeline/span-row.js';
import { SPAN_KIND_NAMES, STATUS_CODE_NAMES } from '../receivers/span-mapper.js';
import { protobufToJson } from './otlp-transcoder.js';

/**
 * Storage rows → OTLP ExportTraceServiceRequest, for spans that exist only as rows (the
 * scoring spans spanscore writes). The inverse of the receivers' mapping for string
 * attributes: `decodeProtobuf(encodeSpanRows(rows)).rows` equals `rows` when every
 * resource carries its `spanscore.project`, as received rows do.
 *
 * Written with protobufjs' Writer, field numbers from opentelemetry/proto/trace/v1 (the
 * tests decode the result with the schema): no message objects are built, and since
 * protobufjs 8 writes into one growing buffer, fork/ldelim allocate nothing either.
 */

/**
 * Span attributes whose values spanscore's scoring spans mean as typed (see `toScoreRecord`
 * in src/scoring/score-recorder.ts) and are sent as such, so downstream backends can
 * aggregate them: `double` when the string is a finite decimal number, `bool` when it is
 * `true`/`false`. Any other value, and every other attribute, stays a string.
 */
export const TYPED_SPAN_ATTRIBUTES: ReadonlyMap<string, 'double' | 'bool'> = new Map([
  ['spanscore.score', 'double'],
  ['spanscore.recovered', 'bool'],
]);

/** protobuf ExportTraceServiceRequest of the rows; throws on a row whose ids are not hex or times not nanoseconds. */
export function encodeSpanRows(rows: readonly SpanRow[]): Uint8Array {
  const writer = protobuf.Writer.create();
  for (const resource of groupRows(rows).list) {
    writer.uint32(10).fork(); // ExportTraceServiceRequest.resource_spans
    writer.uint32(10).fork(); // ResourceSpans.resource
    const { ServiceName, ResourceAttributes } = resource.first;
    // The receivers derive ServiceName from service.name; a map without it gets it back.
    if (ServiceName !== '' && !Object.hasOwn(ResourceAttributes, 'service.name')) writeAttributes(writer, 10, { 'service.name': ServiceName }, false);
    writeAttributes(writer, 10, ResourceAttributes, false); // Resource.attributes
    writer.ldelim();
    for (const scope of resource.scopes.list) {
      writer.uint32(18).fork(); // ResourceSpans.scope_spans
      const { ScopeName, ScopeVersion } = scope.first;
      if (ScopeName !== '' || ScopeVersion !== '') {
        writer.uint32(10).fork(); // ScopeSpans.scope
        if (ScopeName !== '') writer.uint32(10).string(wellFormed(ScopeName));
        if (ScopeVersion !== '') writer.uint32(18).string(wellFormed(ScopeVersion));
        writer.ldelim();
      }
      for (const row of scope.rows) writeSpan(writer, row);
      writer.ldelim();
    }
    writer.ldelim();
  }
  return writer.finish();
}

/** OTLP/JSON of the same request. */
export function encodeSpanRowsJson(rows: readonly SpanRow[]): string {
  return protobufToJson(encodeSpanRows(rows));
}

interface ScopeGroup {
  first: SpanRow;
  rows: SpanRow[];
}

interface ResourceGroup {
  first: SpanRow;
  scopes: Grouping<ScopeGroup>;
}

interface Grouping<G> {
  /** In order of first appearance. */
  list: G[];
  /** Groups past the first COMPARED_GROUPS, by content key. */
  byKey: Map<string, G> | undefined;
}

/**
 * A row is compared with this many groups' first rows, then looked up by a content key.
 * Comparing is cheaper than building and hashing a key (the strings compared are mostly
 * the very same instances), and the key bounds the cost when there are many groups.
 */
const COMPARED_GROUPS = 8;

/** Rows by resource (ServiceName + ResourceAttributes, by content), then by scope. */
function groupRows(rows: readonly SpanRow[]): Grouping<ResourceGroup> {
  const resources: Grouping<ResourceGroup> = { list: [], byKey: undefined };
  let previous: SpanRow | undefined;
  let resource: ResourceGroup | undefined;
  for (const row of rows) {
    // Received rows of one resource share one attributes object, and come together.
    if (previous === undefined || row.ResourceAttributes !== previous.ResourceAttributes || row.ServiceName !== previous.ServiceName) {
      resource = findGroup(resources, row, sameResource, resourceKey, (first) => ({ first, scopes: { list: [], byKey: undefined } }));
    }
    previous = row;
    findGroup(resource!.scopes, row, sameScope, scopeKey, (first) => ({ first, rows: [] })).rows.push(row);
  }
  return resources;
}

function findGroup<G extends { first: SpanRow }>(
  grouping: Grouping<G>,
  row: SpanRow,
  same: (a: SpanRow, b: SpanRow) => boolean,
  key: (row: SpanRow) => string,
  create: (first: SpanRow) => G,
): G {
  const { list } = grouping;
  const compared = Math.min(list.length, COMPARED_GROUPS);
  for (let i = 0; i < compared; i++) if (same(list[i]!.first, row)) return list[i]!;
  let group: G;
  if (list.length < COMPARED_GROUPS) {
    group = create(row);
  } else {
    const byKey = (grouping.byKey ??= new Map());
    const rowKey = key(row);
    const found = byKey.get(rowKey);
    if (found !== undefined) return found;
    group = create(row);
    byKey.set(rowKey, group);
  }
  list.push(group);
  return group;
}

function sameResource(a: SpanRow, b: SpanRow): boolean {
  if (a.ServiceName !== b.ServiceName) return false;
  const attributes = a.ResourceAttributes;
  const other = b.ResourceAttributes;
  if (attributes === other) return true;
  const keys = Object.keys(attributes);
  if (keys.length !== Object.keys(other).length) return false;
  // Values are strings: a key missing from `other` reads as undefined (or an inherited non-string).
  for (const name of keys) if (attributes[name] !== other[name]) return false;
  return true;
}

function sameScope(a: SpanRow, b: SpanRow): boolean {
  return a.ScopeName === b.ScopeName && a.ScopeVersion === b.ScopeVersion;
}

/** Same service and entries, in any order → same key; length prefixes keep it unambiguous. */
function resourceKey(row: SpanRow): string {
  const attributes = row.ResourceAttributes;
  const keys = Object.keys(attributes);
  if (keys.length > 1) keys.sort();
  let key = lengthPrefixed(row.ServiceName);
  for (const name of keys) key += lengthPrefixed(name) + lengthPrefixed(attributes[name]!);
  return key;
}

function scopeKey(row: SpanRow): string {
  return lengthPrefixed(row.ScopeName) + row.ScopeVersion;
}

function lengthPrefixed(text: string): string {
  return text.length + ':' + text;
}

function writeSpan(writer: protobuf.Writer, row: SpanRow): void {
  writer.uint32(18).fork(); // ScopeSpans.spans
  writeId(writer, 10, row.TraceId, 'TraceId');
  writeId(writer, 18, row.SpanId, 'SpanId');
  if (row.TraceState !== '') writer.uint32(26).string(wellFormed(row.TraceState));
  writeId(writer, 34, row.ParentSpanId, 'ParentSpanId');
  if (row.SpanName !== '') writer.uint32(42).string(wellFormed(row.SpanName));
  const kind = enumNumber(SPAN_KIND_NAMES, row.SpanKind);
  if (kind !== 0) writer.uint32(48).int32(kind);
  const start = nanoseconds(row.Timestamp, 'Timestamp');
  writeFixed64(writer.uint32(57), start);
  writeFixed64(writer.uint32(65), uint64(start + nanoseconds(row.Duration, 'Duration'), 'Timestamp + Duration'));
  writeAttributes(writer, 74, row.SpanAttributes, true);
  for (const event of row.Events) writeEvent(writer, event);
  for (const link of row.Links) writeLink(writer, link);
  const code = enumNumber(STATUS_CODE_NAMES, row.StatusCode);
  if (code !== 0 || row.StatusMessage !== '') {
    writer.uint32(122).fork(); // Span.status
    if (row.StatusMessage !== '') writer.uint32(18).string(wellFormed(row.StatusMessage));
    if (code !== 0) writer.uint32(24).int32(code);
    writer.ldelim();
  }
  writer.ldelim();
}

function writeEvent(writer: protobuf.Writer, event: SpanEventRow): void {
  writer.uint32(90).fork(); // Span.events
  writeFixed64(writer.uint32(9), nanoseconds(event.Timestamp, 'Events.Timestamp'));
  if (event.Name !== '') writer.uint32(18).string(wellFormed(event.Name));
  writeAttributes(writer, 26, event.Attributes, false);
  writer.ldelim();
}

function writeLink(writer: protobuf.Writer, link: SpanLinkRow): void {
  writer.uint32(106).fork(); // Span.links
  writeId(writer, 10, link.TraceId, 'Links.TraceId');
  writeId(writer, 18, link.SpanId, 'Links.SpanId');
  if (link.TraceState !== '') writer.uint32(26).string(wellFormed(link.TraceState));
  writeAttributes(writer, 34, link.Attributes, false);
  writer.ldelim();
}

/** Unknown names (rows only ever hold the mapper's) fall back to 0, Unspecified / Unset. */
function enumNumber(names: readonly string[], name: string): number {
  const index = names.indexOf(name);
  return index < 0 ? 0 : index;
}

/** Reused for every id: no Buffer per id. Trace ids are 16 bytes, span ids 8. */
const TRACE_ID_BYTES = Buffer.alloc(16);
const SPAN_ID_BYTES = Buffer.alloc(8);

/** Nibble of a hex digit's char code, -1 for anything else (either case accepted). */
const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  NIBBLE['0123456789abcdef'.charCodeAt(i)] = i;
  NIBBLE['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/** '' is an absent id (a root span's parent, a link's missing ids). */
function writeId(writer: protobuf.Writer, tag: number, hex: string, field: string): void {
  if (hex === '') return;
  if ((hex.length & 1) !== 0) throw notHex(hex, field);
  const bytes = hex.length === 32 ? TRACE_ID_BYTES : hex.length === 16 ? SPAN_ID_BYTES : Buffer.alloc(hex.length >>> 1);
  // A loop over 16 or 32 digits costs less than crossing into Buffer's native hex decoder.
  for (let i = 0; i < bytes.length; i++) {
    const high = NIBBLE[hex.charCodeAt(2 * i)] ?? -1;
    const low = NIBBLE[hex.charCodeAt(2 * i + 1)] ?? -1;
    if (high < 0 || low < 0) throw notHex(hex, field);
    bytes[i] = (high << 4) | low;
  }
  writer.uint32(tag).bytes(bytes);
}

function notHex(hex: string, field: string): Error {
  return new Error(`span row ${field} is not hex: ${JSON.stringify(hex.slice(0, 40))}`);
}

const UINT64_LIMIT = 1n << 64n;
const DECIMAL = /^\d+$/;

function nanoseconds(decimal: string, field: string): bigint {
  // BigInt('') is 0n and BigInt('0x1f') 31n: only plain decimals are times.
  if (!DECIMAL.test(decimal)) throw new Error(`span row ${field} is not a decimal number of nanoseconds: ${JSON.stringify(decimal.slice(0, 40))}`);
  return uint64(BigInt(decimal), field);
}

function uint64(value: bigint, what: string): bigint {
  if (value >= UINT64_LIMIT) throw new Error(`span row ${what} exceeds 2^64 - 1 ns: ${value}`);
  return value;
}

/** fixed64 is little-endian: the low word first. */
function writeFixed64(writer: protobuf.Writer, value: bigint): void {
  writer.fixed32(Number(value & 0xffffffffn)).fixed32(Number(value >> 32n));
}

/** Writes each entry as a KeyValue under `tag`; `typed` applies TYPED_SPAN_ATTRIBUTES. */
function writeAttributes(writer: protobuf.Writer, tag: number, attributes: Record<string, string>, typed: boolean): void {
  for (const key of Object.keys(attributes)) {
    const value = attributes[key]!;
    writer.uint32(tag).fork();
    writer.uint32(10).string(wellFormed(key)); // KeyValue.key
    writer.uint32(18).fork(); // KeyValue.value
    const type = typed ? TYPED_SPAN_ATTRIBUTES.get(key) : undefined;
    const double = type === 'double' && DECIMAL_NUMBER.test(value) ? Number(value) : NaN;
    if (Number.isFinite(double)) writer.uint32(33).double(double); // AnyValue.double_value
    else if (type === 'bool' && (value === 'true' || value === 'false')) writer.uint32(16).bool(value === 'true'); // AnyValue.bool_value
    else writer.uint32(10).string(wellFormed(value)); // AnyValue.string_value
    writer.ldelim().ldelim();
  }
}

const DECIMAL_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/**
 * Lone surrogates (say, in a scorer's error text) have no UTF-8 form: protobufjs writes
 * them as invalid UTF-8, which makes protobuf decoders refuse the whole request. They
 * become U+FFFD, as the receivers store them.
 */
function wellFormed(text: string): string {
  const candidate = text as unknown as WellFormedString; // ES2024 methods, in Node since 20
  return candidate.isWellFormed() ? text : candidate.toWellFormed();
}
