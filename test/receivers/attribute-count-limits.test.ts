import { describe, expect, it } from 'vitest';
import { DROPPED_ATTRIBUTES_KEY } from '../../src/receivers/attribute-limits.js';
import { decodeJson, decodeProtobuf, decodeProtobufReference } from '../../src/receivers/otlp-decoder.js';
import type { MapOptions, MappedSpans } from '../../src/receivers/span-mapper.js';
import { toOtlpJson } from './otlp-fuzz-arbitraries.js';
import { encodeRequest, requestObject, spanObject } from './receiver-test-kit.js';

/**
 * Duplicate keys and the per-list attribute limits (`max_attributes_per_span`,
 * `max_span_attributes_bytes`), alike in the three decoders: the protobuf one the receivers
 * use, its protobufjs reference, and OTLP/JSON.
 */

type Request = Record<string, unknown>;

const DECODERS: Record<string, (request: Request, options: MapOptions) => MappedSpans> = {
  protobuf: (request, options) => decodeProtobuf(encodeRequest(request), options),
  reference: (request, options) => decodeProtobufReference(encodeRequest(request), options),
  json: (request, options) => decodeJson(toOtlpJson(request), options),
};

/** The three decoders' results, checked equal; the first returned. */
function decodeAll(request: Request, options: MapOptions = {}): MappedSpans {
  const [first, ...others] = Object.values(DECODERS).map((decode) => decode(request, options));
  for (const other of others) expect(other).toEqual(first);
  return first!;
}

const str = (key: string, value: string) => ({ key, value: { stringValue: value } });

function withResource(request: Request, attributes: unknown[]): Request {
  (request.resourceSpans as { resource: { attributes: unknown[] } }[])[0]!.resource.attributes = attributes;
  return request;
}

describe('duplicate attribute keys', () => {
  it('the last value wins, in the first one\'s place, in every decoder (span, event, link and resource lists)', () => {
    const duplicates = [str('a', 'first'), str('b', 'b'), str('a', 'last')];
    const request = withResource(
      requestObject([
        spanObject({
          attributes: duplicates,
          events: [{ name: 'e', timeUnixNano: '1700000000123456789', attributes: duplicates }],
          links: [{ traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 2), attributes: duplicates }],
        }),
      ]),
      [str('service.name', 'first'), str('service.name', 'last')],
    );
    const row = decodeAll(request).rows[0]!;
    for (const attributes of [row.SpanAttributes, row.Events[0]!.Attributes, row.Links[0]!.Attributes]) {
      expect(Object.entries(attributes)).toEqual([
        ['a', 'last'],
        ['b', 'b'],
      ]);
    }
    // ServiceName is the stored value: the two never disagree.
    expect([row.ServiceName, row.ResourceAttributes['service.name']]).toEqual(['last', 'last']);
  });
});

describe('max_attributes_per_span', () => {
  const many = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => str(`${prefix}${i}`, `v${i}`));

  it('keeps the first N distinct keys (later values of a kept key still replace it), drops the rest and says how many', () => {
    const request = withResource(
      requestObject([
        spanObject({
          attributes: [...many('k', 10), str('k1', 'replaced')],
          events: [{ name: 'e', timeUnixNano: '1700000000123456789', attributes: many('e', 5) }],
          links: [{ traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 2), attributes: many('l', 4) }],
        }),
      ]),
      [str('service.name', 'svc'), ...many('r', 6)],
    );
    const mapped = decodeAll(request, { maxAttributesPerSpan: 3 });
    const row = mapped.rows[0]!;
    // 7 of the span's own, 2 of its event's, 1 of its link's.
    expect(row.SpanAttributes).toEqual({ k0: 'v0', k1: 'replaced', k2: 'v2', [DROPPED_ATTRIBUTES_KEY]: '10' });
    expect(row.Events[0]!.Attributes).toEqual({ e0: 'v0', e1: 'v1', e2: 'v2' });
    expect(row.Links[0]!.Attributes).toEqual({ l0: 'v0', l1: 'v1', l2: 'v2' });
    expect(row.ResourceAttributes).toMatchObject({ 'service.name': 'svc', r0: 'v0', r1: 'v1', [DROPPED_ATTRIBUTES_KEY]: '4' });
    expect(row.ResourceAttributes).not.toHaveProperty('r2');
    expect(mapped.droppedAttributes).toBe(14);
  });

  it('stamps nothing and drops nothing under the limit; counts nothing for a refused span', () => {
    const under = decodeAll(requestObject([spanObject({ attributes: many('k', 3) })]), { maxAttributesPerSpan: 3 });
    expect(under.rows[0]!.SpanAttributes).toEqual({ k0: 'v0', k1: 'v1', k2: 'v2' });
    expect(under.droppedAttributes).toBe(0);
    const refused = decodeAll(requestObject([spanObject({ name: '', attributes: many('k', 10) }), spanObject({ name: 'ok' })]), { maxAttributesPerSpan: 3 });
    expect([refused.rejected, refused.droppedAttributes]).toEqual([1, 0]);
  });
});

describe('max_span_attributes_bytes', () => {
  it('drops an entry that would pass the bound, keeping the value already stored for its key', () => {
    const x = (n: number) => 'x'.repeat(n);
    const attributes = [
      str('a', x(40)), // 41 bytes
      str('b', x(40)), // 82
      str('c', x(30)), // 113 > 100: dropped
      str('a', x(70)), // 82 - 40 + 70 = 112: dropped, a keeps its 40
      str('a', 'short'), // 47
      str('c', x(30)), // 78: c fits now
      str('d', x(30)), // 109: dropped
    ];
    const mapped = decodeAll(requestObject([spanObject({ attributes })]), { maxSpanAttributesBytes: 100 });
    expect(mapped.rows[0]!.SpanAttributes).toEqual({ a: 'short', b: x(40), c: x(30), [DROPPED_ATTRIBUTES_KEY]: '3' });
    expect(mapped.droppedAttributes).toBe(3);
  });

  it('counts UTF-8 bytes of keys and stored values (é is two, a cut value ends with its marker)', () => {
    const bound = 1 + 2 * 10;
    const fits = decodeAll(requestObject([spanObject({ attributes: [str('k', 'é'.repeat(10))] })]), { maxSpanAttributesBytes: bound });
    expect(fits.rows[0]!.SpanAttributes).toEqual({ k: 'é'.repeat(10) });
    const over = decodeAll(requestObject([spanObject({ attributes: [str('k', 'é'.repeat(11))] })]), { maxSpanAttributesBytes: bound });
    expect(over.rows[0]!.SpanAttributes).toEqual({ [DROPPED_ATTRIBUTES_KEY]: '1' });
    // Cut at 4 characters: 'éééé…[truncated 6 chars]' is 8 + 3 + 19 bytes.
    const cut = { maxAttributeValueLength: 4 };
    const marker = decodeAll(requestObject([spanObject({ attributes: [str('k', 'é'.repeat(10))] })]), { ...cut, maxSpanAttributesBytes: 1 + 30 });
    expect(marker.rows[0]!.SpanAttributes).toEqual({ k: 'éééé…[truncated 6 chars]' });
    const tight = decodeAll(requestObject([spanObject({ attributes: [str('k', 'é'.repeat(10))] })]), { ...cut, maxSpanAttributesBytes: 30 });
    expect(tight.rows[0]!.SpanAttributes).toEqual({ [DROPPED_ATTRIBUTES_KEY]: '1' });
  });

  it('holds a span of a million attributes to the limits', () => {
    const attributes = Array.from({ length: 1_000_000 }, (_, i) => str(`key.${i}`, `value ${i}`));
    const request = requestObject([spanObject({ attributes })]);
    const body = encodeRequest(request);
    const mapped = decodeProtobuf(body, { maxAttributesPerSpan: 4096, maxSpanAttributesBytes: 4 * 1024 * 1024 });
    const stored = mapped.rows[0]!.SpanAttributes;
    expect(Object.keys(stored)).toHaveLength(4097);
    expect(stored['key.4095']).toBe('value 4095');
    expect(stored[DROPPED_ATTRIBUTES_KEY]).toBe(String(1_000_000 - 4096));
    expect(mapped.droppedAttributes).toBe(1_000_000 - 4096);
  });
});
