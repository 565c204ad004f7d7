import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { jsonToProtobuf, protobufToJson } from '../../src/exporters/otlp-transcoder.js';
import { DecodeError } from '../../src/receivers/decode-error.js';
import { decodeJson, decodeProtobuf } from '../../src/receivers/otlp-decoder.js';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';
import { encodeObject, FUZZ_SEED, requestObjects } from '../receivers/otlp-fuzz-arbitraries.js';

const requestType = () => otlpSchema().exportTraceServiceRequest;

/**
 * The message as comparable data: 64-bit integers as decimal strings, bytes base64, every
 * field spelled out (an explicitly encoded default and an absent field are the same message).
 * Strings decode as the receivers decode them (invalid UTF-8 → U+FFFD).
 */
function messageOf(bytes: Uint8Array): Record<string, unknown> {
  const reader = protobuf.Reader.create(bytes);
  reader.stringVerify = reader.string;
  const type = requestType();
  return type.toObject(type.decode(reader), { longs: String, bytes: String, defaults: true });
}

/** Decoded or parsed OTLP trees, read field by field. */
type Json = Record<string, any>;

/** Fields requestObjects() leaves out (flags, dropped counts, schema urls, entity refs), derived from `n`. */
function withEverything(request: Record<string, unknown>, n: number): Record<string, unknown> {
  const copy = structuredClone(request) as Json;
  let i = n;
  const next = () => (i = (i * 1_103_515_245 + 12_345) >>> 0);
  for (const resourceSpans of copy.resourceSpans) {
    resourceSpans.schemaUrl = `https://opentelemetry.io/schemas/1.${next() % 40}.0`;
    resourceSpans.resource.droppedAttributesCount = next() % 3;
    resourceSpans.resource.entityRefs = [{ schemaUrl: 's', type: 'service', idKeys: ['service.name'], descriptionKeys: ['d'] }];
    for (const scopeSpans of resourceSpans.scopeSpans) {
      scopeSpans.schemaUrl = next() % 2 === 0 ? '' : 'https://example.com/scope';
      scopeSpans.scope.droppedAttributesCount = next() % 5;
      for (const span of scopeSpans.spans) {
        span.flags = next();
        span.droppedAttributesCount = next() % 4;
        span.droppedEventsCount = next() % 4;
        span.droppedLinksCount = next();
        for (const event of span.events ?? []) event.droppedAttributesCount = next() % 7;
        for (const link of span.links ?? []) {
          link.flags = next();
          link.droppedAttributesCount = next() % 7;
        }
      }
    }
  }
  return copy;
}

const everything = fc.tuple(requestObjects('well-formed'), fc.nat()).map(([request, n]) => withEverything(request, n));

describe('protobufToJson / jsonToProtobuf round trip', () => {
  it('protobuf → JSON → protobuf gives the same message (1,000 generated requests)', () => {
    fc.assert(
      fc.property(everything, (request) => {
        const original = encodeObject(request);
        const back = jsonToProtobuf(protobufToJson(original));
        expect(messageOf(back)).toEqual(messageOf(original));
      }),
      { seed: FUZZ_SEED, numRuns: 1000 },
    );
  });

  it('the receivers map the JSON and the protobuf to identical rows (1,000 generated requests)', () => {
    fc.assert(
      fc.property(everything, (request) => {
        const original = encodeObject(request);
        const json = protobufToJson(original);
        const fromJson = decodeJson(Buffer.from(json));
        expect(fromJson).toEqual(decodeProtobuf(original));
        expect(decodeProtobuf(jsonToProtobuf(json))).toEqual(fromJson);
      }),
      { seed: FUZZ_SEED + 1, numRuns: 1000 },
    );
  });

  it('strings that are not valid UTF-8 arrive as U+FFFD, as the receivers store them (500)', () => {
    fc.assert(
      fc.property(requestObjects('any'), (request) => {
        const original = encodeObject(request);
        const json = protobufToJson(original);
        expect(decodeJson(json)).toEqual(decodeProtobuf(original));
        expect(messageOf(jsonToProtobuf(json))).toEqual(messageOf(original));
      }),
      { seed: FUZZ_SEED + 2, numRuns: 500 },
    );
  });
});

const TRACE_ID = 'ABCDEF0123456789abcdef0123456789';
const SPAN_ID = '0123456789abcdef';
const PARENT_ID = 'fedcba9876543210';
const LINK_TRACE_ID = '00112233445566778899aabbccddeeff';
const LINK_SPAN_ID = '8899aabbccddeeff';
const hexBytes = (hex: string) => Buffer.from(hex, 'hex');

/** A request with every field of the schema set, each AnyValue kind included. */
function everyFieldRequest(): Record<string, unknown> {
  const attributes = [
    { key: 'string', value: { stringValue: 'héllo "quoted" \u2028' } },
    { key: 'empty-string', value: { stringValue: '' } },
    { key: 'bool', value: { boolValue: true } },
    { key: 'false', value: { boolValue: false } },
    { key: 'int-beyond-2^53', value: { intValue: '9007199254740993' } },
    { key: 'int-min', value: { intValue: '-9223372036854775808' } },
    { key: 'int-negative', value: { intValue: '-42' } },
    { key: 'int-zero', value: { intValue: '0' } },
    { key: 'double', value: { doubleValue: 0.1 } },
    { key: 'double-negative-zero', value: { doubleValue: -0 } },
    { key: 'double-nan', value: { doubleValue: NaN } },
    { key: 'double-infinity', value: { doubleValue: -Infinity } },
    { key: 'double-huge', value: { doubleValue: 1.7976931348623157e308 } },
    { key: 'bytes', value: { bytesValue: Uint8Array.from([0, 1, 254, 255]) } },
    { key: 'empty', value: {} },
    {
      key: 'array',
      value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '7' }, { arrayValue: { values: [{ boolValue: false }] } }, {}] } },
    },
    {
      key: 'kvlist',
      value: { kvlistValue: { values: [{ key: 'inner', value: { kvlistValue: { values: [{ key: 'deep', value: { doubleValue: 2.5 } }] } } }, { key: 'no-value' }] } },
    },
  ];
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }, ...attributes],
          droppedAttributesCount: 3,
          entityRefs: [{ schemaUrl: 'https://example.com/entity', type: 'service', idKeys: ['service.name'], descriptionKeys: ['host.name'] }],
        },
        schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        scopeSpans: [
          {
            scope: { name: 'my.scope', version: '1.2.3', attributes: [{ key: 'scope-attr', value: { intValue: '-1' } }], droppedAttributesCount: 4 },
            schemaUrl: 'https://opentelemetry.io/schemas/1.27.0',
            spans: [
              {
                traceId: hexBytes(TRACE_ID),
                spanId: hexBytes(SPAN_ID),
                traceState: 'vendor=a,other=b',
                parentSpanId: hexBytes(PARENT_ID),
                flags: 0x301,
                name: 'GET /cart',
                kind: 3,
                startTimeUnixNano: '1764158400123456789',
                endTimeUnixNano: '18446744073709551615',
                attributes,
                droppedAttributesCount: 5,
                events: [{ timeUnixNano: '1764158400200000001', name: 'exception', attributes: [{ key: 'exception.type', value: { stringValue: 'Boom' } }], droppedAttributesCount: 6 }],
                droppedEventsCount: 7,
                links: [{ traceId: hexBytes(LINK_TRACE_ID), spanId: hexBytes(LINK_SPAN_ID), traceState: 'k=v', attributes: [{ key: 'link-attr', value: { boolValue: true } }], droppedAttributesCount: 8, flags: 0x100 }],
                droppedLinksCount: 9,
                status: { code: 2, message: 'it broke' },
              },
            ],
          },
        ],
      },
    ],
  };
}

describe('protobufToJson', () => {
  const original = encodeObject(everyFieldRequest());
  const json = JSON.parse(protobufToJson(original)) as Json;
  const resourceSpans = json.resourceSpans[0];
  const scopeSpans = resourceSpans.scopeSpans[0];
  const span = scopeSpans.spans[0];
  const byKey = (list: Json[]) => Object.fromEntries(list.map((kv) => [kv.key, kv.value]));

  it('writes ids as lower-case hex, enums as integers, 64-bit integers as decimal strings', () => {
    expect(span.traceId).toBe(TRACE_ID.toLowerCase());
    expect(span.spanId).toBe(SPAN_ID);
    expect(span.parentSpanId).toBe(PARENT_ID);
    expect(span.kind).toBe(3);
    expect(span.status).toEqual({ code: 2, message: 'it broke' });
    expect(span.startTimeUnixNano).toBe('1764158400123456789');
    expect(span.endTimeUnixNano).toBe('18446744073709551615');
    expect(span.links[0].traceId).toBe(LINK_TRACE_ID);
    expect(span.links[0].spanId).toBe(LINK_SPAN_ID);
  });

  it('keeps every other span, event and link field', () => {
    expect(span).toMatchObject({ traceState: 'vendor=a,other=b', flags: 0x301, name: 'GET /cart', droppedAttributesCount: 5, droppedEventsCount: 7, droppedLinksCount: 9 });
    expect(span.events).toEqual([{ timeUnixNano: '1764158400200000001', name: 'exception', attributes: [{ key: 'exception.type', value: { stringValue: 'Boom' } }], droppedAttributesCount: 6 }]);
    expect(span.links[0]).toMatchObject({ traceState: 'k=v', attributes: [{ key: 'link-attr', value: { boolValue: true } }], droppedAttributesCount: 8, flags: 0x100 });
  });

  it('keeps resource, scope and schema urls', () => {
    expect(resourceSpans.schemaUrl).toBe('https://opentelemetry.io/schemas/1.26.0');
    expect(resourceSpans.resource.droppedAttributesCount).toBe(3);
    expect(resourceSpans.resource.entityRefs).toEqual([{ schemaUrl: 'https://example.com/entity', type: 'service', idKeys: ['service.name'], descriptionKeys: ['host.name'] }]);
    expect(byKey(resourceSpans.resource.attributes)['service.name']).toEqual({ stringValue: 'checkout' });
    expect(scopeSpans.schemaUrl).toBe('https://opentelemetry.io/schemas/1.27.0');
    expect(scopeSpans.scope).toEqual({ name: 'my.scope', version: '1.2.3', attributes: [{ key: 'scope-attr', value: { intValue: '-1' } }], droppedAttributesCount: 4 });
  });

  it('writes every AnyValue kind as OTLP/JSON does', () => {
    const values = byKey(span.attributes);
    expect(values).toEqual({
      string: { stringValue: 'héllo "quoted" \u2028' },
      'empty-string': { stringValue: '' },
      bool: { boolValue: true },
      false: { boolValue: false },
      'int-beyond-2^53': { intValue: '9007199254740993' },
      'int-min': { intValue: '-9223372036854775808' },
      'int-negative': { intValue: '-42' },
      'int-zero': { intValue: '0' },
      double: { doubleValue: 0.1 },
      'double-negative-zero': { doubleValue: '-0' },
      'double-nan': { doubleValue: 'NaN' },
      'double-infinity': { doubleValue: '-Infinity' },
      'double-huge': { doubleValue: 1.7976931348623157e308 },
      bytes: { bytesValue: 'AAH+/w==' },
      empty: {},
      array: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '7' }, { arrayValue: { values: [{ boolValue: false }] } }, {}] } },
      kvlist: { kvlistValue: { values: [{ key: 'inner', value: { kvlistValue: { values: [{ key: 'deep', value: { doubleValue: 2.5 } }] } } }, { key: 'no-value' }] } },
    });
    // Attribute order is part of the message.
    expect(span.attributes.map((kv: Json) => kv.key)).toEqual(Object.keys(values));
  });

  it('turns back into the very same bytes, -0 and NaN included', () => {
    expect(Buffer.from(jsonToProtobuf(JSON.stringify(json))).equals(original)).toBe(true);
    const doubles = requestType().decode(jsonToProtobuf(JSON.stringify(json))) as unknown as Json;
    const attributes = byKey(doubles.resourceSpans[0].scopeSpans[0].spans[0].attributes);
    expect(Object.is(attributes['double-negative-zero'].doubleValue, -0)).toBe(true);
    expect(attributes['double-nan'].doubleValue).toBeNaN();
  });

  it('writes an empty request as {}', () => {
    expect(protobufToJson(new Uint8Array(0))).toBe('{}');
  });

  it('omits a root span’s parent id', () => {
    const root = everyFieldRequest() as Json;
    delete root.resourceSpans[0].scopeSpans[0].spans[0].parentSpanId;
    const rootSpan = JSON.parse(protobufToJson(encodeObject(root))).resourceSpans[0].scopeSpans[0].spans[0];
    expect(rootSpan).not.toHaveProperty('parentSpanId');
    expect(rootSpan.spanId).toBe(SPAN_ID);
  });

  it('refuses bytes that are not a request, saying why', () => {
    expect(() => protobufToJson(original.subarray(0, original.length - 3))).toThrow(/not a protobuf ExportTraceServiceRequest: index out of range.*truncated/);
    expect(() => protobufToJson(Buffer.from(JSON.stringify(json)))).toThrow(/looks like JSON/);
    expect(() => protobufToJson(Uint8Array.from([0x0f]))).toThrow(DecodeError);
  });
});

describe('jsonToProtobuf', () => {
  const canonical = encodeObject(everyFieldRequest());

  it('accepts snake_case keys, upper-case hex ids, int64 as numbers and enum names', () => {
    const json = JSON.parse(protobufToJson(canonical)) as Json;
    const resourceSpans = json.resourceSpans[0];
    const span = resourceSpans.scopeSpans[0].spans[0];
    const variant = {
      resource_spans: [
        {
          ...resourceSpans,
          scopeSpans: undefined,
          schemaUrl: undefined,
          schema_url: resourceSpans.schemaUrl,
          scope_spans: [
            {
              ...resourceSpans.scopeSpans[0],
              spans: [
                {
                  ...span,
                  traceId: undefined,
                  trace_id: span.traceId.toUpperCase(),
                  spanId: span.spanId.toUpperCase(),
                  parent_span_id: span.parentSpanId,
                  parentSpanId: undefined,
                  kind: 'SPAN_KIND_CLIENT',
                  status: { code: 'STATUS_CODE_ERROR', message: 'it broke' },
                  start_time_unix_nano: span.startTimeUnixNano,
                  startTimeUnixNano: undefined,
                  events: [{ ...span.events[0], timeUnixNano: undefined, time_unix_nano: span.events[0].timeUnixNano }],
                  droppedLinksCount: '9',
                },
              ],
            },
          ],
        },
      ],
    };
    const fromVariant = jsonToProtobuf(JSON.stringify(variant));
    expect(messageOf(fromVariant)).toEqual(messageOf(canonical));

    // A number is accepted for int64 where it is exact.
    const small = { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: TRACE_ID, spanId: SPAN_ID, name: 'n', startTimeUnixNano: 1_764_158_400, attributes: [{ key: 'i', value: { intValue: -5 } }] }] }] }] };
    const decoded = decodeProtobuf(jsonToProtobuf(JSON.stringify(small))).rows[0]!;
    expect(decoded.Timestamp).toBe('1764158400');
    expect(decoded.SpanAttributes.i).toBe('-5');
  });

  it('accepts UTF-8 bytes as well as text', () => {
    const text = protobufToJson(canonical);
    expect(Buffer.from(jsonToProtobuf(Buffer.from(text))).equals(canonical)).toBe(true);
  });

  it('refuses input that is not an OTLP/JSON request, saying why', () => {
    expect(() => jsonToProtobuf('resourceSpans: []')).toThrow(/not valid JSON/);
    expect(() => jsonToProtobuf('[]')).toThrow(/must be a JSON object/);
    expect(() => jsonToProtobuf('{"resourceSpans":{}}')).toThrow(/not an OTLP\/JSON ExportTraceServiceRequest.*expected array/);
    expect(() => jsonToProtobuf('{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":7}]}]}]}')).toThrow(/expected string/);
    expect(() => jsonToProtobuf(Uint8Array.from([0x7b, 0xff, 0x7d]))).toThrow(/not valid UTF-8/);
    expect(() => jsonToProtobuf('{}')).not.toThrow();
  });

  it('refuses an id that is not hex instead of dropping the span', () => {
    const badSpan = { traceId: TRACE_ID, spanId: 'zz23456789abcdef', name: 'n' };
    const request = { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: TRACE_ID, spanId: SPAN_ID, name: 'ok' }, badSpan] }] }] };
    expect(() => jsonToProtobuf(JSON.stringify(request))).toThrow(/span 0\/0\/1 .*span_id is not a hex string: "zz23456789abcdef"/);
    const badLink = { traceId: TRACE_ID, spanId: SPAN_ID, name: 'n', links: [{ traceId: 'not-hex', spanId: SPAN_ID }] };
    expect(() => jsonToProtobuf(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [badLink] }] }] }))).toThrow(/links\[0\]\.trace_id is not a hex string/);
    expect(() => jsonToProtobuf(JSON.stringify(request))).toThrow(DecodeError);
  });
});

describe('values nested as deep as the receivers take them', () => {
  /** A kvlist nested `depth` levels inside an event attribute, the deepest place a value sits. */
  function deepRequest(depth: number): Json {
    let value: Json = { stringValue: 'bottom' };
    for (let i = 0; i < depth; i++) value = { kvlistValue: { values: [{ key: `level${i}`, value }] } };
    return {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '5b8efff798038103d269b633813fc60c',
                  spanId: 'eee19b7ec3c1b174',
                  name: 'deep',
                  startTimeUnixNano: '1',
                  endTimeUnixNano: '2',
                  events: [{ timeUnixNano: '1', name: 'e', attributes: [{ key: 'deep', value }] }],
                },
              ],
            },
          ],
        },
      ],
    };
  }

  it('transcodes a kvlist 32 levels deep both ways, losing nothing', () => {
    const json = JSON.stringify(deepRequest(32));
    const protobufBody = jsonToProtobuf(json);
    const back = JSON.parse(protobufToJson(protobufBody)) as Json;
    let value = back.resourceSpans[0].scopeSpans[0].spans[0].events[0].attributes[0].value;
    for (let i = 31; i >= 0; i--) {
      expect(value.kvlistValue.values[0].key).toBe(`level${i}`);
      value = value.kvlistValue.values[0].value;
    }
    expect(value).toEqual({ stringValue: 'bottom' });
  });
});
