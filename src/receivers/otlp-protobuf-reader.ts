import protobuf from 'protobufjs';

/**
 * Protobuf wire-format primitives for the hand-written OTLP decoder (`span-row-reader.ts`).
 *
 * The reference is protobufjs' `Reader` (v8) as driven by its generated decoders: every
 * method below accepts exactly the bytes the protobufjs method of the same name accepts and
 * fails at the same place with the same error class and text ("index out of range: 12 + 4 >
 * 14", "invalid wire type 6 at offset 7", ...), so that `DecodeError` messages do not depend
 * on which decoder ran. Hence the oddities kept on purpose: `double` reports "+ 4" for its
 * 8 bytes, `tag`/`size`/`uint32` read a varint differently near the end of a message than
 * away from it, unknown varints may be of any length while known ones may not.
 *
 * One cursor (`buf`, `pos`, `len`) serves a whole request: `len` is the end of the message
 * being read, moved in by `enter` and restored by the caller, as protobufjs does with `r.len`.
 */

const EMPTY = Buffer.alloc(0);
/** What a 32-bit varint is read as (protobufjs has a method each, alike up to the fifth byte). */
const TAG = 0;
const SIZE = 1;
const UINT32 = 2;
type VarintKind = typeof TAG | typeof SIZE | typeof UINT32;
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));

/** Node's native slicers (what protobufjs' BufferReader calls for strings): not in @types/node. */
interface NativeSlices {
  utf8Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
  base64Slice(start: number, end: number): string;
}

/**
 * Texts `utf8Shared` keeps, process-wide, with the bytes each was decoded from: at most
 * SHARED_SLOTS texts of MAX_SHARED_LENGTH bytes, a later text taking over a slot.
 */
const SHARED_SLOTS = 1024;
const MAX_SHARED_LENGTH = 64;
const sharedTexts: string[] = new Array<string>(SHARED_SLOTS).fill('');
const sharedLengths = new Uint8Array(SHARED_SLOTS);
const sharedBytes = new Uint8Array(SHARED_SLOTS * MAX_SHARED_LENGTH);
const sharedBytesView = new DataView(sharedBytes.buffer);

/** Errors that mean "not a valid message" (to be reported as DecodeError), as opposed to bugs. */
const wireErrors = new WeakSet<object>();

export function isWireError(error: unknown): error is Error {
  return typeof error === 'object' && error !== null && wireErrors.has(error);
}

/** Marks an error thrown by protobufjs itself (the fallback decoder) as a decoding failure. */
export function asWireError(error: unknown): unknown {
  if (typeof error === 'object' && error !== null) wireErrors.add(error);
  return error;
}

function wireError(message: string): Error {
  const error = new Error(message);
  wireErrors.add(error);
  return error;
}

function wireRangeError(message: string): RangeError {
  const error = new RangeError(message);
  wireErrors.add(error);
  return error;
}

export class WireReader {
  buf: Buffer = EMPTY;
  private native: NativeSlices = EMPTY as unknown as NativeSlices;
  private view: DataView = EMPTY_VIEW;
  pos = 0;
  /** End of the message being read (protobufjs' `r.len`). */
  len = 0;
  /** The two unsigned 32-bit halves of the last `fixed64` / `int64` read: no Long per value. */
  lo = 0;
  hi = 0;
  /** protobufjs' `Reader.recursionLimit`, read per request as protobufjs reads it per message. */
  recursionLimit = 100;

  reset(buf: Buffer): void {
    this.buf = buf;
    this.native = buf as unknown as NativeSlices;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = 0;
    this.len = buf.length;
    this.recursionLimit = protobuf.Reader.recursionLimit;
  }

  /** Lets go of the request body (the reader is module-wide and would keep it alive). */
  release(): void {
    this.buf = EMPTY;
    this.native = EMPTY as unknown as NativeSlices;
    this.view = EMPTY_VIEW;
    this.pos = this.len = 0;
  }

  private outOfRange(length: number): RangeError {
    return wireRangeError('index out of range: ' + this.pos + ' + ' + length + ' > ' + this.len);
  }

  // ---- varints ----
  // One- and two-byte varints (tags, lengths below 16 KiB, small numbers: nearly all of a
  // request) take the short way, where every protobufjs path returns the same; longer ones
  // and those at the end of a message follow protobufjs line for line (`varint32Slow`).

  /** A field tag (up to 2^32 - 1). */
  tag(): number {
    return this.varint32(TAG);
  }

  /** A length prefix (below 2^31). */
  size(): number {
    return this.varint32(SIZE);
  }

  /** A `uint32` / `int32` / enum varint: the low 32 bits of up to 10 bytes. */
  uint32(): number {
    return this.varint32(UINT32);
  }

  private varint32(kind: VarintKind): number {
    const pos = this.pos;
    if (pos < this.len) {
      const b0 = this.buf[pos]!;
      if (b0 < 128) {
        this.pos = pos + 1;
        return b0;
      }
      if (pos + 1 < this.len) {
        const b1 = this.buf[pos + 1]!;
        if (b1 < 128) {
          this.pos = pos + 2;
          return (b0 & 127) | (b1 << 7);
        }
      }
    }
    return this.varint32Slow(kind);
  }

  /** protobufjs' `tag`, `size` and `uint32`, which differ only from the fifth byte on. */
  private varint32Slow(kind: VarintKind): number {
    if (this.len - this.pos < 5) {
      if (this.pos >= this.len) throw this.outOfRange(1);
      if (this.buf[this.pos]! >= 128) return this.varint32NearEnd();
    }
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const b = buf[pos++]!;
      value = (value | ((b & 127) << shift)) >>> 0;
      if (b < 128) {
        this.pos = pos;
        return value;
      }
    }
    const fifth = buf[pos++]!;
    this.pos = pos;
    if (kind === TAG) {
      if (fifth < 128 && (fifth & 112) === 0) return (value | ((fifth & 15) << 28)) >>> 0;
      throw wireError('invalid tag encoding');
    }
    if (kind === SIZE) {
      if (fifth > 7) throw wireError('invalid length encoding');
      return (value | (fifth << 28)) >>> 0;
    }
    value = (value | ((fifth & 15) << 28)) >>> 0;
    if (fifth < 128) return value;
    for (let i = 0; i < 5; ++i) {
      if (this.pos >= this.len) throw this.outOfRange(1);
      if (buf[this.pos++]! < 128) return value;
    }
    throw wireError('invalid varint encoding');
  }

  /** protobufjs' readVarint32NearEnd: at most four bytes, each checked against `len`. */
  private varint32NearEnd(): number {
    let value = 0;
    for (let i = 0; i < 4; ++i) {
      if (this.pos >= this.len) throw this.outOfRange(1);
      const b = this.buf[this.pos++]!;
      value = (value | ((b & 127) << (i * 7))) >>> 0;
      if (b < 128) return value;
    }
    throw this.outOfRange(1);
  }

  /** A `bool` varint: true when any of its (up to 10) bytes has a value bit set. */
  bool(): boolean {
    let value = false;
    for (let i = 0; i < 10; ++i) {
      if (this.pos >= this.len) throw this.outOfRange(1);
      const b = this.buf[this.pos++]!;
      if (b & 127) value = true;
      if (b < 128) return value;
    }
    throw wireError('invalid varint encoding');
  }

  /** An `int64` varint into `lo`/`hi` (protobufjs' readLongVarint, without the LongBits). */
  int64(): void {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let i = 0;
    if (this.len - this.pos > 4) {
      for (; i < 4; ++i) {
        lo = (lo | ((buf[this.pos]! & 127) << (i * 7))) >>> 0;
        if (buf[this.pos++]! < 128) return this.setLong(lo, hi);
      }
      lo = (lo | ((buf[this.pos]! & 127) << 28)) >>> 0;
      hi = (hi | ((buf[this.pos]! & 127) >> 4)) >>> 0;
      if (buf[this.pos++]! < 128) return this.setLong(lo, hi);
      i = 0;
    } else {
      for (; i < 4; ++i) {
        if (this.pos >= this.len) throw this.outOfRange(1);
        lo = (lo | ((buf[this.pos]! & 127) << (i * 7))) >>> 0;
        if (buf[this.pos++]! < 128) return this.setLong(lo, hi);
      }
      throw this.outOfRange(1);
    }
    if (this.len - this.pos > 4) {
      for (; i < 5; ++i) {
        hi = (hi | ((buf[this.pos]! & 127) << (i * 7 + 3))) >>> 0;
        if (buf[this.pos++]! < 128) return this.setLong(lo, hi);
      }
    } else {
      for (; i < 5; ++i) {
        if (this.pos >= this.len) throw this.outOfRange(1);
        hi = (hi | ((buf[this.pos]! & 127) << (i * 7 + 3))) >>> 0;
        if (buf[this.pos++]! < 128) return this.setLong(lo, hi);
      }
    }
    throw wireError('invalid varint encoding');
  }

  private setLong(lo: number, hi: number): void {
    this.lo = lo;
    this.hi = hi;
  }

  // ---- fixed-size ----

  /** A `fixed64` into `lo`/`hi`. */
  fixed64(): void {
    const pos = this.pos;
    if (pos + 8 > this.len) throw this.outOfRange(8);
    const buf = this.buf;
    this.lo = (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
    this.hi = (buf[pos + 4]! | (buf[pos + 5]! << 8) | (buf[pos + 6]! << 16) | (buf[pos + 7]! << 24)) >>> 0;
    this.pos = pos + 8;
  }

  double(): number {
    // protobufjs reports 4 bytes missing whatever the shortfall; kept for identical messages.
    if (this.pos + 8 > this.len) throw this.outOfRange(4);
    const value = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  // ---- length-delimited ----

  /** Passes over a `string`/`bytes` field; returns where its content starts (it ends at `pos`). */
  delimited(): number {
    const length = this.size();
    const start = this.pos;
    if (start + length > this.len) throw this.outOfRange(length);
    this.pos = start + length;
    return start;
  }

  /**
   * Enters an embedded message of `size` bytes at nesting `depth` (the request is 0): the
   * checks protobufjs' generated `decode` makes on entry, in its order. Returns the outer
   * `len`, which the caller puts back once `pos` reaches the message's end.
   */
  enter(size: number, depth: number): number {
    if (depth > this.recursionLimit) throw wireError('max depth exceeded');
    const end = this.pos + size;
    if (end > this.len) throw wireRangeError('index out of range');
    const outer = this.len;
    this.len = end;
    return outer;
  }

  /** Passes over a field this decoder does not read (protobufjs' `skipType`), groups included. */
  skipField(wireType: number, depth: number, fieldNumber: number): void {
    if (depth > this.recursionLimit) throw wireError('max depth exceeded');
    if (fieldNumber === 0) throw wireError('illegal tag: field number 0');
    switch (wireType) {
      case 0:
        do {
          if (this.pos >= this.len) throw this.outOfRange(1);
        } while (this.buf[this.pos++]! & 128);
        return;
      case 1:
        if (this.pos + 8 > this.len) throw this.outOfRange(8);
        this.pos += 8;
        return;
      case 2: {
        const length = this.size();
        if (this.pos + length > this.len) throw this.outOfRange(length || 1);
        this.pos += length;
        return;
      }
      case 3:
        for (;;) {
          const tag = this.tag();
          const nestedField = tag >>> 3;
          const nestedWireType = tag & 7;
          if (nestedField === 0) throw wireError('illegal tag: field number 0');
          if (nestedWireType === 4) {
            if (nestedField !== fieldNumber) throw wireError('invalid end group tag');
            return;
          }
          this.skipField(nestedWireType, depth + 1, nestedField);
        }
      case 5:
        if (this.pos + 4 > this.len) throw this.outOfRange(4);
        this.pos += 4;
        return;
      default:
        throw wireError('invalid wire type ' + wireType + ' at offset ' + this.pos);
    }
  }

  /** Walks a message none of whose fields is read (EntityRef: strings only, which skip alike). */
  skipMessage(depth: number): void {
    while (this.pos < this.len) {
      const tag = this.tag();
      this.skipField(tag & 7, depth, tag >>> 3);
    }
  }

  // ---- values ----

  /** UTF-8 with U+FFFD for invalid sequences, as protobufjs' BufferReader.string. */
  utf8(start: number, end: number): string {
    return start === end ? '' : this.native.utf8Slice(start, end);
  }

  /**
   * `utf8`, returning the string decoded last time from the same bytes when it is still
   * cached (texts up to MAX_SHARED_LENGTH bytes). For attribute keys and span names, which
   * repeat across spans and requests: a fresh string per occurrence costs a native call and,
   * as a property key, a string-table lookup per store, several times the cost of comparing
   * a few bytes. Equal bytes decode to equal strings, so the result is the same either way.
   */
  utf8Shared(start: number, end: number): string {
    const length = end - start;
    if (length === 0 || length > MAX_SHARED_LENGTH) return this.utf8(start, end);
    const buf = this.buf;
    const slot =
      (length * 31 + buf[start]! * 7 + buf[start + (length >> 1)]! * 5 + buf[end - 1]! * 3 + buf[end - 2 + (length === 1 ? 1 : 0)]!) & (SHARED_SLOTS - 1);
    if (sharedLengths[slot] === length) {
      // Four bytes at a time against the bytes the cached text was decoded from.
      const view = this.view;
      const base = slot * MAX_SHARED_LENGTH;
      let i = 0;
      while (i + 4 <= length && view.getInt32(start + i, true) === sharedBytesView.getInt32(base + i, true)) i += 4;
      if (i + 4 > length) {
        while (i < length && buf[start + i] === sharedBytes[base + i]) i++;
        if (i === length) return sharedTexts[slot]!;
      }
    }
    const text = this.native.utf8Slice(start, end);
    sharedTexts[slot] = text;
    sharedLengths[slot] = length;
    sharedBytes.set(buf.subarray(start, end), slot * MAX_SHARED_LENGTH);
    return text;
  }

  hex(start: number, end: number): string {
    return this.native.hexSlice(start, end);
  }

  base64(start: number, end: number): string {
    return start === end ? '' : this.native.base64Slice(start, end);
  }

  isAllZero(start: number, end: number): boolean {
    const buf = this.buf;
    for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
    return true;
  }
}
