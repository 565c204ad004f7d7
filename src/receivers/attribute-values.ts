import { AttributeList } from './attribute-limits.js';
import { compareByCodePoint, formatGoFloat, goJsonNumber, quoteGoJsonString } from './go-json.js';
import { int64ToDecimal } from './int64-format.js';
import type { BytesValue, OtlpAnyValue, OtlpAttributes, OtlpKeyValue } from './otlp-types.js';

/**
 * OTLP attribute values flattened to strings the way the Collector's clickhouseexporter
 * does it (`pcommon.Value.AsString`): strings as is, ints in decimal, doubles in ES6
 * notation, bools as `true`/`false`, bytes in base64, arrays and kvlists as the JSON Go's
 * `json.Marshal` writes for their raw values, and the empty value as ''.
 */

const hasOwn = Object.hasOwn;

/**
 * Arrays and kvlists nested deeper than this are rendered as `DEPTH_MARKER_JSON`, and what
 * they hold is not even decoded (value-nesting.ts: protobuf, otlp-json-bounds.ts: JSON), so
 * a value nested 10,000 deep costs no more than one nested 33 deep and fails nothing.
 */
export const MAX_NESTING_DEPTH = 32;

/** Stands for a too-deep array or kvlist inside the rendered JSON (a JSON string, so the JSON stays valid). */
export const DEPTH_MARKER_JSON = `"…[nested deeper than ${MAX_NESTING_DEPTH} levels]"`;

/**
 * A value longer than the limit keeps its first `limit` characters followed by exactly
 * `…[truncated <n> chars]` (U+2026, then the number of characters removed, in decimal).
 * Characters are UTF-16 code units (JavaScript string length); a cut that would split a
 * surrogate pair keeps one character less, so the stored value stays valid UTF-8.
 */
export function truncationMarker(removed: number): string {
  return `…[truncated ${removed} chars]`;
}

export function truncateValue(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  let keep = maxLength;
  if (keep > 0) {
    const last = text.charCodeAt(keep - 1);
    if (last >= 0xd800 && last <= 0xdbff) keep--;
  }
  return text.slice(0, keep) + truncationMarker(text.length - keep);
}

/** Set while rendering one value when part of it was replaced by `DEPTH_MARKER_JSON`. */
interface RenderState {
  tooDeep: boolean;
}

/**
 * Turns attribute lists into storage maps under one request's limits, counting the
 * values it had to alter (cut for length or capped in depth) for the metrics.
 */
export class AttributeFlattener {
  /** Values stored altered so far: longer than the limit, or nested too deep. */
  alteredValues = 0;
  /** Entries of the last list `toRecord` made that were not stored (see `AttributeList`). */
  lastDropped = 0;
  /** Whether the last value `render` returned is altered. */
  renderedAltered = false;

  /** One per flattener, reset per value: attributes are the hot path, no allocation per value. */
  private readonly state: RenderState = { tooDeep: false };
  /** Lists are made one at a time here (never interleaved): one is reused. */
  private readonly list: AttributeList;

  constructor(
    private readonly maxValueLength: number = Infinity,
    maxCount?: number,
    maxBytes?: number,
  ) {
    this.list = new AttributeList(maxCount, maxBytes);
  }

  /** Storage map of an attribute list, under the limits of `AttributeList` (the last of duplicate keys wins). */
  toRecord(attributes: OtlpAttributes): Record<string, string> {
    const list = this.list;
    const record: Record<string, string> = {};
    list.reset(record);
    if (attributes != null) {
      for (let i = 0; i < attributes.length; i++) {
        const attribute = attributes[i];
        if (attribute == null) continue;
        const key = attribute.key ?? '';
        if (!list.admits(key)) continue;
        const stored = this.render(attribute.value);
        if (list.store(key, stored) && this.renderedAltered) this.alteredValues++;
      }
    }
    this.lastDropped = list.dropped;
    return record;
  }

  /** The value as stored (rendered, cut at the length limit); `renderedAltered` says whether it was altered. Counts nothing. */
  render(value: OtlpAnyValue | null | undefined): string {
    this.state.tooDeep = false;
    const text = renderAsString(value, this.state);
    const stored = truncateValue(text, this.maxValueLength);
    this.renderedAltered = this.state.tooDeep || stored !== text;
    return stored;
  }
}

/** The value as the Collector's `AsString` writes it (depth capped, no length limit). */
function renderAsString(value: OtlpAnyValue | null | undefined, state: RenderState): string {
  if (value == null) return '';
  // A oneof member is set only when it is an own property: decoded messages carry
  // defaults ('' / 0 / null) for every member on their prototype.
  if (hasOwn(value, 'stringValue')) return value.stringValue ?? '';
  if (hasOwn(value, 'intValue')) return int64ToDecimal(value.intValue);
  if (hasOwn(value, 'boolValue')) return value.boolValue === true ? 'true' : 'false';
  if (hasOwn(value, 'doubleValue')) return formatGoFloat(value.doubleValue ?? 0);
  if (hasOwn(value, 'arrayValue') || hasOwn(value, 'kvlistValue')) return anyValueAsGoJson(value, 0, state) ?? '';
  if (hasOwn(value, 'bytesValue')) return bytesToBase64(value.bytesValue);
  return '';
}

/**
 * JSON of the value's raw form (Go `json.Marshal(v.AsRaw())`); undefined when Go's
 * encoder fails (NaN or ±Inf anywhere inside), which the Collector turns into ''.
 */
function anyValueAsGoJson(value: OtlpAnyValue | null | undefined, depth: number, state: RenderState): string | undefined {
  if (value == null) return 'null';
  if (hasOwn(value, 'stringValue')) return quoteGoJsonString(value.stringValue ?? '');
  if (hasOwn(value, 'intValue')) return int64ToDecimal(value.intValue);
  if (hasOwn(value, 'boolValue')) return value.boolValue === true ? 'true' : 'false';
  if (hasOwn(value, 'doubleValue')) {
    const double = value.doubleValue ?? 0;
    return Number.isFinite(double) ? goJsonNumber(double) : undefined;
  }
  const isArray = hasOwn(value, 'arrayValue');
  if (isArray || hasOwn(value, 'kvlistValue')) {
    if (depth >= MAX_NESTING_DEPTH) {
      state.tooDeep = true;
      return DEPTH_MARKER_JSON;
    }
    return isArray ? arrayAsGoJson(value.arrayValue?.values, depth + 1, state) : kvlistAsGoJson(value.kvlistValue?.values, depth + 1, state);
  }
  if (hasOwn(value, 'bytesValue')) return '"' + bytesToBase64(value.bytesValue) + '"';
  return 'null';
}

function arrayAsGoJson(values: readonly (OtlpAnyValue | null | undefined)[] | null | undefined, depth: number, state: RenderState): string | undefined {
  if (values == null || values.length === 0) return '[]';
  let json = '[';
  for (let i = 0; i < values.length; i++) {
    const element = anyValueAsGoJson(values[i], depth, state);
    if (element === undefined) return undefined;
    json += (i === 0 ? '' : ',') + element;
  }
  return json + ']';
}

function kvlistAsGoJson(entries: readonly (OtlpKeyValue | null | undefined)[] | null | undefined, depth: number, state: RenderState): string | undefined {
  if (entries == null || entries.length === 0) return '{}';
  // AsRaw builds a Go map (the last duplicate wins) and json.Marshal sorts its keys.
  const byKey = new Map<string, OtlpAnyValue | null | undefined>();
  for (const entry of entries) if (entry != null) byKey.set(entry.key ?? '', entry.value);
  const keys = [...byKey.keys()].sort(compareByCodePoint);
  let json = '{';
  for (let i = 0; i < keys.length; i++) {
    const member = anyValueAsGoJson(byKey.get(keys[i]!), depth, state);
    if (member === undefined) return undefined;
    json += (i === 0 ? '' : ',') + quoteGoJsonString(keys[i]!) + ':' + member;
  }
  return json + '}';
}

function bytesToBase64(bytes: BytesValue | null | undefined): string {
  if (bytes == null || bytes.length === 0) return '';
  if (Buffer.isBuffer(bytes)) return bytes.toString('base64');
  const view = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
}
