import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { DEPTH_MARKER_JSON, MAX_NESTING_DEPTH } from '../../src/receivers/attribute-values.js';
import { DecodeError } from '../../src/receivers/decode-error.js';
import { decodeJson, decodeProtobuf } from '../../src/receivers/otlp-decoder.js';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';
import { encodeRequest, goodJsonRequest, goodProtobufRequest, requestObject, spanObject } from './receiver-test-kit.js';

const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const SPAN_ID = 'eee19b7ec3c1b174';

function jsonRequest(span: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
        scopeSpans: [{ scope: { name: 'json-scope', version: '0.1' }, spans: [span] }],
      },
    ],
    ...extra,
  });
}

describe('decodeProtobuf', () => {
  it('decodes a request and maps its spans', () => {
    const { rows } = decodeProtobuf(goodProtobufRequest('proto-span'));
    expect(rows.map((row) => [row.SpanName, row.TraceId, row.ServiceName])).toEqual([['proto-span', TRACE_ID, 'checkout']]);
  });

  it('accepts an empty request', () => {
    expect(decodeProtobuf(new Uint8Array(0))).toEqual({ rows: [], rejected: 0, rejectReasons: [], truncatedValues: 0, droppedAttributes: 0 });
  });

  it('stores absurdly deep attribute nesting with the depth marker, without overflowing the stack', () => {
    const lengthDelimited = (field: number, bytes: Uint8Array) => protobuf.Writer.create().uint32((field << 3) | 2).bytes(bytes).finish();
    let anyValue: Uint8Array = new Uint8Array(0);
    for (let depth = 0; depth < 1000; depth++) anyValue = lengthDelimited(5, lengthDelimited(1, anyValue)); // array_value.values
    const keyValue = protobuf.Writer.create().uint32((1 << 3) | 2).string('deep').uint32((2 << 3) | 2).bytes(anyValue).finish();
    const span = Buffer.concat([spanBytes(), lengthDelimited(9, keyValue)]);
    const request = lengthDelimited(1, lengthDelimited(2, lengthDelimited(2, span)));
    const { rows, truncatedValues } = decodeProtobuf(request);
    expect(rows[0]!.SpanAttributes.deep).toBe('['.repeat(MAX_NESTING_DEPTH) + DEPTH_MARKER_JSON + ']'.repeat(MAX_NESTING_DEPTH));
    expect(truncatedValues).toBe(1);
  });

  it('throws DecodeError for bytes that are not the message', () => {
    const truncated = goodProtobufRequest().subarray(0, 20);
    expect(() => decodeProtobuf(truncated)).toThrow(DecodeError);
    expect(() => decodeProtobuf(Buffer.from('{"resourceSpans":[]}'))).toThrow(/not a protobuf ExportTraceServiceRequest/);
  });
});

/** One valid Span message, encoded alone. */
function spanBytes(): Uint8Array {
  const spanType = otlpSchema().root.lookupType('opentelemetry.proto.trace.v1.Span');
  return spanType.encode(spanType.fromObject(spanObject())).finish();
}

describe('decodeJson (OTLP/JSON)', () => {
  it('reads hex ids, lowerCamelCase keys, int64 strings and integer enums', () => {
    const { rows, rejected } = decodeJson(goodJsonRequest('json-span'));
    expect(rejected).toBe(0);
    expect(rows[0]).toMatchObject({
      TraceId: TRACE_ID,
      SpanId: SPAN_ID,
      SpanName: 'json-span',
      SpanKind: 'Server',
      Timestamp: '1700000000123456789',
      Duration: '100000001',
    });
  });

  it('accepts int64 as a number, enums by name, snake_case keys and unknown fields', () => {
    const { rows, rejected } = decodeJson(
      jsonRequest(
        {
          trace_id: TRACE_ID,
          span_id: SPAN_ID,
          parent_span_id: '0102030405060708',
          name: 'snake',
          kind: 'SPAN_KIND_CONSUMER',
          start_time_unix_nano: 1700000000000000000,
          endTimeUnixNano: '1700000000000000500',
          attributes: [
            { key: 'n', value: { int_value: 42 } },
            { key: 's', value: { intValue: '-9223372036854775808' } },
            { key: 'd', value: { doubleValue: '2.5' } },
            { key: 'b', value: { bytesValue: 'AAEC/w==' } },
            { key: 'unknownValue', value: { someFutureValue: 1 } },
          ],
          status: { code: 'STATUS_CODE_OK', message: 'fine', futureField: true },
          brandNewSpanField: { nested: [1, 2] },
        },
        { someExtension: 'ignored' },
      ),
    );
    expect(rejected).toBe(0);
    expect(rows[0]).toMatchObject({
      ParentSpanId: '0102030405060708',
      SpanName: 'snake',
      SpanKind: 'Consumer',
      Timestamp: '1700000000000000000',
      Duration: '500',
      StatusCode: 'Ok',
      StatusMessage: 'fine',
      SpanAttributes: { n: '42', s: '-9223372036854775808', d: '2.5', b: 'AAEC/w==', unknownValue: '' },
    });
  });

  it('treats null fields as unset', () => {
    const { rows } = decodeJson(
      jsonRequest({ traceId: TRACE_ID, spanId: SPAN_ID, name: 'n', parentSpanId: null, status: null, attributes: [{ key: 'x', value: { doubleValue: null } }] }),
    );
    expect(rows[0]).toMatchObject({ ParentSpanId: '', StatusCode: 'Unset', SpanAttributes: { x: '' } });
  });

  it('rejects only the span whose ids are not hex', () => {
    const spans = [
      { traceId: TRACE_ID, spanId: SPAN_ID, name: 'good' },
      { traceId: 'W46/95gDgQPSabYzgT/GDA==', spanId: SPAN_ID, name: 'base64-trace-id' },
      { traceId: TRACE_ID, spanId: SPAN_ID, name: 'bad-link', links: [{ traceId: TRACE_ID, spanId: 'xyz' }] },
      { traceId: TRACE_ID, spanId: 'eee19b7ec3c1b17', name: 'odd-length' },
    ];
    const text = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ scope: { name: 's' }, spans }] }] });
    const { rows, rejected, rejectReasons } = decodeJson(text);
    expect(rows.map((row) => row.SpanName)).toEqual(['good']);
    expect(rejected).toBe(3);
    expect(rejectReasons).toEqual([
      'span 1 of scope "s": trace_id is not a hex string: "W46/95gDgQPSabYzgT/GDA=="',
      'span 2 of scope "s": links[0].span_id is not a hex string: "xyz"',
      'span 3 of scope "s": span_id is not a hex string: "eee19b7ec3c1b17"',
    ]);
  });

  it('maps hex link ids', () => {
    const { rows } = decodeJson(
      jsonRequest({ traceId: TRACE_ID, spanId: SPAN_ID, name: 'l', links: [{ traceId: '0102030405060708090A0B0C0D0E0F10', spanId: 'a1a2a3a4a5a6a7a8' }] }),
    );
    expect(rows[0]!.Links).toEqual([{ TraceId: '0102030405060708090a0b0c0d0e0f10', SpanId: 'a1a2a3a4a5a6a7a8', TraceState: '', Attributes: {} }]);
  });

  it('produces the same rows as the protobuf encoding of the same request', () => {
    const span = spanObject({ attributes: [{ key: 'k', value: { stringValue: 'v' } }], status: { code: 1 } });
    const fromProtobuf = decodeProtobuf(encodeRequest(requestObject([span])));
    const fromJson = decodeJson(
      JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
            scopeSpans: [
              {
                scope: { name: 'test-scope', version: '1.2.3' },
                spans: [{ ...span, traceId: TRACE_ID, spanId: SPAN_ID }],
              },
            ],
          },
        ],
      }),
    );
    expect(fromJson).toEqual(fromProtobuf);
  });

  it.each([
    ['not JSON', '{"resourceSpans": [', /not valid JSON/],
    ['a JSON array', '[]', /must be a JSON object/],
    ['a wrongly typed field', JSON.stringify({ resourceSpans: { not: 'an array' } }), /not an OTLP\/JSON ExportTraceServiceRequest/],
    ['a non-integer timestamp', jsonRequest({ traceId: TRACE_ID, spanId: SPAN_ID, name: 'n', startTimeUnixNano: 'soon' }), /startTimeUnixNano/],
    ['two members of a oneof', jsonRequest({ traceId: TRACE_ID, spanId: SPAN_ID, name: 'n', attributes: [{ key: 'k', value: { stringValue: 'a', intValue: 1 } }] }), /oneof/],
  ])('throws DecodeError for %s', (_, text, message) => {
    expect(() => decodeJson(text)).toThrow(DecodeError);
    expect(() => decodeJson(text)).toThrow(message);
  });
});
