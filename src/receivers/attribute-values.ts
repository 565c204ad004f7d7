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

/** Storage map of an attribute list; the first of duplicate keys wins (as `pcommon.Map.Get`). */
export function attributesToRecord(attributes: OtlpAttributes): Record<string, string> {
  const record: Record<string, string> = {};
  if (attributes == null) return record;
  for (let i = 0; i < attributes.length; i++) {
    const attribute = attributes[i];
    if (attribute == null) continue;
    const key = attribute.key ?? '';
    if (hasOwn(record, key)) continue;
    if (key === '__proto__') {
      // Plain assignment would set the prototype instead of an own property.
      Object.defineProperty(record, key, { value: anyValueAsString(attribute.value), enumerable: true, writable: true, configurable: true });
    } else {
      record[key] = anyValueAsString(attribute.value);
    }
  }
  return record;
}

/** The value of the first attribute named `key`, as a string; undefined when absent. */
export function findAttributeString(attributes: OtlpAttributes, key: string): string | undefined {
  if (attributes == null) return undefined;
  for (let i = 0; i < attributes.length; i++) {
    const attribute = attributes[i];
    if (attribute != null && attribute.key === key) return anyValueAsString(attribute.value);
  }
  return undefined;
}

export function anyValueAsString(value: OtlpAnyValue | null | undefined): string {
  if (value == null) return '';
  // A oneof member is set only when it is an own property: decoded messages carry
  // defaults ('' / 0 / null) for every member on their prototype.
  if (hasOwn(value, 'stringValue')) return value.stringValue ?? '';
  if (hasOwn(value, 'intValue')) return int64ToDecimal(value.intValue);
  if (hasOwn(value, 'boolValue')) return value.boolValue === true ? 'true' : 'false';
  if (hasOwn(value, 'doubleValue')) return formatGoFloat(value.doubleValue ?? 0);
  if (hasOwn(value, 'arrayValue') || hasOwn(value, 'kvlistValue')) return anyValueAsGoJson(value) ?? '';
  if (hasOwn(value, 'bytesValue')) return bytesToBase64(value.bytesValue);
  return '';
}

/**
 * JSON of the value's raw form (Go `json.Marshal(v.AsRaw())`); undefined when Go's
 * encoder fails (NaN or ±Inf anywhere inside), which the Collector turns into ''.
 */
function anyValueAsGoJson(value: OtlpAnyValue | null | undefined): string | undefined {
  if (value == null) return 'null';
  if (hasOwn(value, 'stringValue')) return quoteGoJsonString(value.stringValue ?? '');
  if (hasOwn(value, 'intValue')) return int64ToDecimal(value.intValue);
  if (hasOwn(value, 'boolValue')) return value.boolValue === true ? 'true' : 'false';
  if (hasOwn(value, 'doubleValue')) {
    const double = value.doubleValue ?? 0;
    return Number.isFinite(double) ? goJsonNumber(double) : undefined;
  }
  if (hasOwn(value, 'arrayValue')) return arrayAsGoJson(value.arrayValue?.values);
  if (hasOwn(value, 'kvlistValue')) return kvlistAsGoJson(value.kvlistValue?.values);
  if (hasOwn(value, 'bytesValue')) return '"' + bytesToBase64(value.bytesValue) + '"';
  return 'null';
}

function arrayAsGoJson(values: readonly (OtlpAnyValue | null | undefined)[] | null | undefined): string | undefined {
  if (values == null || values.length === 0) return '[]';
  let json = '[';
  for (let i = 0; i < values.length; i++) {
    const element = anyValueAsGoJson(values[i]);
    if (element === undefined) return undefined;
    json += (i === 0 ? '' : ',') + element;
  }
  return json + ']';
}

function kvlistAsGoJson(entries: readonly (OtlpKeyValue | null | undefined)[] | null | undefined): string | undefined {
  if (entries == null || entries.length === 0) return '{}';
  // AsRaw builds a Go map (the last duplicate wins) and json.Marshal sorts its keys.
  const byKey = new Map<string, OtlpAnyValue | null | undefined>();
  for (const entry of entries) if (entry != null) byKey.set(entry.key ?? '', entry.value);
  const keys = [...byKey.keys()].sort(compareByCodePoint);
  let json = '{';
  for (let i = 0; i < keys.length; i++) {
    const member = anyValueAsGoJson(byKey.get(keys[i]!));
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
