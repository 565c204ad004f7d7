import fc from 'fast-check';
import protobuf from 'protobufjs';
import protojson from 'protobufjs/ext/protojson.js';
import { truncationMarker } from '../../src/receivers/attribute-values.js';
import { DecodeError } from '../../src/receivers/decode-error.js';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';
import type { MappedSpans } from '../../src/receivers/span-mapper.js';

/** Generators and checks shared by the OTLP decoder fuzz tests. */

export const FUZZ_SEED = 20_261_126;
/** Small, so that generated strings often pass it. */
export const FUZZ_VALUE_LIMIT = 64;

/** Any code point, or half of a surrogate pair alone (which has no UTF-8 form). */
const codeUnitsToo = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit)) },
);

function text(characters: 'well-formed' | 'any'): fc.Arbitrary<string> {
  const unit = characters === 'any' ? codeUnitsToo : 'grapheme';
  return fc.oneof({ weight: 4, arbitrary: fc.string({ unit, maxLength: 12 }) }, { weight: 1, arbitrary: fc.string({ unit, minLength: 60, maxLength: 150 }) });
}

/**
 * Plain objects for `Type.fromObject`: every AnyValue kind, nested arrays and kvlists, odd
 * ids; strings of well-formed Unicode, or of `any` code units (lone surrogates included).
 */
export function requestObjects(characters: 'well-formed' | 'any' = 'well-formed'): fc.Arbitrary<Record<string, unknown>> {
  const unit = characters;
  const values = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({ stringValue: text(unit) }),
      fc.record({ boolValue: fc.boolean() }),
      fc.record({ intValue: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) }),
      // -0 is left out: ProtoJSON writes it as 0, which would fail the protobuf/JSON comparison.
      fc.record({ doubleValue: fc.double().map((d) => (Object.is(d, -0) ? 0 : d)) }),
      fc.record({ bytesValue: fc.uint8Array({ maxLength: 12 }) }),
      fc.record({ arrayValue: fc.record({ values: fc.array(tie('value'), { maxLength: 3 }) }) }),
      fc.record({ kvlistValue: fc.record({ values: fc.array(tie('keyValue'), { maxLength: 3 }) }) }),
      fc.constant({}),
    ),
    // Some keys repeat, for the duplicate and attribute-limit rules.
    keyValue: fc.record({ key: fc.oneof({ weight: 3, arbitrary: text(unit) }, { weight: 1, arbitrary: fc.constantFrom('dup', 'k') }), value: tie('value') }, { requiredKeys: ['key'] }),
  }));
  const attributes = fc.array(values.keyValue as fc.Arbitrary<Record<string, unknown>>, { maxLength: 4 });
  const id = (bytes: number) => fc.oneof({ weight: 6, arbitrary: fc.uint8Array({ minLength: bytes, maxLength: bytes }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: bytes + 2 }) });
  const time = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
  const span = fc.record(
    {
      traceId: id(16),
      spanId: id(8),
      parentSpanId: fc.oneof(fc.constant(new Uint8Array(0)), id(8)),
      traceState: text(unit),
      name: text(unit),
      kind: fc.integer({ min: 0, max: 7 }),
      startTimeUnixNano: time,
      endTimeUnixNano: time,
      attributes,
      events: fc.array(fc.record({ timeUnixNano: time, name: text(unit), attributes }), { maxLength: 2 }),
      links: fc.array(fc.record({ traceId: id(16), spanId: id(8), traceState: text(unit), attributes }), { maxLength: 2 }),
      status: fc.record({ code: fc.integer({ min: 0, max: 3 }), message: text(unit) }),
    },
    { requiredKeys: ['traceId', 'spanId', 'name'] },
  );
  const scopeSpans = fc.record({ scope: fc.record({ name: text(unit), version: text(unit), attributes }), spans: fc.array(span, { maxLength: 3 }) });
  const resourceSpans = fc.record({ resource: fc.record({ attributes }), scopeSpans: fc.array(scopeSpans, { maxLength: 2 }) });
  return fc.record({ resourceSpans: fc.array(resourceSpans, { maxLength: 2 }) });
}

export function encodeObject(request: Record<string, unknown>): Buffer {
  const type = otlpSchema().exportTraceServiceRequest;
  return Buffer.from(type.encode(type.fromObject(request)).finish());
}

const ID_FIELDS = ['traceId', 'spanId', 'parentSpanId'];

/** OTLP/JSON of a request: ProtoJSON, except that trace and span ids are hex. */
export function toOtlpJson(request: Record<string, unknown>): string {
  const type = otlpSchema().exportTraceServiceRequest;
  const json = protojson.toJson(type, type.fromObject(request)) as { resourceSpans?: { scopeSpans?: { spans?: Record<string, unknown>[] }[] }[] };
  const hex = (holder: Record<string, unknown>) => {
    for (const field of ID_FIELDS) {
      if (typeof holder[field] === 'string') holder[field] = Buffer.from(holder[field], 'base64').toString('hex');
    }
  };
  for (const resource of json.resourceSpans ?? []) {
    for (const scope of resource.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        hex(span);
        for (const link of (span.links as Record<string, unknown>[] | undefined) ?? []) hex(link);
      }
    }
  }
  return JSON.stringify(json);
}

/** Offsets and sizes of every length prefix in a message (read as nested messages where that parses). */
export function lengthPrefixes(bytes: Uint8Array): { at: number; size: number }[] {
  const found: { at: number; size: number }[] = [];
  const reader = protobuf.Reader.create(bytes);
  // One reader for the whole buffer, its end moved in and out for nested messages.
  const walk = (start: number, end: number, depth: number): void => {
    const outerEnd = reader.len;
    reader.pos = start;
    reader.len = end;
    try {
      while (reader.pos < end) {
        const tag = reader.uint32();
        const wireType = tag & 7;
        if (wireType !== 2) {
          reader.skipType(wireType);
          continue;
        }
        const at = reader.pos;
        const length = reader.uint32();
        found.push({ at, size: reader.pos - at });
        const body = reader.pos;
        reader.skip(length);
        if (depth < 20) {
          walk(body, body + length, depth + 1);
          reader.pos = body + length;
        }
      }
    } catch {
      // not a message after all (a string or bytes field): its prefixes were still recorded
    } finally {
      reader.len = outerEnd;
    }
  };
  walk(0, bytes.length, 0);
  return found;
}

/** A varint that lies: larger, smaller, absurd, negative as int32, or in an overlong encoding. */
export const lyingLength = fc.oneof(
  fc.integer({ min: 0, max: 300 }).map((n) => protobuf.Writer.create().uint32(n).finish()),
  fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff).map((n) => protobuf.Writer.create().uint32(n).finish()),
  fc.constant(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
  fc.constant(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80])),
  fc.constant(Uint8Array.from([0x85, 0x80, 0x80, 0x00])),
);

/** Byte-level mutations of `base`, driven by generated numbers (fractions of the length). */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number; count: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'splice'; at: number; other: Uint8Array; from: number }
  | { kind: 'length'; which: number; value: Uint8Array };

const fraction = fc.double({ min: 0, max: 1, noNaN: true });

export const mutations: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fraction, bit: fc.integer({ min: 0, max: 7 }), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fraction }),
  fc.record({ kind: fc.constant('insert' as const), at: fraction, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fraction, length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fraction, length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fraction, other: fc.uint8Array({ maxLength: 64 }), from: fraction }),
  fc.record({ kind: fc.constant('length' as const), which: fraction, value: lyingLength }),
);

export function mutate(base: Buffer, mutation: Mutation, otherValid?: Buffer): Buffer {
  const at = (f: number) => Math.min(base.length, Math.floor(f * (base.length + 1)));
  switch (mutation.kind) {
    case 'flip': {
      const copy = Buffer.from(base);
      if (copy.length === 0) return copy;
      for (let i = 0; i < mutation.count; i++) copy[(at(mutation.at) + i * 7) % copy.length]! ^= 1 << mutation.bit;
      return copy;
    }
    case 'truncate':
      return base.subarray(0, at(mutation.at));
    case 'insert':
      return Buffer.concat([base.subarray(0, at(mutation.at)), mutation.bytes, base.subarray(at(mutation.at))]);
    case 'delete':
      return Buffer.concat([base.subarray(0, at(mutation.at)), base.subarray(at(mutation.at) + mutation.length)]);
    case 'duplicate': {
      const start = at(mutation.at);
      return Buffer.concat([base.subarray(0, start + mutation.length), base.subarray(start)]);
    }
    case 'splice': {
      const donor = otherValid !== undefined && otherValid.length > 0 ? otherValid.subarray(Math.floor(mutation.from * otherValid.length)) : mutation.other;
      return Buffer.concat([base.subarray(0, at(mutation.at)), donor]);
    }
    case 'length': {
      const prefixes = lengthPrefixes(base);
      if (prefixes.length === 0) return base;
      const { at: offset, size } = prefixes[Math.min(prefixes.length - 1, Math.floor(mutation.which * prefixes.length))]!;
      return Buffer.concat([base.subarray(0, offset), mutation.value, base.subarray(offset + size)]);
    }
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const HEX_ID = /^(?:[0-9a-f]{32})$/;
const SPAN_ID = /^(?:[0-9a-f]{16})$/;
const MAX_STORED_VALUE = FUZZ_VALUE_LIMIT + truncationMarker(Number.MAX_SAFE_INTEGER).length;

/** Plain checks, not `expect`: they run for every field of every generated row. */
function check(condition: boolean, what: string, value: unknown): void {
  if (!condition) throw new Error(`${what}: ${JSON.stringify(value)?.slice(0, 200)}`);
}

/** What every accepted request must map to: rows the storage can take, values within the limit. */
export function expectWellFormed(mapped: MappedSpans): void {
  check(mapped.rejectReasons.length <= 10 && mapped.rejectReasons.length <= mapped.rejected, 'reject reasons', mapped.rejectReasons);
  const checkMap = (map: Record<string, string>) => {
    for (const [key, value] of Object.entries(map)) {
      check(typeof value === 'string' && value.length <= MAX_STORED_VALUE, 'attribute value within the limit', value);
      check(!LONE_SURROGATE.test(value) && !LONE_SURROGATE.test(key), 'attribute is valid Unicode', [key, value]);
    }
  };
  for (const row of mapped.rows) {
    for (const [field, value] of Object.entries(row)) {
      if (typeof value === 'string') check(!LONE_SURROGATE.test(value), `${field} is valid Unicode`, value);
    }
    check(HEX_ID.test(row.TraceId), 'TraceId', row.TraceId);
    check(SPAN_ID.test(row.SpanId), 'SpanId', row.SpanId);
    check(row.ParentSpanId === '' || SPAN_ID.test(row.ParentSpanId), 'ParentSpanId', row.ParentSpanId);
    check(/^\d+$/.test(row.Timestamp) && /^\d+$/.test(row.Duration), 'times', [row.Timestamp, row.Duration]);
    check(row.SpanName.length > 0, 'SpanName', row.SpanName);
    checkMap(row.SpanAttributes);
    checkMap(row.ResourceAttributes);
    for (const event of row.Events) checkMap(event.Attributes);
    for (const link of row.Links) checkMap(link.Attributes);
    JSON.stringify(row);
  }
}

/**
 * Runs one decode: it must map without throwing, or throw `DecodeError` (the receivers'
 * 400 / INVALID_ARGUMENT) and nothing else, in bounded time.
 */
export function expectDecodedOrRefused(decode: () => MappedSpans, maxMs = 2000): 'accepted' | 'refused' {
  const started = performance.now();
  let outcome: 'accepted' | 'refused';
  try {
    expectWellFormed(decode());
    outcome = 'accepted';
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
    check(error.message.length > 0, 'DecodeError message', error.message);
    outcome = 'refused';
  }
  const elapsed = performance.now() - started;
  check(elapsed < maxMs, 'decoding time (ms)', elapsed);
  return outcome;
}
