import { describe, expect, it } from 'vitest';
import { decodeProtobuf } from '../../src/receivers/otlp-decoder.js';
import { MAX_REJECT_REASONS } from '../../src/receivers/span-mapper.js';
import { encodeRequest, requestObject, spanObject } from './receiver-test-kit.js';

/** Decodes a protobuf request built from plain objects: the mapper sees real decoded messages. */
function mapSpans(spans: Record<string, unknown>[], scopeName?: string) {
  return decodeProtobuf(encodeRequest(requestObject(spans, scopeName)));
}

function attributesOf(values: Record<string, unknown>): Record<string, string> {
  const attributes = Object.entries(values).map(([key, value]) => ({ key, value }));
  const { rows } = mapSpans([spanObject({ attributes })]);
  expect(rows).toHaveLength(1);
  return rows[0]!.SpanAttributes;
}

describe('span mapping (clickhouseexporter shape)', () => {
  it('maps ids, names, kind, status, scope, resource and timestamps', () => {
    const { rows, rejected } = mapSpans(
      [
        spanObject({
          traceId: Buffer.from('ABCDEF0123456789abcdef0123456789', 'hex'),
          spanId: Buffer.from('00000000000000FF', 'hex'),
          parentSpanId: Buffer.from('1122334455667788', 'hex'),
          traceState: 'vendor=x',
          kind: 3,
          startTimeUnixNano: '1700000000123456789',
          endTimeUnixNano: '1700000001123456788',
          status: { code: 2, message: 'boom' },
        }),
      ],
      'openai-instrumentation',
    );
    expect(rejected).toBe(0);
    expect(rows[0]).toEqual({
      Timestamp: '1700000000123456789',
      TraceId: 'abcdef0123456789abcdef0123456789',
      SpanId: '00000000000000ff',
      ParentSpanId: '1122334455667788',
      TraceState: 'vendor=x',
      SpanName: 'GET /checkout',
      SpanKind: 'Client',
      ServiceName: 'checkout',
      ResourceAttributes: { 'service.name': 'checkout', 'spanscore.project': 'checkout' },
      ScopeName: 'openai-instrumentation',
      ScopeVersion: '1.2.3',
      SpanAttributes: {},
      Duration: '999999999',
      StatusCode: 'Error',
      StatusMessage: 'boom',
      Events: [],
      Links: [],
    });
  });

  it('names every span kind and status code like ptrace', () => {
    const kinds = [0, 1, 2, 3, 4, 5, 42].map((kind) => mapSpans([spanObject({ kind })]).rows[0]!.SpanKind);
    expect(kinds).toEqual(['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer', '']);
    const codes = [undefined, 0, 1, 2].map(
      (code) => mapSpans([spanObject(code === undefined ? {} : { status: { code } })]).rows[0]!.StatusCode,
    );
    expect(codes).toEqual(['Unset', 'Unset', 'Ok', 'Error']);
  });

  it('gives a root span an empty ParentSpanId, also for an all-zero parent id', () => {
    expect(mapSpans([spanObject()]).rows[0]!.ParentSpanId).toBe('');
    expect(mapSpans([spanObject({ parentSpanId: Buffer.alloc(8) })]).rows[0]!.ParentSpanId).toBe('');
  });

  it('computes Duration exactly and clamps a negative one to 0', () => {
    const duration = (start: string, end: string) =>
      mapSpans([spanObject({ startTimeUnixNano: start, endTimeUnixNano: end })]).rows[0]!.Duration;
    expect(duration('1700000000000000000', '1700000000000000001')).toBe('1');
    expect(duration('0', '18446744073709551615')).toBe('18446744073709551615');
    expect(duration('4294967297', '8589934592')).toBe('4294967295'); // borrows across the 32-bit halves
    expect(duration('1700000000000000001', '1700000000000000000')).toBe('0');
    expect(duration('5', '5')).toBe('0');
  });

  it('keeps full nanosecond precision of timestamps', () => {
    const { rows } = mapSpans([spanObject({ startTimeUnixNano: '9223372036854775807', endTimeUnixNano: '0' })]);
    expect(rows[0]!.Timestamp).toBe('9223372036854775807');
  });

  it('flattens scalar attribute values like pcommon AsString', () => {
    expect(
      attributesOf({
        str: { stringValue: 'hello' },
        emptyStr: { stringValue: '' },
        empty: {},
        yes: { boolValue: true },
        no: { boolValue: false },
        zero: { intValue: 0 },
        negative: { intValue: -1 },
        maxInt: { intValue: '9223372036854775807' },
        minInt: { intValue: '-9223372036854775808' },
        double: { doubleValue: 1.5 },
        tenth: { doubleValue: 0.1 },
        wholeDouble: { doubleValue: 3 },
        tiny: { doubleValue: 1e-7 },
        small: { doubleValue: 0.000001 },
        huge: { doubleValue: 1e21 },
        big: { doubleValue: 123456789012345680000 },
        negativeZero: { doubleValue: -0 },
        nan: { doubleValue: NaN },
        inf: { doubleValue: Infinity },
        bytes: { bytesValue: Buffer.from([0, 1, 2, 255]) },
      }),
    ).toEqual({
      str: 'hello',
      emptyStr: '',
      empty: '',
      yes: 'true',
      no: 'false',
      zero: '0',
      negative: '-1',
      maxInt: '9223372036854775807',
      minInt: '-9223372036854775808',
      double: '1.5',
      tenth: '0.1',
      wholeDouble: '3',
      tiny: '1e-7',
      small: '0.000001',
      huge: '1e+21',
      big: '123456789012345680000',
      negativeZero: '-0',
      nan: 'json: unsupported value: NaN',
      inf: 'json: unsupported value: +Inf',
      bytes: 'AAEC/w==',
    });
  });

  it('renders arrays and kvlists as the JSON Go writes for their raw values', () => {
    const attributes = attributesOf({
      array: {
        arrayValue: {
          values: [
            { stringValue: 'a<b & "c"\n' },
            { intValue: '-9223372036854775808' },
            { doubleValue: 2.5 },
            { boolValue: true },
            {},
            { bytesValue: Buffer.from('hi') },
            { arrayValue: {} },
          ],
        },
      },
      map: {
        kvlistValue: {
          values: [
            { key: 'z', value: { intValue: 1 } },
            { key: 'a', value: { stringValue: 'first' } },
            { key: 'a', value: { stringValue: 'last' } },
            { key: 'm', value: { kvlistValue: { values: [{ key: 'k', value: { arrayValue: { values: [] } } }] } } },
          ],
        },
      },
      emptyMap: { kvlistValue: {} },
      withNaN: { arrayValue: { values: [{ doubleValue: 1 }, { doubleValue: NaN }] } },
      unicode: { arrayValue: { values: [{ stringValue: '\u2028é😀\u0001\b' }] } },
    });
    expect(attributes).toEqual({
      array: '["a\\u003cb \\u0026 \\"c\\"\\n",-9223372036854775808,2.5,true,null,"aGk=",[]]',
      map: '{"a":"last","m":{"k":[]},"z":1}',
      emptyMap: '{}',
      withNaN: '',
      unicode: '["\\u2028é😀\\u0001\\b"]',
    });
  });

  it('keeps the last of duplicate attribute keys (in the first one\'s place) and odd keys as own properties', () => {
    const { rows } = mapSpans([
      spanObject({
        attributes: [
          { key: 'dup', value: { stringValue: 'first' } },
          { key: '__proto__', value: { stringValue: 'p' } },
          { key: 'dup', value: { stringValue: 'second' } },
          { key: 'constructor', value: { stringValue: 'c' } },
        ],
      }),
    ]);
    const attributes = rows[0]!.SpanAttributes;
    expect(Object.keys(attributes)).toEqual(['dup', '__proto__', 'constructor']);
    expect(attributes['dup']).toBe('second');
    expect(Object.getOwnPropertyDescriptor(attributes, '__proto__')?.value).toBe('p');
    expect(attributes['constructor']).toBe('c');
  });

  it('takes ServiceName from the resource (AsString), empty without one', () => {
    const request = (attributes: unknown[]) => ({ resourceSpans: [{ resource: { attributes }, scopeSpans: [{ spans: [spanObject()] }] }] });
    const serviceName = (attributes: unknown[]) => decodeProtobuf(encodeRequest(request(attributes))).rows[0]!.ServiceName;
    expect(serviceName([])).toBe('');
    expect(serviceName([{ key: 'service.name', value: { intValue: 42 } }])).toBe('42');
    const noResource = decodeProtobuf(encodeRequest({ resourceSpans: [{ scopeSpans: [{ spans: [spanObject()] }] }] }));
    expect(noResource.rows[0]).toMatchObject({ ServiceName: '', ResourceAttributes: {}, ScopeName: '', ScopeVersion: '' });
  });

  it('maps events and links', () => {
    const { rows } = mapSpans([
      spanObject({
        events: [
          { timeUnixNano: '1700000000500000001', name: 'gen_ai.content.prompt', attributes: [{ key: 'n', value: { intValue: 7 } }] },
          { timeUnixNano: '0', name: '' },
        ],
        links: [
          {
            traceId: Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex'),
            spanId: Buffer.from('a1a2a3a4a5a6a7a8', 'hex'),
            traceState: 'k=v',
            attributes: [{ key: 'link.kind', value: { stringValue: 'follows' } }],
          },
          { traceId: Buffer.alloc(16), spanId: Buffer.alloc(0) },
        ],
      }),
    ]);
    expect(rows[0]!.Events).toEqual([
      { Timestamp: '1700000000500000001', Name: 'gen_ai.content.prompt', Attributes: { n: '7' } },
      { Timestamp: '0', Name: '', Attributes: {} },
    ]);
    expect(rows[0]!.Links).toEqual([
      { TraceId: '0102030405060708090a0b0c0d0e0f10', SpanId: 'a1a2a3a4a5a6a7a8', TraceState: 'k=v', Attributes: { 'link.kind': 'follows' } },
      { TraceId: '', SpanId: '', TraceState: '', Attributes: {} },
    ]);
  });

  it('rejects unusable spans alone, saying which and why', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ traceId: Buffer.alloc(5, 1) }, 'trace_id must be 16 bytes, got 5'],
      [{ traceId: Buffer.alloc(0) }, 'trace_id must be 16 bytes, got 0'],
      [{ traceId: Buffer.alloc(16) }, 'trace_id must not be all zeroes'],
      [{ spanId: Buffer.alloc(9, 1) }, 'span_id must be 8 bytes, got 9'],
      [{ spanId: Buffer.alloc(8) }, 'span_id must not be all zeroes'],
      [{ parentSpanId: Buffer.alloc(4, 1) }, 'parent_span_id must be empty or 8 bytes, got 4'],
      [{ name: '' }, 'name must not be empty'],
      [{ links: [{ traceId: Buffer.alloc(3, 1) }] }, 'links[0].trace_id must be 16 bytes, got 3'],
      [{ links: [{}, { spanId: Buffer.alloc(2, 1) }] }, 'links[1].span_id must be 8 bytes, got 2'],
      [{ startTimeUnixNano: '9223372036854775808' }, 'start_time_unix_nano must be at most 9223372036854775807 (2262-04-11T23:47:16.854775807Z)'],
      [{ startTimeUnixNano: '18446744073709551615' }, 'start_time_unix_nano must be at most 9223372036854775807 (2262-04-11T23:47:16.854775807Z)'],
      [{ events: [{ name: 'ok', timeUnixNano: '1' }, { name: 'late', timeUnixNano: '18446744073709551615' }] }, 'events[1].time_unix_nano must be at most 9223372036854775807 (2262-04-11T23:47:16.854775807Z)'],
    ];
    for (const [override, reason] of cases) {
      const result = mapSpans([spanObject({ name: 'kept-before' }), spanObject(override), spanObject({ name: 'kept-after' })], 'x');
      expect(result.rows.map((row) => row.SpanName)).toEqual(['kept-before', 'kept-after']);
      expect(result.rejected).toBe(1);
      expect(result.rejectReasons).toEqual([`span 1 of scope "x": ${reason}`]);
    }
  });

  it('counts every rejected span but keeps a bounded number of reasons', () => {
    const bad = Array.from({ length: MAX_REJECT_REASONS + 5 }, () => spanObject({ name: '' }));
    const result = mapSpans([...bad, spanObject()]);
    expect(result.rejected).toBe(MAX_REJECT_REASONS + 5);
    expect(result.rejectReasons).toHaveLength(MAX_REJECT_REASONS);
    expect(result.rows).toHaveLength(1);
  });

  it('shares one ResourceAttributes object between the rows of a resource', () => {
    const { rows } = mapSpans([spanObject(), spanObject()]);
    expect(rows[0]!.ResourceAttributes).toBe(rows[1]!.ResourceAttributes);
  });
});
