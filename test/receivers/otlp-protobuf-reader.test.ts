import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { MAX_NESTING_DEPTH } from '../../src/receivers/attribute-values.js';
import { DecodeError } from '../../src/receivers/decode-error.js';
import { decodeProtobufReference as decodeProtobuf } from '../../src/receivers/otlp-decoder.js';
import type { MapOptions, MappedSpans } from '../../src/receivers/span-mapper.js';
import { decodeProtobufFast } from '../../src/receivers/span-row-reader.js';
import { cappedSchema, OTLP_RECURSION_LIMIT } from '../../src/receivers/value-nesting.js';
import { encodeObject, FUZZ_SEED, lengthPrefixes, mutate, mutations, requestObjects } from './otlp-fuzz-arbitraries.js';
import { protobufDepthBomb } from './hostile-payloads.js';
import { encodeRequest, goodProtobufRequest, requestObject, spanObject } from './receiver-test-kit.js';
import {
  arrayValue,
  boolValue,
  bytes,
  bytesValue,
  cat,
  delimited,
  double,
  doubleValue,
  event,
  fixed32,
  fixed64,
  group,
  intValue,
  keyValue,
  kvlistValue,
  link,
  mapOptions,
  message,
  requestBytes,
  requestWithRawSpan,
  requestWithSpan,
  resource,
  resourceAttribute,
  resourceSpans,
  scope,
  scopeSpans,
  span,
  SPAN_ID,
  spanAttribute,
  status,
  stringValue,
  tag,
  text,
  TRACE_ID,
  utf8,
  validSpanFields,
  varint,
} from './otlp-protobuf-kit.js';

/**
 * The hand-written OTLP/protobuf decoder against the reference path (protobufjs decode +
 * mapExportRequest): for every input, the same MappedSpans (deep equality, and the same
 * JSON, so key order and `__proto__` keys count), or both a DecodeError with the same text.
 */

// ---- the comparison ----

type Outcome = 'accepted' | 'refused';

function attempt(decode: () => MappedSpans): { value: MappedSpans } | { error: unknown } {
  try {
    return { value: decode() };
  } catch (error) {
    return { error };
  }
}

function describeError(error: unknown): Record<string, unknown> {
  const cause = error instanceof Error ? error.cause : undefined;
  return {
    isDecodeError: error instanceof DecodeError,
    message: error instanceof Error ? error.message : String(error),
    causeClass: cause instanceof Error ? cause.constructor.name : typeof cause,
  };
}

type Decode = (body: Uint8Array, options?: MapOptions) => MappedSpans;

/** Both decoders on `bytes`: the same rows, counts and reasons, or the same DecodeError. */
function expectSame(bytes: Uint8Array, options?: MapOptions, candidate: Decode = decodeProtobufFast): Outcome {
  const expected = attempt(() => decodeProtobuf(bytes, options));
  const actual = attempt(() => candidate(bytes, options));
  if ('error' in expected) {
    // The reference refuses only with DecodeError: anything else is a broken test input.
    expect(expected.error).toBeInstanceOf(DecodeError);
    expect('error' in actual ? describeError(actual.error) : { accepted: actual.value }).toEqual(describeError(expected.error));
    return 'refused';
  }
  if ('error' in actual) throw new Error(`fast path refused what the reference accepted: ${String(actual.error)}`, { cause: actual.error });
  expect(actual.value).toEqual(expected.value);
  expect(JSON.stringify(actual.value)).toBe(JSON.stringify(expected.value));
  return 'accepted';
}

/** A request with every kind of field the decoder reads, for the exhaustive corruption tests. */
function richRequest(): Uint8Array {
  return cat(
    resourceSpans(
      resource(resourceAttribute('service.name', stringValue('svc')), resourceAttribute('n', intValue(-5n)), varint(2, 3), message(3, text(1, 'url'), text(3, 'k'))),
      scopeSpans(
        scope(text(1, 'sc'), text(2, '1.0'), message(3, keyValue('sa', boolValue(1))), varint(4, 1)),
        span(
          ...validSpanFields(
            text(3, 'ts=1'),
            text(4, Buffer.from('0102030405060708', 'hex')),
            varint(6, 3),
            spanAttribute('s', stringValue('héllo')),
            spanAttribute('d', doubleValue(2.5)),
            spanAttribute('b', bytesValue(bytes(0, 1, 254))),
            spanAttribute('a', arrayValue(stringValue('x'), intValue(7), kvlistValue(keyValue('k', doubleValue(NaN))))),
            varint(10, 2),
            event(fixed64(1, 5n), text(2, 'ev'), message(3, keyValue('ea', intValue(1))), varint(4, 1)),
            varint(12, 1),
            link(text(1, TRACE_ID), text(2, SPAN_ID), text(3, 'lt'), message(4, keyValue('la', stringValue('v'))), varint(5, 1), fixed32(6, 1)),
            varint(14, 1),
            status(text(2, 'fine'), varint(3, 1)),
            fixed32(16, 0x301),
          ),
        ),
        span(text(1, TRACE_ID), text(2, bytes(1, 2, 3)), text(5, 'short-id')),
      ),
      text(3, 'schema'),
    ),
  );
}

describe('decodeProtobufFast matches decodeProtobuf', () => {
  it('tells a difference when there is one (the comparison itself can fail)', () => {
    const good = requestWithSpan(spanAttribute('a', intValue(1)), spanAttribute('b', intValue(2)));
    const truncated = good.subarray(0, 9);
    expect(expectSame(good)).toBe('accepted');
    expect(expectSame(truncated)).toBe('refused');
    const altered = (change: (mapped: MappedSpans) => void): Decode => (body, options) => {
      const mapped = decodeProtobufFast(body, options);
      change(mapped);
      return mapped;
    };
    // a value, a count, the order of keys (equal objects, different JSON)
    expect(() => expectSame(good, {}, altered((m) => (m.rows[0]!.SpanAttributes.a = '2')))).toThrow();
    expect(() => expectSame(good, {}, altered((m) => m.truncatedValues++))).toThrow();
    expect(() => expectSame(good, {}, altered((m) => (m.rows[0]!.SpanAttributes = { b: '2', a: '1' })))).toThrow();
    // refusals: another text, another error class, or none
    const refusing = (message: string, error: Error = new DecodeError(message)): Decode => () => {
      throw error;
    };
    expect(() => expectSame(truncated, {}, refusing('request body is not a protobuf ExportTraceServiceRequest: other'))).toThrow();
    expect(() => expectSame(truncated, {}, refusing('', new Error(describeError(attempt(() => decodeProtobuf(truncated))).message as string)))).toThrow();
    expect(() => expectSame(truncated, {}, () => ({ rows: [], rejected: 0, rejectReasons: [], truncatedValues: 0, droppedAttributes: 0 }))).toThrow();
    expect(() => expectSame(good, {}, refusing('x'))).toThrow();
  });

  it('maps the bench requests (LLM spans) and the test kit requests identically', async () => {
    const { buildLlmSpanRequests } = await import('../../bench/llm-span-request.js');
    for (const request of buildLlmSpanRequests(3, 200)) expect(expectSame(request)).toBe('accepted');
    expect(expectSame(richRequest())).toBe('accepted');
    expect(decodeProtobufFast(richRequest()).rows).toHaveLength(1);
    expect(expectSame(goodProtobufRequest())).toBe('accepted');
    expect(expectSame(encodeRequest(requestObject([spanObject({ attributes: [{ key: 'k', value: { arrayValue: { values: [{ intValue: 1 }] } } }], status: { code: 2 } })])))).toBe('accepted');
  });

  it('decodes nested values with protobufjs types not yet set up (the daemon decodes nothing else)', () => {
    const keyValueType = cappedSchema().root.lookupType('opentelemetry.proto.common.v1.KeyValue');
    // Back to protobufjs' lazy `decode`, which generates the decoder on first use.
    delete (keyValueType as unknown as { decode?: unknown }).decode;
    expect(Object.hasOwn(keyValueType, 'decode')).toBe(false);
    const request = requestWithSpan(spanAttribute('nested', arrayValue(intValue(1), stringValue('x'))));
    expect(decodeProtobufFast(request).rows[0]!.SpanAttributes).toEqual({ nested: '[1,"x"]' });
    expect(expectSame(request)).toBe('accepted');
  });

  it('accepts an empty body and a Uint8Array view at an offset', () => {
    expect(expectSame(new Uint8Array(0))).toBe('accepted');
    const padded = cat(bytes(0xff, 0xff, 0xff), requestWithSpan(), bytes(0xff));
    const view = new Uint8Array(padded.buffer, padded.byteOffset + 3, padded.length - 4);
    expect(expectSame(view)).toBe('accepted');
    expect(decodeProtobufFast(view).rows).toHaveLength(1);
  });

  describe('unknown fields and wire types', () => {
    const unknowns: [string, Uint8Array][] = [
      ['varint', varint(99, 12345)],
      ['long varint (12 bytes, fine when unknown)', cat(tag(99, 0), bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01))],
      ['fixed64', fixed64(99, 1n)],
      ['fixed32', fixed32(99, 1)],
      ['length-delimited', text(99, 'whatever')],
      ['group', group(99, varint(1, 1), text(2, 'x'), group(3, fixed32(1, 2)))],
      ['empty group', group(20, new Uint8Array(0))],
      ['group with a mismatched end', cat(tag(99, 3), varint(1, 1), tag(98, 4))],
      ['unterminated group', cat(tag(99, 3), varint(1, 1))],
      ['group holding field 0', cat(tag(99, 3), bytes(0x00), tag(99, 4))],
      ['stray end group', tag(99, 4)],
      ['wire type 6', cat(tag(99, 6), bytes(1, 2, 3))],
      ['wire type 7', cat(tag(99, 7), bytes(1, 2, 3))],
      ['field number 0, varint', bytes(0x00, 0x01)],
      ['field number 0, length-delimited', bytes(0x02, 0x00)],
      ['field number 0, end group', bytes(0x04)],
      ['a large field number', varint(536_870_911, 1)],
      ['a 5-byte tag', cat(bytes(0xf8, 0xff, 0xff, 0xff, 0x0f), bytes(1))],
      ['a tag with bits beyond 32', cat(bytes(0xf8, 0xff, 0xff, 0xff, 0x1f), bytes(1))],
      ['a tag of 6 bytes', cat(bytes(0x88, 0x80, 0x80, 0x80, 0x80, 0x00), bytes(1))],
      ['an overlong tag for field 1 (length-delimited)', cat(bytes(0x8a, 0x80, 0x80, 0x80, 0x00), bytes(0))],
      ['a truncated varint', cat(tag(99, 0), bytes(0x80))],
      ['a truncated fixed64', cat(tag(99, 1), bytes(1, 2, 3))],
      ['a truncated fixed32', cat(tag(99, 5), bytes(1))],
      ['a length past the end', cat(tag(99, 2), bytes(50, 1, 2))],
    ];
    // Every level of the message tree, each reached by a path of holders.
    const places: [string, (unknown: Uint8Array) => Uint8Array][] = [
      ['request', (u) => cat(u, requestWithSpan())],
      ['request, last', (u) => cat(requestWithSpan(), u)],
      ['resource spans', (u) => resourceSpans(u, scopeSpans(span(...validSpanFields())))],
      ['resource', (u) => resourceSpans(resource(u, resourceAttribute('service.name', stringValue('svc'))), scopeSpans(span(...validSpanFields())))],
      ['entity ref', (u) => resourceSpans(resource(message(3, u)), scopeSpans(span(...validSpanFields())))],
      ['scope spans', (u) => resourceSpans(scopeSpans(u, span(...validSpanFields())))],
      ['scope', (u) => resourceSpans(scopeSpans(scope(u, text(1, 's')), span(...validSpanFields())))],
      ['scope attribute', (u) => resourceSpans(scopeSpans(scope(message(3, cat(u, text(1, 'k')))), span(...validSpanFields())))],
      ['span', (u) => requestWithSpan(u)],
      ['span, first', (u) => requestWithRawSpan(u, ...validSpanFields())],
      ['attribute', (u) => requestWithSpan(message(9, cat(text(1, 'k'), u, message(2, stringValue('v')))))],
      ['attribute value', (u) => requestWithSpan(spanAttribute('k', stringValue('v'), u))],
      ['nested value', (u) => requestWithSpan(spanAttribute('k', arrayValue(cat(u, intValue(1)))))],
      ['event', (u) => requestWithSpan(event(u, text(2, 'e')))],
      ['link', (u) => requestWithSpan(link(u))],
      ['status', (u) => requestWithSpan(status(u, varint(3, 2)))],
    ];
    for (const [placeName, place] of places) {
      it(`in the ${placeName}`, () => {
        const outcomes = unknowns.map(([name, unknown]) => [name, expectSame(place(unknown))]);
        // Sanity: the harmless kinds are accepted and the broken ones refused, at every level.
        expect(Object.fromEntries(outcomes)).toMatchObject({ varint: 'accepted', group: 'accepted', 'wire type 6': 'refused', 'field number 0, varint': 'refused' });
      });
    }
  });

  it('skips known fields sent with another wire type (packed-style included)', () => {
    const wrong = [
      varint(1, 5), fixed32(2, 1), varint(3, 1), fixed64(4, 1n), varint(5, 1), text(6, bytes(3)), text(7, bytes(1, 2)), varint(8, 9),
      varint(9, 1), text(10, bytes(1, 2)), varint(11, 1), fixed32(12, 1), varint(13, 1), text(14, bytes(1)), varint(15, 1), varint(16, 1),
    ];
    for (const field of wrong) expect(expectSame(requestWithSpan(field))).toBe('accepted');
    expect(expectSame(requestWithSpan(spanAttribute('k', varint(1, 1), fixed32(3, 1), varint(4, 1), fixed64(5, 1n), varint(7, 1))))).toBe('accepted');
    expect(expectSame(cat(varint(1, 1), requestWithSpan()))).toBe('accepted');
    expect(expectSame(resourceSpans(varint(1, 1), fixed64(2, 1n), scopeSpans(varint(1, 1), fixed32(2, 1), span(...validSpanFields()))))).toBe('accepted');
    expect(expectSame(requestWithSpan(status(varint(2, 1), fixed64(3, 1n)), event(varint(1, 1), varint(2, 1), varint(3, 1)), link(varint(1, 1), varint(2, 1), varint(4, 1), varint(6, 1))))).toBe('accepted');
  });

  it('keeps the last of repeated scalars, merges repeated sub-messages', () => {
    const otherTrace = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');
    const cases = [
      requestWithSpan(text(1, otherTrace)),
      requestWithSpan(text(1, new Uint8Array(0))), // a later empty id clears the earlier one
      requestWithSpan(text(5, 'renamed'), text(5, 'again')),
      requestWithSpan(text(5, '')),
      requestWithSpan(varint(6, 2), varint(6, 0)),
      requestWithSpan(varint(6, 2), varint(6, 4)),
      requestWithSpan(fixed64(7, 0n)),
      requestWithSpan(fixed64(7, 1n), fixed64(8, 3n), fixed64(7, 2n)),
      requestWithSpan(text(3, 'a'), text(3, 'b'), text(4, SPAN_ID), text(4, new Uint8Array(0))),
      requestWithSpan(status(text(2, 'first'), varint(3, 2)), status(varint(3, 1)), status(text(2, ''))),
      requestWithSpan(status(varint(3, 2)), status(text(2, 'message only'))),
      requestWithSpan(event(text(2, 'a'), text(2, 'b'), fixed64(1, 9n), fixed64(1, 8n))),
      requestWithSpan(link(text(1, TRACE_ID), text(1, new Uint8Array(0)), text(2, SPAN_ID), text(3, 'x'), text(3, 'y'))),
      // resource and scope occurrences merge: attributes add up, the last name/version wins
      resourceSpans(
        resource(resourceAttribute('service.name', stringValue('first'))),
        scopeSpans(scope(text(1, 'a'), text(2, 'v1')), span(...validSpanFields()), scope(text(2, 'v2'))),
        resource(resourceAttribute('service.name', stringValue('second')), resourceAttribute('extra', intValue(1))),
      ),
      resourceSpans(scopeSpans(scope(text(1, 'a')), scope(text(1, '')), span(...validSpanFields()))),
      // the resource after its spans, twice over
      cat(resourceSpans(scopeSpans(span(...validSpanFields())), resource(resourceAttribute('service.name', stringValue('late'))))),
      // two requests concatenated are one request
      cat(requestWithSpan(), requestWithSpan(text(5, 'second'))),
    ];
    for (const request of cases) expect(expectSame(request)).toBe('accepted');
  });

  it('follows protobufjs for repeated and mixed AnyValue members (the last wins, nested ones merge)', () => {
    const values: Uint8Array[][] = [
      [stringValue('a'), intValue(5)],
      [intValue(5), stringValue('a')],
      [boolValue(1), bytesValue(bytes(1, 2))],
      [bytesValue(bytes(1)), bytesValue(new Uint8Array(0))],
      [stringValue('a'), arrayValue(intValue(1))],
      [arrayValue(intValue(1)), stringValue('a')],
      [arrayValue(intValue(1)), arrayValue(intValue(2))],
      [kvlistValue(keyValue('a', intValue(1))), kvlistValue(keyValue('a', intValue(2)), keyValue('b', boolValue(0)))],
      [arrayValue(intValue(1)), kvlistValue(keyValue('a', intValue(1))), arrayValue(intValue(2))],
      [doubleValue(1.5), boolValue(0)],
      [stringValue('a'), stringValue('')],
      [],
    ];
    for (const value of values) expect(expectSame(requestWithSpan(spanAttribute('k', ...value)))).toBe('accepted');
    // the `value` field of one KeyValue, twice: protobufjs merges the second into the first
    const twice = (first: Uint8Array, second: Uint8Array) => requestWithSpan(message(9, cat(text(1, 'k'), message(2, first), message(2, second))));
    const pairs: [Uint8Array, Uint8Array][] = [
      [stringValue('a'), intValue(1)],
      [stringValue('a'), new Uint8Array(0)],
      [arrayValue(intValue(1)), arrayValue(intValue(2))],
      [arrayValue(intValue(1)), stringValue('b')],
      [stringValue('b'), kvlistValue(keyValue('x', stringValue('y')))],
      [kvlistValue(keyValue('x', stringValue('y'))), kvlistValue(keyValue('x', stringValue('z')))],
    ];
    for (const [first, second] of pairs) expect(expectSame(twice(first, second))).toBe('accepted');
    // keys repeated inside one KeyValue: the last wins, an empty one included
    expect(expectSame(requestWithSpan(message(9, cat(text(1, 'a'), text(1, 'b'), message(2, intValue(1))))))).toBe('accepted');
    expect(expectSame(requestWithSpan(message(9, cat(text(1, 'a'), message(2, intValue(1)), text(1, '')))))).toBe('accepted');
    expect(expectSame(requestWithSpan(message(9, new Uint8Array(0)), message(9, message(2, intValue(1)))))).toBe('accepted');
  });

  it('renders every scalar kind like the mapper (ints, doubles, bools, bytes)', () => {
    const ints = [0n, 1n, -1n, 127n, 128n, 2n ** 31n, -(2n ** 31n), 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n];
    const doubles = [0, -0, 1.5, -2.25, 0.1, 1e21, 1e-7, 123456789012345680000, Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity];
    const attributes = [
      ...ints.map((value, i) => spanAttribute(`i${i}`, intValue(value))),
      ...doubles.map((value, i) => spanAttribute(`d${i}`, doubleValue(value))),
      spanAttribute('t', boolValue(1)),
      spanAttribute('f', boolValue(0)),
      spanAttribute('t2', boolValue(2n ** 63n)), // only the high bits set: still true
      spanAttribute('t3', cat(tag(2, 0), bytes(0x80, 0x80, 0x00))), // overlong zero: false
      spanAttribute('b', bytesValue(bytes(0, 255, 128, 7))),
      spanAttribute('b0', bytesValue(new Uint8Array(0))),
      spanAttribute('nan-in-array', arrayValue(doubleValue(1), doubleValue(NaN))),
      spanAttribute('inf-in-kvlist', kvlistValue(keyValue('x', doubleValue(-Infinity)))),
      spanAttribute('mixed', kvlistValue(keyValue('z', bytesValue(bytes(1))), keyValue('a', arrayValue(new Uint8Array(0), boolValue(1))), keyValue('<&>', stringValue('"\u2028'))))
    ];
    expect(expectSame(requestWithSpan(...attributes))).toBe('accepted');
    expect(expectSame(requestWithSpan(...attributes), { maxAttributeValueLength: 3 })).toBe('accepted');
  });

  it('refuses malformed varints and numbers as protobufjs does', () => {
    const cases = [
      spanAttribute('k', cat(tag(3, 0), bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))), // int64 of 11 bytes
      spanAttribute('k', cat(tag(2, 0), bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00))), // bool of 11 bytes
      cat(tag(6, 0), bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)), // kind of 11 bytes
      cat(tag(6, 0), bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)), // kind -1 (10 bytes): fine
      cat(tag(10, 0), bytes(0xff, 0xff, 0xff, 0xff, 0x7f)),
    ];
    for (const field of cases) expectSame(requestWithSpan(field));
    // numbers cut by the end of their message, at every length
    const tails = [
      cat(tag(3, 0), bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)),
      cat(tag(2, 0), bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)),
      double(4, Math.PI),
    ];
    for (const tail of tails) {
      for (let cut = 1; cut <= tail.length; cut++) expectSame(requestWithSpan(spanAttribute('k', tail.subarray(0, cut))));
    }
    for (const field of [fixed64(7, 5n), fixed32(16, 1), cat(tag(6, 0), bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))]) {
      for (let cut = 1; cut <= field.length; cut++) expectSame(requestWithRawSpan(...validSpanFields(), field.subarray(0, cut)));
    }
  });

  it('refuses lying and malformed length prefixes as protobufjs does', () => {
    const good = requestWithSpan(spanAttribute('k', stringValue('value')));
    const lengths = [
      bytes(0x00), bytes(0x7f), bytes(0xff, 0x7f), bytes(0xff, 0xff, 0xff, 0xff, 0x07), bytes(0xff, 0xff, 0xff, 0xff, 0x08),
      bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x01), bytes(0x85, 0x80, 0x80, 0x00), bytes(0x80), bytes(0x80, 0x80, 0x80, 0x80),
    ];
    // Rewrite each length prefix of the request (those of nested messages included).
    const prefixes = lengthPrefixes(Buffer.from(good)).map(({ at }) => at);
    expect(prefixes.length).toBeGreaterThan(5);
    const outcomes = new Set<Outcome>();
    for (const at of prefixes) {
      const prefixReader = protobuf.Reader.create(Buffer.from(good.subarray(at)));
      prefixReader.uint32();
      for (const length of lengths) outcomes.add(expectSame(cat(good.subarray(0, at), length, good.subarray(at + prefixReader.pos))));
    }
    expect([...outcomes].sort()).toEqual(['accepted', 'refused']);
  });

  it('checks ids, names and times like the mapper, in its order, with its reasons', () => {
    const zeroTrace = new Uint8Array(16);
    const zeroSpan = new Uint8Array(8);
    const late = fixed64(7, 2n ** 63n);
    const spans = [
      [text(2, SPAN_ID), text(5, 'no trace id')],
      [text(1, TRACE_ID.subarray(0, 15)), text(2, SPAN_ID), text(5, 'n')],
      [text(1, cat(TRACE_ID, bytes(1))), text(2, SPAN_ID), text(5, 'n')],
      [text(1, zeroTrace), text(2, SPAN_ID), text(5, 'n')],
      [text(1, TRACE_ID), text(5, 'no span id')],
      [text(1, TRACE_ID), text(2, SPAN_ID.subarray(0, 7)), text(5, 'n')],
      [text(1, TRACE_ID), text(2, zeroSpan), text(5, 'n')],
      [text(1, TRACE_ID), text(2, SPAN_ID), text(4, bytes(1)), text(5, 'n')],
      [text(1, TRACE_ID), text(2, SPAN_ID), text(4, zeroSpan), text(5, 'zero parent is a root')],
      [text(1, TRACE_ID), text(2, SPAN_ID)],
      [text(1, TRACE_ID), text(2, SPAN_ID), text(5, 'n'), late],
      [text(1, TRACE_ID), text(2, SPAN_ID), text(5, 'n'), fixed64(7, 2n ** 63n - 1n), fixed64(8, 2n ** 64n - 1n)],
      [text(1, TRACE_ID), text(2, SPAN_ID), text(5, 'n'), event(fixed64(1, 1n)), event(fixed64(1, 2n ** 64n - 1n)), event(fixed64(1, 2n ** 63n))],
      [text(1, TRACE_ID), text(2, SPAN_ID), text(5, 'n'), link(text(1, TRACE_ID)), link(text(1, bytes(1, 2)), text(2, bytes(1)))],
      [text(1, TRACE_ID), text(2, SPAN_ID), text(5, 'n'), link(text(2, bytes(1, 2, 3)))],
      [text(1, TRACE_ID), text(2, SPAN_ID), text(5, 'n'), link(text(1, zeroTrace), text(2, zeroSpan))],
      // several problems: the mapper names the first it checks
      [text(1, bytes(1)), text(2, bytes(1)), late, link(text(1, bytes(1)))],
      [text(1, TRACE_ID), text(2, SPAN_ID), text(5, 'n'), late, event(fixed64(1, 2n ** 63n)), link(text(1, bytes(1)))],
      [text(1, TRACE_ID), text(2, SPAN_ID), text(5, 'n'), event(fixed64(1, 2n ** 63n)), link(text(1, bytes(1)))],
    ];
    const request = resourceSpans(scopeSpans(scope(text(1, 'checked "scope"')), ...spans.map((fields) => span(...fields))));
    expect(expectSame(request)).toBe('accepted');
    const mapped = decodeProtobufFast(request);
    expect(mapped.rejected).toBeGreaterThan(10);
    expect(mapped.rejectReasons).toHaveLength(10);
    for (const fields of spans) expectSame(resourceSpans(scopeSpans(span(...fields))));
  });

  it('caps the reasons at 10 across scopes and resources, counting every refusal', () => {
    const bad = span(text(1, bytes(1)));
    const request = cat(
      resourceSpans(scopeSpans(scope(text(1, 'one')), bad, span(...validSpanFields()), bad), scopeSpans(bad, bad, bad)),
      resourceSpans(scopeSpans(bad, scope(text(1, 'late name')), bad, bad, bad, bad, bad)),
      resourceSpans(scopeSpans(scope(text(1, 'three')), bad)),
    );
    expect(expectSame(request)).toBe('accepted');
    const { rejected, rejectReasons } = decodeProtobufFast(request);
    expect(rejected).toBe(12);
    expect(rejectReasons).toHaveLength(10);
  });

  it('keeps the first of duplicate attribute keys and stores __proto__ as a key', () => {
    const keys = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'k', '1', '0', 'spanscore.project'];
    const attributes = keys.flatMap((key, i) => [spanAttribute(key, stringValue(`first ${i}`)), spanAttribute(key, intValue(i))]);
    expect(expectSame(requestWithSpan(...attributes))).toBe('accepted');
    expect(expectSame(requestWithSpan(spanAttribute('k', arrayValue(intValue(1))), spanAttribute('k', stringValue('x'))))).toBe('accepted');
    expect(expectSame(requestWithSpan(spanAttribute('k', stringValue('x')), spanAttribute('k', arrayValue(intValue(1)))))).toBe('accepted');
    const resourceWithProto = resourceSpans(
      resource(resourceAttribute('__proto__', stringValue('p')), resourceAttribute('service.name', stringValue('a')), resourceAttribute('service.name', stringValue('b'))),
      scopeSpans(span(...validSpanFields(event(text(2, 'e'), message(3, keyValue('__proto__', intValue(1)))), link(message(4, keyValue('__proto__', intValue(2))))))),
    );
    expect(expectSame(resourceWithProto)).toBe('accepted');
    expect(Object.getPrototypeOf(decodeProtobufFast(resourceWithProto).rows[0]!.ResourceAttributes)).toBe(Object.prototype);
  });

  it('reads invalid UTF-8 leniently everywhere (U+FFFD), like the reference', () => {
    const broken = [bytes(0xff), bytes(0xc3), bytes(0xe2, 0x82), bytes(0xed, 0xa0, 0x80), bytes(0xc0, 0xaf), bytes(0xf4, 0x90, 0x80, 0x80), bytes(0x61, 0xf0, 0x9f, 0x98)];
    for (const b of broken) {
      const request = resourceSpans(
        resource(resourceAttribute(b, stringValue(b))),
        scopeSpans(
          scope(text(1, b), text(2, b)),
          span(text(1, TRACE_ID), text(2, SPAN_ID), text(3, b), text(5, b), spanAttribute(b, stringValue(cat(utf8('x'), b))), status(text(2, b)), event(text(2, b)), link(text(3, b))),
          span(text(1, bytes(1)), text(5, b)),
        ),
      );
      expect(expectSame(request)).toBe('accepted');
    }
    expect(expectSame(requestWithSpan(spanAttribute('emoji', stringValue('a😀b'), stringValue('😀'.repeat(5)))), { maxAttributeValueLength: 3 })).toBe('accepted');
  });

  it('cuts values at maxAttributeValueLength and counts what the mapper counts', () => {
    const long = 'x'.repeat(40);
    const request = cat(
      // counted: a valid span's attributes, events and links, and the resource's (both values
      // of its duplicate key: the second replaces the first)
      resourceSpans(
        resource(resourceAttribute('r', stringValue(long)), resourceAttribute('r', stringValue(long))),
        scopeSpans(
          scope(message(3, keyValue('scope attributes are not stored', stringValue(long)))),
          span(
            ...validSpanFields(
              spanAttribute('a', stringValue(long)),
              spanAttribute('n', arrayValue(stringValue(long))),
              event(message(3, keyValue('e', stringValue(long)))),
              link(message(4, keyValue('l', bytesValue(Buffer.alloc(40))))),
            ),
          ),
          // not counted: a refused span's values
          span(text(1, bytes(1)), spanAttribute('a', stringValue(long))),
          span(...validSpanFields(link(text(1, bytes(1))), spanAttribute('a', stringValue(long)))),
        ),
      ),
      // not counted: a resource without scope spans; counted: one with an empty scope spans
      resourceSpans(resource(resourceAttribute('r', stringValue(long)))),
      resourceSpans(resource(resourceAttribute('r', stringValue(long))), scopeSpans()),
    );
    for (const maxAttributeValueLength of [undefined, 0, 1, 5, 39, 40, 41]) expectSame(request, { maxAttributeValueLength });
    expect(decodeProtobufFast(request, { maxAttributeValueLength: 5 }).truncatedValues).toBe(7);
    // a value whose cut would split a surrogate pair, and one that ends like a marker
    const marker = 'ab…[truncated 21 chars]'.padStart(42, 'z');
    for (const value of ['a😀😀😀', '😀😀😀', marker]) {
      for (let limit = 0; limit < 45; limit++) expectSame(requestWithSpan(spanAttribute('k', stringValue(value))), { maxAttributeValueLength: limit });
    }
  });

  it('caps the depth of nested values, however deep, without refusing the request', () => {
    const nestedArray = (levels: number): Uint8Array => {
      let value: Uint8Array = stringValue('core');
      for (let i = 0; i < levels; i++) value = arrayValue(value);
      return value;
    };
    const outcomes = new Set<Outcome>();
    for (let levels = 0; levels <= 60; levels++) outcomes.add(expectSame(requestWithSpan(spanAttribute('deep', nestedArray(levels))), { maxAttributeValueLength: 100 }));
    for (const levels of [10, 31, 32, 33, 34, 35, 200, 5000]) outcomes.add(expectSame(protobufDepthBomb(levels)));
    // In an event's attribute (one level deeper, where 32 kvlist levels pass 100 messages) and
    // in a scope attribute (never rendered).
    for (const levels of [30, 31, 32, 33, 40, 50, 300]) {
      outcomes.add(expectSame(requestWithSpan(event(message(3, keyValue('deep', nestedArray(levels)))))));
      outcomes.add(expectSame(resourceSpans(scopeSpans(scope(message(3, keyValue('deep', nestedArray(levels)))), span(...validSpanFields())))));
    }
    const deepKvlist = (levels: number): Uint8Array => {
      let value: Uint8Array = stringValue('core');
      for (let i = 0; i < levels; i++) value = kvlistValue(keyValue('k', value));
      return value;
    };
    for (const levels of [31, 32, 33, 1000]) outcomes.add(expectSame(requestWithSpan(event(message(3, keyValue('deep', deepKvlist(levels)))))));
    expect([...outcomes]).toEqual(['accepted']);
    // What is past the cap is not read at all: not even malformed bytes there fail the request.
    const garbage = delimited(5, bytes(0xff, 0xff, 0xff));
    let value: Uint8Array = garbage;
    for (let i = 0; i < MAX_NESTING_DEPTH; i++) value = arrayValue(value);
    expect(expectSame(requestWithSpan(spanAttribute('deep', value)))).toBe('accepted');
  });

  it('refuses groups nested beyond the recursion limit where protobufjs does', () => {
    const nestedGroups = (levels: number): Uint8Array => {
      let inner: Uint8Array = varint(1, 1);
      for (let i = 0; i < levels; i++) inner = group(5, inner);
      return inner;
    };
    const outcomes = new Set<Outcome>();
    for (let levels = OTLP_RECURSION_LIMIT - 10; levels <= OTLP_RECURSION_LIMIT + 2; levels++) {
      outcomes.add(expectSame(requestWithSpan(nestedGroups(levels))));
      outcomes.add(expectSame(cat(nestedGroups(levels), requestWithSpan())));
      outcomes.add(expectSame(requestWithSpan(spanAttribute('k', nestedGroups(levels)))));
    }
    expect([...outcomes].sort()).toEqual(['accepted', 'refused']);
  });

  it('stamps project and instance as the mapper does', () => {
    const withProject = (project?: string) =>
      resourceSpans(
        resource(resourceAttribute('service.name', stringValue('svc')), ...(project === undefined ? [] : [resourceAttribute('spanscore.project', stringValue(project))])),
        scopeSpans(span(...validSpanFields())),
      );
    const requests = [withProject(), withProject(''), withProject('own'), resourceSpans(scopeSpans(span(...validSpanFields()))), cat(withProject('a'), withProject())];
    const optionSets: MapOptions[] = [{}, { project: 'header' }, { project: '' }, { instanceId: 'replica-1' }, { project: 'h', instanceId: '' }];
    for (const request of requests) for (const options of optionSets) expect(expectSame(request, options)).toBe('accepted');
  });

  it('refuses every truncation of a rich request, and maps or refuses every byte flip, like the reference', () => {
    const rich = Buffer.from(richRequest());
    const outcomes = { accepted: 0, refused: 0 };
    for (let cut = 0; cut < rich.length; cut++) outcomes[expectSame(rich.subarray(0, cut))]++;
    for (let at = 0; at < rich.length; at++) {
      for (const mask of [0x01, 0x02, 0x04, 0x80, 0xff]) {
        const copy = Buffer.from(rich);
        copy[at]! ^= mask;
        outcomes[expectSame(copy, { maxAttributeValueLength: 4 })]++;
      }
    }
    expect(outcomes.accepted).toBeGreaterThan(200);
    expect(outcomes.refused).toBeGreaterThan(200);
  });
});

// ---- generated requests ----

const NUM_RUNS = { structured: 3000, mutated: 3000, random: 1500 };


describe('decodeProtobufFast matches decodeProtobuf on generated input', () => {
  it(`structured requests built field by field: any order, repeats, merges, stray fields, odd ids and times (${NUM_RUNS.structured})`, () => {
    const outcomes = { accepted: 0, refused: 0, rows: 0, rejected: 0, dropped: 0 };
    fc.assert(
      fc.property(requestBytes, mapOptions, (request, options) => {
        const outcome = expectSame(request, options);
        outcomes[outcome]++;
        if (outcome === 'accepted') {
          const mapped = decodeProtobuf(request, options);
          outcomes.rows += mapped.rows.length;
          outcomes.rejected += mapped.rejected;
          outcomes.dropped += mapped.droppedAttributes;
        }
      }),
      { seed: FUZZ_SEED, numRuns: NUM_RUNS.structured },
    );
    // The generator reaches stored rows, refused spans, dropped attributes and refused requests alike.
    expect(outcomes.accepted).toBeGreaterThan(NUM_RUNS.structured / 2);
    expect(outcomes.rows).toBeGreaterThan(1000);
    expect(outcomes.rejected).toBeGreaterThan(300);
    expect(outcomes.dropped).toBeGreaterThan(300);
  });

  it(`protobufjs-encoded requests, byte-mutated (flips, truncation, insertion, splices, lying lengths) (${NUM_RUNS.mutated})`, () => {
    const outcomes = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(requestObjects('any'), fc.array(mutations, { minLength: 0, maxLength: 3 }), fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }), (request, steps, limit) => {
        let encoded = encodeObject(request);
        const donor = encoded;
        for (const step of steps) encoded = mutate(encoded, step, donor);
        outcomes[expectSame(encoded, { maxAttributeValueLength: limit })]++;
      }),
      { seed: FUZZ_SEED + 1, numRuns: NUM_RUNS.mutated },
    );
    expect(outcomes.accepted).toBeGreaterThan(500);
    expect(outcomes.refused).toBeGreaterThan(500);
  });

  it(`random bytes (${NUM_RUNS.random})`, () => {
    const outcomes = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (body) => {
        outcomes[expectSame(body)]++;
      }),
      { seed: FUZZ_SEED + 2, numRuns: NUM_RUNS.random },
    );
    expect(outcomes.refused).toBeGreaterThan(500);
  });
});
