import fc from 'fast-check';
import protobuf from 'protobufjs';
import type { MapOptions } from '../../src/receivers/span-mapper.js';

/**
 * Raw OTLP/protobuf for the decoder tests: builders that write any field with any wire type
 * in any order (no encoder would), and fast-check generators of whole requests made of them.
 */

// ---- raw protobuf building blocks ----

const writer = () => protobuf.Writer.create();
export const cat = (...parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);
export const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
export const utf8 = (text: string): Uint8Array => Buffer.from(text, 'utf8');

export const tag = (field: number, wireType: number): Uint8Array => writer().uint32(((field << 3) | wireType) >>> 0).finish();
export const varint = (field: number, value: number | bigint | string): Uint8Array => cat(tag(field, 0), writer().uint64(String(BigInt.asUintN(64, BigInt(value)))).finish());
export const delimited = (field: number, content: Uint8Array): Uint8Array => cat(tag(field, 2), writer().uint32(content.length).finish(), content);
export const text = (field: number, value: string | Uint8Array): Uint8Array => delimited(field, typeof value === 'string' ? utf8(value) : value);
export const message = (field: number, ...parts: Uint8Array[]): Uint8Array => delimited(field, cat(...parts));
export function fixed64(field: number, value: bigint): Uint8Array {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(BigInt.asUintN(64, value));
  return cat(tag(field, 1), out);
}
export function fixed32(field: number, value: number): Uint8Array {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value >>> 0);
  return cat(tag(field, 5), out);
}
export function double(field: number, value: number): Uint8Array {
  const out = Buffer.alloc(8);
  out.writeDoubleLE(value);
  return cat(tag(field, 1), out);
}
export const group = (field: number, ...parts: Uint8Array[]): Uint8Array => cat(tag(field, 3), ...parts, tag(field, 4));

// OTLP messages, by field number (proto/opentelemetry/proto/**)
export const resourceSpans = (...parts: Uint8Array[]) => message(1, ...parts);
export const resource = (...parts: Uint8Array[]) => message(1, ...parts);
export const scopeSpans = (...parts: Uint8Array[]) => message(2, ...parts);
export const scope = (...parts: Uint8Array[]) => message(1, ...parts);
export const span = (...parts: Uint8Array[]) => message(2, ...parts);
export const keyValue = (key: string | Uint8Array, ...value: Uint8Array[]) => cat(text(1, key), message(2, ...value));
export const spanAttribute = (key: string | Uint8Array, ...value: Uint8Array[]) => message(9, keyValue(key, ...value));
export const resourceAttribute = (key: string | Uint8Array, ...value: Uint8Array[]) => message(1, keyValue(key, ...value));
export const event = (...parts: Uint8Array[]) => message(11, ...parts);
export const link = (...parts: Uint8Array[]) => message(13, ...parts);
export const status = (...parts: Uint8Array[]) => message(15, ...parts);
// AnyValue members
export const stringValue = (value: string | Uint8Array) => text(1, value);
export const boolValue = (value: number | bigint) => varint(2, value);
export const intValue = (value: number | bigint) => varint(3, value);
export const doubleValue = (value: number) => double(4, value);
export const arrayValue = (...elements: Uint8Array[]) => message(5, ...elements.map((element) => message(1, element)));
export const kvlistValue = (...entries: Uint8Array[]) => message(6, ...entries.map((entry) => message(1, entry)));
export const bytesValue = (value: Uint8Array) => text(7, value);

export const TRACE_ID = Buffer.from('5b8efff798038103d269b633813fc60c', 'hex');
export const SPAN_ID = Buffer.from('eee19b7ec3c1b174', 'hex');
const START = fixed64(7, 1_700_000_000_123_456_789n);
const END = fixed64(8, 1_700_000_000_223_456_790n);
/** The fields a span needs to be stored. */
export const validSpanFields = (...more: Uint8Array[]) => [text(1, TRACE_ID), text(2, SPAN_ID), text(5, 'op'), START, END, ...more];

/** A one-span request (resource service.name=svc, scope "scope"), `parts` appended to a valid span. */
export function requestWithSpan(...parts: Uint8Array[]): Uint8Array {
  return resourceSpans(resource(resourceAttribute('service.name', stringValue('svc'))), scopeSpans(scope(text(1, 'scope')), span(...validSpanFields(...parts))));
}
/** A one-span request whose span is exactly `parts`. */
export function requestWithRawSpan(...parts: Uint8Array[]): Uint8Array {
  return resourceSpans(scopeSpans(scope(text(1, 'scope')), span(...parts)));
}

// ---- generators: every field any number of times, in any order, with stray fields between ----

/** Raw strings: text (any code units, so lone surrogates too) or arbitrary bytes (invalid UTF-8). */
const rawText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map(utf8) },
  { weight: 1, arbitrary: fc.string({ maxLength: 50 }).map(utf8) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8 }) },
);
const keyText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('k', 'dup', '__proto__', 'service.name', 'spanscore.project', '', 'toString', '1').map(utf8) },
  { weight: 1, arbitrary: rawText },
);
const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: 1_600_000_000_000_000_000n, max: 1_800_000_000_000_000_000n }),
  fc.constantFrom(0n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 32n),
);
const id = (length: number) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.uint8Array({ minLength: length, maxLength: length }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: length + 2 }) },
    { weight: 1, arbitrary: fc.constant(new Uint8Array(length)) },
  );
/** A field no decoder reads, or a read field with another wire type. */
const strayField = fc.oneof(
  fc.tuple(fc.integer({ min: 17, max: 40 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(([field, value]) => varint(field, value)),
  fc.tuple(fc.integer({ min: 1, max: 20 }), u64).map(([field, value]) => fixed64(field, value)),
  fc.tuple(fc.integer({ min: 1, max: 20 }), fc.nat()).map(([field, value]) => fixed32(field, value)),
  fc.tuple(fc.integer({ min: 17, max: 40 }), fc.uint8Array({ maxLength: 6 })).map(([field, value]) => text(field, value)),
  fc.integer({ min: 1, max: 40 }).map((field) => group(field, varint(1, 1), text(2, 'g'))),
);
/** Fields in any order (protobuf fixes none). */
const shuffled = (parts: fc.Arbitrary<Uint8Array[]>) => parts.chain((list) => fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length })).map((list) => cat(...list));
const some = <T>(arbitrary: fc.Arbitrary<T>, maxLength: number) => fc.array(arbitrary, { maxLength });

const { keyValueBytes } = fc.letrec<{ anyValue: Uint8Array; keyValueBytes: Uint8Array }>((tie) => ({
  // One or more members (the last one wins), occasionally a stray field.
  anyValue: shuffled(
    fc.array(
      fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        rawText.map(stringValue),
        fc.oneof(fc.constantFrom(0n, 1n, 2n ** 63n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(boolValue),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }).map(intValue),
        fc.double().map(doubleValue),
        fc.uint8Array({ maxLength: 10 }).map(bytesValue),
        some(tie('anyValue'), 3).map((elements) => arrayValue(...elements)),
        some(tie('keyValueBytes'), 3).map((entries) => kvlistValue(...entries)),
        strayField,
      ),
      { minLength: 0, maxLength: 2 },
    ),
  ),
  keyValueBytes: shuffled(fc.tuple(keyText.map((key) => text(1, key)), some(tie('anyValue').map((value) => delimited(2, value)), 2), some(keyText.map((key) => text(1, key)), 1)).map(([key, values, moreKeys]) => [key, ...values, ...moreKeys])),
}));
const attributeList = (field: number) => some(keyValueBytes.map((entry) => delimited(field, entry)), 4);

const eventBytes = shuffled(fc.tuple(some(u64.map((t) => fixed64(1, t)), 2), some(rawText.map((name) => text(2, name)), 2), attributeList(3), some(fc.nat().map((n) => varint(4, n)), 1), some(strayField, 1)).map((groups) => groups.flat()));
const linkBytes = shuffled(
  fc.tuple(some(id(16).map((b) => text(1, b)), 2), some(id(8).map((b) => text(2, b)), 2), some(rawText.map((s) => text(3, s)), 1), attributeList(4), some(fc.nat().map((n) => fixed32(6, n)), 1), some(strayField, 1)).map((groups) => groups.flat()),
);
const statusBytes = shuffled(fc.tuple(some(rawText.map((s) => text(2, s)), 2), some(fc.integer({ min: -2, max: 4 }).map((c) => varint(3, c)), 2), some(strayField, 1)).map((groups) => groups.flat()));
const spanBytes = shuffled(
  fc
    .tuple(
      id(16).map((b) => text(1, b)),
      id(8).map((b) => text(2, b)),
      fc.oneof({ weight: 6, arbitrary: rawText.filter((b) => b.length > 0) }, { weight: 1, arbitrary: rawText }).map((b) => text(5, b)),
      fc.array(
        fc.oneof(
          id(16).map((b) => text(1, b)),
          id(8).map((b) => text(2, b)),
          rawText.map((s) => text(3, s)),
          fc.oneof(fc.constant(new Uint8Array(0)), id(8)).map((b) => text(4, b)),
          rawText.map((s) => text(5, s)),
          fc.integer({ min: -1, max: 7 }).map((kind) => varint(6, kind)),
          u64.map((t) => fixed64(7, t)),
          u64.map((t) => fixed64(8, t)),
          attributeList(9).map((list) => cat(...list)),
          eventBytes.map((e) => delimited(11, e)),
          linkBytes.map((l) => delimited(13, l)),
          statusBytes.map((s) => delimited(15, s)),
          fc.tuple(fc.constantFrom(10, 12, 14), fc.nat()).map(([field, n]) => varint(field, n)),
          fc.nat().map((n) => fixed32(16, n)),
          strayField,
        ),
        { maxLength: 8 },
      ),
    )
    .map(([traceId, spanId, name, rest]) => [traceId, spanId, name, ...rest]),
);
const scopeBytes = shuffled(fc.tuple(some(rawText.map((s) => text(1, s)), 2), some(rawText.map((s) => text(2, s)), 1), attributeList(3), some(strayField, 1)).map((groups) => groups.flat()));
const resourceBytes = shuffled(fc.tuple(attributeList(1), some(fc.nat().map((n) => varint(2, n)), 1), some(fc.tuple(rawText, rawText).map(([a, b]) => message(3, text(1, a), text(3, b))), 1), some(strayField, 1)).map((groups) => groups.flat()));
const scopeSpansBytes = shuffled(fc.tuple(some(scopeBytes.map((s) => delimited(1, s)), 2), some(spanBytes.map((s) => delimited(2, s)), 4), some(strayField, 1)).map((groups) => groups.flat()));
const resourceSpansBytes = shuffled(fc.tuple(some(resourceBytes.map((r) => delimited(1, r)), 2), some(scopeSpansBytes.map((s) => delimited(2, s)), 3), some(rawText.map((s) => text(3, s)), 1), some(strayField, 1)).map((groups) => groups.flat()));
export const requestBytes = shuffled(fc.tuple(some(resourceSpansBytes.map((r) => delimited(1, r)), 3), some(strayField, 1)).map((groups) => groups.flat()));

export const mapOptions: fc.Arbitrary<MapOptions> = fc.record(
  {
    maxAttributeValueLength: fc.integer({ min: 0, max: 24 }),
    // Small enough for generated lists (up to 4 entries, 'dup' keys among them) to hit them.
    maxAttributesPerSpan: fc.integer({ min: 0, max: 4 }),
    maxSpanAttributesBytes: fc.integer({ min: 0, max: 40 }),
    project: fc.constantFrom('', 'header-project'),
    instanceId: fc.constantFrom('', 'replica-1'),
  },
  { requiredKeys: [] },
);
