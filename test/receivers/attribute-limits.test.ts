import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { DEPTH_MARKER_JSON, MAX_NESTING_DEPTH, truncateValue } from '../../src/receivers/attribute-values.js';
import { DecodeError } from '../../src/receivers/decode-error.js';
import { decodeJson, decodeProtobuf } from '../../src/receivers/otlp-decoder.js';
import type { MappedSpans } from '../../src/receivers/span-mapper.js';
import { toOtlpJson } from './otlp-fuzz-arbitraries.js';
import { encodeRequest, requestObject, spanObject } from './receiver-test-kit.js';

const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const SPAN_ID = 'eee19b7ec3c1b174';

describe('truncateValue', () => {
  it('keeps the first N characters and appends …[truncated <removed> chars]', () => {
    expect(truncateValue('abcdef', 6)).toBe('abcdef');
    expect(truncateValue('abcdefg', 6)).toBe('abcdef…[truncated 1 chars]');
    expect(truncateValue('x'.repeat(123_466), 10)).toBe(`${'x'.repeat(10)}…[truncated 123456 chars]`);
    expect(truncateValue('abc', 0)).toBe('…[truncated 3 chars]');
  });

  it('never splits a surrogate pair', () => {
    const text = 'ab😀cd'; // 😀 is two UTF-16 code units, at 2 and 3
    expect(truncateValue(text, 3)).toBe('ab…[truncated 4 chars]');
    expect(truncateValue(text, 4)).toBe('ab😀…[truncated 2 chars]');
  });
});

/** `levels` arrays nested in each other around a string. */
function nestedArrays(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { stringValue: 'core' };
  for (let i = 0; i < levels; i++) value = { arrayValue: { values: [value] } };
  return value;
}

describe('attribute value limits in the mapping', () => {
  const long = 'L'.repeat(5000);
  const attrs = (value: Record<string, unknown>) => [{ key: 'k', value }];

  it('cuts span, resource, event and link attribute values and rendered arrays, and counts them', () => {
    const request = requestObject([
      spanObject({
        attributes: [...attrs({ stringValue: long }), { key: 'short', value: { stringValue: 'ok' } }, { key: 'list', value: { arrayValue: { values: [{ stringValue: long }] } } }],
        events: [{ name: 'e', timeUnixNano: '1700000000123456789', attributes: attrs({ stringValue: long }) }],
        links: [{ traceId: Buffer.from(TRACE_ID, 'hex'), spanId: Buffer.from(SPAN_ID, 'hex'), attributes: attrs({ kvlistValue: { values: [{ key: 'in', value: { stringValue: long } }] } }) }],
      }),
    ]);
    (request.resourceSpans as { resource: { attributes: unknown[] } }[])[0]!.resource.attributes = [
      { key: 'service.name', value: { stringValue: `svc-${long}` } },
      ...attrs({ bytesValue: Buffer.alloc(3000, 7) }),
    ];
    const { rows, truncatedValues } = decodeProtobuf(encodeRequest(request), { maxAttributeValueLength: 100 });
    const row = rows[0]!;
    const cut = (text: string) => `${text.slice(0, 100)}…[truncated ${text.length - 100} chars]`;
    expect(row.SpanAttributes).toEqual({ k: cut(long), short: 'ok', list: cut(`["${long}"]`) });
    expect(row.Events[0]!.Attributes).toEqual({ k: cut(long) });
    expect(row.Links[0]!.Attributes).toEqual({ k: cut(`{"in":"${long}"}`) });
    expect(row.ResourceAttributes['service.name']).toBe(cut(`svc-${long}`));
    expect(row.ResourceAttributes.k).toBe(cut(Buffer.alloc(3000, 7).toString('base64')));
    expect(row.ServiceName).toBe(cut(`svc-${long}`));
    expect(truncatedValues).toBe(6);
  });

  it('has no limit unless asked, and leaves values at the limit alone', () => {
    const body = encodeRequest(requestObject([spanObject({ attributes: attrs({ stringValue: long }) })]));
    expect(decodeProtobuf(body).rows[0]!.SpanAttributes.k).toBe(long);
    const atLimit = decodeProtobuf(body, { maxAttributeValueLength: long.length });
    expect([atLimit.rows[0]!.SpanAttributes.k, atLimit.truncatedValues]).toEqual([long, 0]);
  });

  it(`renders arrays and kvlists nested deeper than ${MAX_NESTING_DEPTH} levels as a marker, in protobuf and JSON`, () => {
    const expected = '['.repeat(MAX_NESTING_DEPTH) + DEPTH_MARKER_JSON + ']'.repeat(MAX_NESTING_DEPTH);
    const protobuf = decodeProtobuf(encodeRequest(requestObject([spanObject({ attributes: attrs(nestedArrays(40)) })])));
    expect(protobuf.rows[0]!.SpanAttributes.k).toBe(expected);
    expect(JSON.parse(expected)).toBeDefined(); // still valid JSON
    expect(protobuf.truncatedValues).toBe(1);

    const json = decodeJson(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: TRACE_ID, spanId: SPAN_ID, name: 'n', attributes: attrs(nestedArrays(40)) }] }] }] }));
    expect(json.rows[0]!.SpanAttributes.k).toBe(expected);

    const shallow = decodeProtobuf(encodeRequest(requestObject([spanObject({ attributes: attrs(nestedArrays(MAX_NESTING_DEPTH)) })])));
    expect(shallow.rows[0]!.SpanAttributes.k).toBe(`${'['.repeat(MAX_NESTING_DEPTH)}"core"${']'.repeat(MAX_NESTING_DEPTH)}`);
    expect(shallow.truncatedValues).toBe(0);
  });
});

/** `levels` kvlists nested in each other around a string, each holding one entry `k`. */
function nestedKvlists(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { stringValue: 'core' };
  for (let i = 0; i < levels; i++) value = { kvlistValue: { values: [{ key: 'k', value }] } };
  return value;
}

/** Encoders (protobufjs, ProtoJSON) refuse to write past their recursion limit: these requests need more. */
function encodedDeep<T>(encode: () => T): T {
  const limit = protobuf.util.recursionLimit;
  protobuf.util.recursionLimit = 10_000;
  try {
    return encode();
  } finally {
    protobuf.util.recursionLimit = limit;
  }
}

describe('attribute values nested past the cap', () => {
  const markedKvlist = '{"k":'.repeat(MAX_NESTING_DEPTH) + DEPTH_MARKER_JSON + '}'.repeat(MAX_NESTING_DEPTH);
  const markedArray = '['.repeat(MAX_NESTING_DEPTH) + DEPTH_MARKER_JSON + ']'.repeat(MAX_NESTING_DEPTH);

  /** One request, three spans: the deep value in a span's attribute, in an event's, and a plain span after them. */
  function request(deep: Record<string, unknown>) {
    return requestObject([
      spanObject({ name: 'attribute', attributes: [{ key: 'deep', value: deep }] }),
      spanObject({ name: 'event', events: [{ name: 'e', timeUnixNano: '1700000000123456789', attributes: [{ key: 'deep', value: deep }] }] }),
      spanObject({ name: 'plain' }),
    ]);
  }

  function expectMarked(mapped: MappedSpans, marked: string): void {
    expect(mapped.rows.map((row) => row.SpanName)).toEqual(['attribute', 'event', 'plain']);
    expect(mapped.rows[0]!.SpanAttributes.deep).toBe(marked);
    expect(mapped.rows[1]!.Events[0]!.Attributes.deep).toBe(marked);
    expect(mapped.truncatedValues).toBe(2);
  }

  it.each([33, 34, 40, 300])('a kvlist nested %i deep gets the depth marker like an array, in protobuf and JSON; the other spans stay', (levels) => {
    for (const [deep, marked] of [
      [nestedKvlists(levels), markedKvlist],
      [nestedArrays(levels), markedArray],
    ] as const) {
      expectMarked(decodeProtobuf(encodedDeep(() => encodeRequest(request(deep)))), marked);
      expectMarked(decodeJson(encodedDeep(() => toOtlpJson(request(deep)))), marked);
    }
  });

  it('kvlists nested up to the cap are rendered whole, wherever they sit', () => {
    const whole = '{"k":'.repeat(MAX_NESTING_DEPTH) + '"core"' + '}'.repeat(MAX_NESTING_DEPTH);
    const deep = request(nestedKvlists(MAX_NESTING_DEPTH));
    for (const mapped of [decodeProtobuf(encodedDeep(() => encodeRequest(deep))), decodeJson(encodedDeep(() => toOtlpJson(deep)))]) {
      expect(mapped.rows[0]!.SpanAttributes.deep).toBe(whole);
      expect(mapped.rows[1]!.Events[0]!.Attributes.deep).toBe(whole);
      expect(mapped.truncatedValues).toBe(0);
    }
  });
});

describe('text that is not valid Unicode', () => {
  it('protobuf: each invalid UTF-8 sequence in a string becomes U+FFFD (keys, values, names)', () => {
    const body = encodeRequest(requestObject([spanObject({ name: 'span-AAAA', attributes: [{ key: 'key-BBBB', value: { stringValue: 'value-CCCC' } }] })]));
    for (const marker of ['AAAA', 'BBBB', 'CCCC']) {
      const at = body.indexOf(marker);
      body[at] = 0xff; // never valid in UTF-8
      body[at + 1] = 0xc3; // a lead byte followed by an ASCII byte: truncated sequence
    }
    const { rows } = decodeProtobuf(body);
    expect(rows[0]!.SpanName).toBe('span-\ufffd\ufffdAA');
    expect(rows[0]!.SpanAttributes).toEqual({ 'key-\ufffd\ufffdBB': 'value-\ufffd\ufffdCC' });
  });

  it('JSON: a body that is not UTF-8 is refused; escaped lone surrogates become U+FFFD, pairs stay', () => {
    const text = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: TRACE_ID, spanId: SPAN_ID, name: 'n', attributes: [{ key: 'k', value: { stringValue: 'é' } }] }] }] }] });
    const latin1 = Buffer.from(text, 'latin1');
    expect(() => decodeJson(latin1)).toThrow(DecodeError);
    expect(() => decodeJson(latin1)).toThrow('request body is not valid UTF-8, as OTLP/JSON must be');
    expect(decodeJson(Buffer.from(text, 'utf8')).rows[0]!.SpanAttributes.k).toBe('é');

    const escaped = text.replace('"n"', '"a\\ud800b\\udc00c\\ud83d\\ude00"').replace('"é"', '"\\udfff"');
    const { rows } = decodeJson(Buffer.from(escaped, 'utf8'));
    expect(rows[0]!.SpanName).toBe('a\ufffdb\ufffdc😀');
    expect(rows[0]!.SpanAttributes.k).toBe('\ufffd');
  });

  it('JSON: the surrogate clean-up copes with deep nesting (no recursion)', () => {
    const deep = '['.repeat(200_000) + '"\\ud800"' + ']'.repeat(200_000);
    const text = `{"resourceSpans":[],"unknownField":${deep}}`;
    expect(decodeJson(Buffer.from(text)).rows).toEqual([]);
  });
});
