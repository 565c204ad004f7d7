import protobuf from 'protobufjs';
import type { AttributeList } from './attribute-limits.js';
import { AttributeFlattener, truncateValue } from './attribute-values.js';
import { formatGoFloat } from './go-json.js';
import { int64ToDecimal } from './int64-format.js';
import { asWireError, type WireReader } from './otlp-protobuf-reader.js';
import type { OtlpKeyValue } from './otlp-types.js';
import { cappedSchema } from './value-nesting.js';

/**
 * `KeyValue` messages read straight off the wire into storage maps, for `span-row-reader.ts`:
 * the same strings `AttributeFlattener.toRecord` makes of protobufjs' decoded attributes.
 *
 * Scalar values (string, int, double, bool, bytes: all an LLM span carries) are rendered
 * from the bytes. A KeyValue holding an array or kvlist anywhere is decoded again, whole,
 * by protobufjs (the depth-capped types of value-nesting.ts) and rendered by
 * `AttributeFlattener`: Go's JSON of nested values, the depth cap and protobufjs' merging of
 * repeated sub-messages stay in one place, at the price of a second pass over a rare kind of
 * value. Which entries are stored is `AttributeList`'s call, as in the mapper; an entry it
 * drops is still read through (a malformed one fails the request either way) but not rendered.
 */

// What the AnyValue oneof holds so far. protobufjs keeps one member per AnyValue (its oneof
// setter deletes the others), and a KeyValue's `value` occurring twice merges into the first:
// both amount to "the last member read wins", which this state follows across occurrences.
const NONE = 0;
const STRING = 1;
const BOOL = 2;
const INT = 3;
const DOUBLE = 4;
const BYTES = 5;
/** An array or kvlist member was met: the KeyValue goes to protobufjs. */
const NESTED = 6;

/** protobufjs' generated decoders take the nesting depth as a fourth argument. */
type DecodeAtDepth = (this: protobuf.Type, reader: protobuf.Reader, length: number, endGroup: undefined, depth: number) => OtlpKeyValue;
let keyValueType: protobuf.Type | undefined;

function decodeKeyValue(reader: protobuf.Reader, length: number, depth: number): OtlpKeyValue {
  keyValueType ??= cappedSchema().root.lookupType('opentelemetry.proto.common.v1.KeyValue');
  // Called on the type: until its first use, `decode` is protobufjs' setup, which needs `this`.
  return (keyValueType.decode as unknown as DecodeAtDepth).call(keyValueType, reader, length, undefined, depth);
}

export class AttributeReader {
  /** Values stored altered (cut for length, nested too deep), as `AttributeFlattener.alteredValues`. */
  altered = 0;

  private kind = NONE;
  /** String / bytes member: its bytes. */
  private start = 0;
  private end = 0;
  private boolValue = false;
  private doubleValue = 0;
  /** int64 member, in the shape `int64ToDecimal` takes (reused: no object per value). */
  private readonly int64 = { low: 0, high: 0, unsigned: false };

  private protobufReader: protobuf.Reader | undefined;
  private flattener: AttributeFlattener | undefined;

  constructor(
    private readonly r: WireReader,
    private readonly maxValueLength: number = Infinity,
  ) {}

  /**
   * One `KeyValue` of `size` bytes at nesting `depth` into `list`'s map, if the list takes it
   * (a dropped entry's value is not rendered, nor counted). With `list` null it is only
   * checked (scope attributes: protobufjs decodes them, the mapper never reads them).
   */
  readKeyValue(size: number, depth: number, list: AttributeList | null): void {
    const r = this.r;
    const outer = r.enter(size, depth);
    const start = r.pos;
    const end = r.len;
    let keyStart = 0;
    let keyEnd = 0;
    this.kind = NONE;
    while (r.pos < end) {
      const tag = r.tag();
      if (tag === 0x0a) {
        keyStart = r.delimited();
        keyEnd = r.pos;
        continue;
      }
      if (tag === 0x12) {
        this.readAnyValue(r.size(), depth + 1);
        if (this.kind === NESTED) break;
        continue;
      }
      r.skipField(tag & 7, depth, tag >>> 3);
    }
    r.len = outer;
    if (this.kind === NESTED) {
      this.readNestedKeyValue(start, size, depth, list);
      return;
    }
    if (list === null) return;
    const key = r.utf8Shared(keyStart, keyEnd);
    if (!list.admits(key)) return;
    const text = this.renderScalar();
    const stored = truncateValue(text, this.maxValueLength);
    if (list.store(key, stored) && stored !== text) this.altered++;
  }

  /** Leaves `r.len` at the AnyValue's end when it stops at a nested member (the caller resets it). */
  private readAnyValue(size: number, depth: number): void {
    const r = this.r;
    const outer = r.enter(size, depth);
    const end = r.len;
    while (r.pos < end) {
      const tag = r.tag();
      switch (tag) {
        case 0x0a: // string_value
          this.start = r.delimited();
          this.end = r.pos;
          this.kind = STRING;
          continue;
        case 0x10: // bool_value
          this.boolValue = r.bool();
          this.kind = BOOL;
          continue;
        case 0x18: // int_value
          r.int64();
          this.int64.low = r.lo | 0;
          this.int64.high = r.hi | 0;
          this.kind = INT;
          continue;
        case 0x21: // double_value
          this.doubleValue = r.double();
          this.kind = DOUBLE;
          continue;
        case 0x2a: // array_value
        case 0x32: // kvlist_value
          this.kind = NESTED;
          return;
        case 0x3a: // bytes_value
          this.start = r.delimited();
          this.end = r.pos;
          this.kind = BYTES;
          continue;
      }
      r.skipField(tag & 7, depth, tag >>> 3);
    }
    r.len = outer;
  }

  /** `AsString` of the scalar member read (the cases of `renderAsString` in attribute-values.ts). */
  private renderScalar(): string {
    switch (this.kind) {
      case STRING:
        return this.r.utf8(this.start, this.end);
      case INT:
        return int64ToDecimal(this.int64);
      case BOOL:
        return this.boolValue ? 'true' : 'false';
      case DOUBLE:
        return formatGoFloat(this.doubleValue);
      case BYTES:
        return this.r.base64(this.start, this.end);
      default:
        return '';
    }
  }

  /**
   * The KeyValue at `start` decoded again by protobufjs, from its first byte, on a reader in
   * the state protobufjs' own would be in (same buffer, same `len`, same depth): whatever
   * it throws is what `decodeProtobuf` throws for this request.
   */
  private readNestedKeyValue(start: number, size: number, depth: number, list: AttributeList | null): void {
    const r = this.r;
    const reader = this.protobufReaderFor(r.buf);
    reader.pos = start;
    reader.len = r.len;
    let keyValue: OtlpKeyValue;
    try {
      keyValue = decodeKeyValue(reader, size, depth);
    } catch (error) {
      throw asWireError(error);
    }
    r.pos = reader.pos;
    if (list === null) return;
    const key = keyValue.key ?? '';
    if (!list.admits(key)) return;
    const flattener = (this.flattener ??= new AttributeFlattener(this.maxValueLength));
    const stored = flattener.render(keyValue.value);
    if (list.store(key, stored) && flattener.renderedAltered) this.altered++;
  }

  private protobufReaderFor(buf: Buffer): protobuf.Reader {
    if (this.protobufReader === undefined || this.protobufReader.buf !== buf) {
      const reader = protobuf.Reader.create(buf);
      // As decodeProtobuf's reader: strings are read leniently (U+FFFD), never refused.
      reader.stringVerify = reader.string;
      this.protobufReader = reader;
    }
    return this.protobufReader;
  }
}
