import { describe, expect, it } from 'vitest';
import { quoteInt64Numbers } from '../../src/receivers/json-int64.js';
import { decodeJson, decodeProtobuf } from '../../src/receivers/otlp-decoder.js';
import { encodeRequest, requestObject, spanObject } from './receiver-test-kit.js';

/**
 * OTLP/JSON 64-bit integers sent as JSON numbers (the specification requires decoders to
 * accept them) are read exactly, as their string form is: timestamps near 1.7e18 and
 * intValues past 2^53 are beyond what a double holds.
 */

const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const SPAN_ID = 'eee19b7ec3c1b174';

/** A one-span OTLP/JSON body whose int64 / fixed64 values are written as bare numbers. */
function numericJson(snakeCase = false): string {
  const name = (camel: string, snake: string) => (snakeCase ? snake : camel);
  return (
    `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${TRACE_ID}","spanId":"${SPAN_ID}","name":"n",` +
    `"${name('startTimeUnixNano', 'start_time_unix_nano')}":1700000000123456789,` +
    `"${name('endTimeUnixNano', 'end_time_unix_nano')}" : 1700000000123458289 ,` +
    `"attributes":[` +
    `{"key":"big","value":{"${name('intValue', 'int_value')}":9007199254740993}},` +
    `{"key":"min","value":{"${name('intValue', 'int_value')}":-9223372036854775808}},` +
    `{"key":"small","value":{"${name('intValue', 'int_value')}":42}},` +
    `{"key":"list","value":{"${name('arrayValue', 'array_value')}":{"values":[{"${name('intValue', 'int_value')}":9223372036854775807}]}}},` +
    `{"key":"double","value":{"${name('doubleValue', 'double_value')}":12345678901234567890}},` +
    `{"key":"quoted","value":{"${name('stringValue', 'string_value')}":"{\\"intValue\\":12345678901234567891}"}}],` +
    `"events":[{"${name('timeUnixNano', 'time_unix_nano')}":1700000000123457000,"name":"e"}]}]}]}]}`
  );
}

describe('OTLP/JSON int64 and fixed64 as JSON numbers', () => {
  it.each([false, true])('are read exactly (snake_case names: %s)', (snakeCase) => {
    const row = decodeJson(numericJson(snakeCase)).rows[0]!;
    expect(row.Timestamp).toBe('1700000000123456789');
    expect(row.Duration).toBe('1500');
    expect(row.Events[0]!.Timestamp).toBe('1700000000123457000');
    expect(row.SpanAttributes).toEqual({
      big: '9007199254740993',
      min: '-9223372036854775808',
      small: '42',
      list: '[9223372036854775807]',
      // A double stays a double: the same value as the number JSON.parse reads.
      double: String(12345678901234567890),
      // Text inside a string is never touched.
      quoted: '{"intValue":12345678901234567891}',
    });
  });

  it('map exactly like the same request in protobuf', () => {
    const fromJson = decodeJson(numericJson());
    const span = spanObject({
      name: 'n',
      kind: 0,
      startTimeUnixNano: '1700000000123456789',
      endTimeUnixNano: '1700000000123458289',
      attributes: [
        { key: 'big', value: { intValue: '9007199254740993' } },
        { key: 'min', value: { intValue: '-9223372036854775808' } },
        { key: 'small', value: { intValue: 42 } },
        { key: 'list', value: { arrayValue: { values: [{ intValue: '9223372036854775807' }] } } },
        { key: 'double', value: { doubleValue: 12345678901234567890 } },
        { key: 'quoted', value: { stringValue: '{"intValue":12345678901234567891}' } },
      ],
      events: [{ timeUnixNano: '1700000000123457000', name: 'e' }],
    });
    const request = requestObject([span]);
    const resourceSpans = request.resourceSpans as { resource?: unknown; scopeSpans: { scope?: unknown }[] }[];
    delete resourceSpans[0]!.resource;
    delete resourceSpans[0]!.scopeSpans[0]!.scope;
    expect(fromJson).toEqual(decodeProtobuf(encodeRequest(request)));
  });
});

describe('quoteInt64Numbers', () => {
  it('quotes the digits of large integer literals of the 64-bit fields only', () => {
    expect(quoteInt64Numbers('{"intValue":12345678901234567}')).toBe('{"intValue":"12345678901234567"}');
    expect(quoteInt64Numbers('{"time_unix_nano": 1700000000000000000 }')).toBe('{"time_unix_nano": "1700000000000000000" }');
    for (const unchanged of [
      '{"intValue":123456789012345}', // 15 digits: exact as a double
      '{"intValue":"12345678901234567"}', // already a string
      '{"intValue":12345678901234567.5}', // not an integer literal
      '{"intValue":1234567890123456789e3}',
      '{"doubleValue":12345678901234567}', // a double field
      '{"droppedAttributesCount":12345678901234567}', // a 32-bit field: out of range either way
      '{"stringValue":"\\"intValue\\":12345678901234567"}', // inside a string
    ]) {
      expect(quoteInt64Numbers(unchanged)).toBe(unchanged);
    }
  });

  it('leaves a body whose 64-bit values are strings (the usual case) as it is', () => {
    const text = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ startTimeUnixNano: '1700000000123456789' }] }] }] });
    expect(quoteInt64Numbers(text)).toBe(text);
  });
});
