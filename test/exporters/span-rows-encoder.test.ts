import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeSpanRows, encodeSpanRowsJson, TYPED_SPAN_ATTRIBUTES } from '../../src/exporters/span-rows-encoder.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import { decodeJson, decodeProtobuf } from '../../src/receivers/otlp-decoder.js';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';
import { toScoreRecord } from '../../src/scoring/score-recorder.js';
import { encodeObject, FUZZ_SEED, requestObjects } from '../receivers/otlp-fuzz-arbitraries.js';

/** Decoded or parsed OTLP trees, read field by field. */
type Json = Record<string, any>;

/** The request as protobufjs decodes it (strictly: invalid UTF-8 would throw), 64-bit integers as strings. */
function decodeRequest(bytes: Uint8Array): Json {
  const type = otlpSchema().exportTraceServiceRequest;
  return type.toObject(type.decode(bytes), { longs: String, bytes: String });
}

const attributesOf = (list: Json[] | undefined) => Object.fromEntries((list ?? []).map((kv) => [kv.key, kv.value]));

/** A row as the receivers would have stored it: the resource carries its project. */
function row(overrides: Partial<SpanRow> = {}): SpanRow {
  const serviceName = overrides.ServiceName ?? 'checkout';
  return {
    Timestamp: '1764158400123456789',
    TraceId: '5b8efff798038103d269b633813fc60c',
    SpanId: 'eee19b7ec3c1b174',
    ParentSpanId: '',
    TraceState: '',
    SpanName: 'GET /cart',
    SpanKind: 'Server',
    ServiceName: serviceName,
    ResourceAttributes: { 'service.name': serviceName, 'spanscore.project': 'shop', 'host.name': 'web-1' },
    ScopeName: 'http',
    ScopeVersion: '1.0',
    SpanAttributes: { 'http.method': 'GET', 'http.status_code': '200' },
    Duration: '987654321',
    StatusCode: 'Unset',
    StatusMessage: '',
    Events: [],
    Links: [],
    ...overrides,
  };
}

describe('encodeSpanRows', () => {
  it('decodes back into the same rows', () => {
    const rows: SpanRow[] = [
      row({ ParentSpanId: '', SpanKind: 'Server', StatusCode: 'Unset' }),
      row({
        SpanId: '0000000000000001',
        ParentSpanId: 'eee19b7ec3c1b174',
        TraceState: 'vendor=x',
        SpanName: 'db query',
        SpanKind: 'Client',
        SpanAttributes: { 'db.statement': 'SELECT 1 -- ünïcode 🎉', empty: '' },
        StatusCode: 'Error',
        StatusMessage: 'timeout',
        Events: [
          { Timestamp: '1764158400500000000', Name: 'retry', Attributes: { attempt: '2' } },
          { Timestamp: '1764158400600000000', Name: '', Attributes: {} },
        ],
        Links: [
          { TraceId: '00112233445566778899aabbccddeeff', SpanId: '8899aabbccddeeff', TraceState: 'k=v', Attributes: { why: 'follows' } },
          { TraceId: '', SpanId: '', TraceState: '', Attributes: {} },
        ],
      }),
      ...['Unspecified', 'Internal', 'Producer', 'Consumer'].map((kind, i) => row({ SpanId: `00000000000000f${i}`, SpanKind: kind, StatusCode: 'Ok', ScopeName: '', ScopeVersion: '' })),
    ];
    const { rows: decoded, rejected } = decodeProtobuf(encodeSpanRows(rows));
    expect(rejected).toBe(0);
    expect(decoded).toEqual(rows);
  });

  it('decodes back into the same rows for requests the receivers took (300 generated)', () => {
    // Kinds and status codes beyond the enums are stored as '' and cannot round-trip.
    const storable = (rows: SpanRow[]) => rows.filter((r) => r.SpanKind !== '' && r.StatusCode !== '');
    const sorted = (rows: SpanRow[]) => rows.map((r) => JSON.stringify(r)).sort();
    fc.assert(
      fc.property(requestObjects('well-formed'), (request) => {
        const rows = storable(decodeProtobuf(encodeObject(request)).rows);
        const decoded = decodeProtobuf(encodeSpanRows(rows));
        expect(decoded.rejected).toBe(0);
        // Equal resources of the request are merged into one: the order across groups may change.
        expect(sorted(decoded.rows)).toEqual(sorted(rows));
      }),
      { seed: FUZZ_SEED, numRuns: 300 },
    );
  });

  it('groups rows by resource, then by scope, keeping their order', () => {
    const sameResourceOtherObject = { 'host.name': 'web-1', 'spanscore.project': 'shop', 'service.name': 'checkout' };
    const rows = [
      row({ SpanId: '00000000000000a1', ScopeName: 'http' }),
      row({ SpanId: '00000000000000b1', ServiceName: 'payments' }),
      row({ SpanId: '00000000000000a2', ScopeName: 'db' }),
      row({ SpanId: '00000000000000a3', ScopeName: 'http', ResourceAttributes: sameResourceOtherObject }),
      row({ SpanId: '00000000000000a4', ScopeName: 'http', ScopeVersion: '2.0' }),
      row({ SpanId: '00000000000000c1', ResourceAttributes: { ...sameResourceOtherObject, 'host.name': 'web-2' } }),
    ];
    const request = decodeRequest(encodeSpanRows(rows));
    const layout = request.resourceSpans.map((resource: Json) => ({
      service: attributesOf(resource.resource.attributes)['service.name'].stringValue,
      host: attributesOf(resource.resource.attributes)['host.name'].stringValue,
      scopes: resource.scopeSpans.map((scope: Json) => [scope.scope.name, scope.scope.version, scope.spans.map((s: Json) => Buffer.from(s.spanId, 'base64').toString('hex'))]),
    }));
    expect(layout).toEqual([
      {
        service: 'checkout',
        host: 'web-1',
        scopes: [
          ['http', '1.0', ['00000000000000a1', '00000000000000a3']],
          ['db', '1.0', ['00000000000000a2']],
          ['http', '2.0', ['00000000000000a4']],
        ],
      },
      { service: 'payments', host: 'web-1', scopes: [['http', '1.0', ['00000000000000b1']]] },
      { service: 'checkout', host: 'web-2', scopes: [['http', '1.0', ['00000000000000c1']]] },
    ]);
  });

  it('groups like a plain reference grouping, with many resources and scopes too (300 generated batches)', () => {
    const services = ['checkout', 'payments', 'search', 'cart', 'auth', 'mail', 'ads', 'ranker', 'index', 'judge', 'llm', 'gateway'];
    const generatedRow = fc.record({
      service: fc.constantFrom(...services),
      host: fc.constantFrom('web-1', 'web-2', 'web-3'),
      reversed: fc.boolean(),
      scope: fc.integer({ min: 0, max: 11 }),
      version: fc.constantFrom('1.0', '2.0'),
    });
    fc.assert(
      fc.property(fc.array(generatedRow, { minLength: 1, maxLength: 150, size: 'max' }), (generated) => {
        const rows = generated.map((g, i) => {
          const entries: [string, string][] = [['service.name', g.service], ['host.name', g.host], ['spanscore.project', 'p']];
          // A new object per row, its keys in either order: grouping is by content.
          const attributes = Object.fromEntries(g.reversed ? entries.reverse() : entries);
          return row({ SpanId: i.toString(16).padStart(16, '0'), ServiceName: g.service, ResourceAttributes: attributes, ScopeName: `scope-${g.scope}`, ScopeVersion: g.version });
        });
        const expected = new Map<string, Map<string, string[]>>();
        for (const r of rows) {
          const resource = JSON.stringify([r.ServiceName, Object.entries(r.ResourceAttributes).sort()]);
          const scopes = expected.get(resource) ?? expected.set(resource, new Map()).get(resource)!;
          const scope = JSON.stringify([r.ScopeName, r.ScopeVersion]);
          (scopes.get(scope) ?? scopes.set(scope, []).get(scope)!).push(r.SpanId);
        }
        const request = decodeRequest(encodeSpanRows(rows));
        const actual = (request.resourceSpans ?? []).map((resource: Json) => [
          JSON.stringify([attributesOf(resource.resource.attributes)['service.name'].stringValue, resource.resource.attributes.map((kv: Json) => [kv.key, kv.value.stringValue]).sort()]),
          resource.scopeSpans.map((scope: Json) => [JSON.stringify([scope.scope.name, scope.scope.version]), scope.spans.map((s: Json) => Buffer.from(s.spanId, 'base64').toString('hex'))]),
        ]);
        expect(actual).toEqual([...expected].map(([resource, scopes]) => [resource, [...scopes]]));
      }),
      { seed: FUZZ_SEED, numRuns: 300 },
    );
  });

  it('keeps scopes apart by name and version when a resource has many', () => {
    const rows: SpanRow[] = [];
    for (let round = 0; round < 3; round++) {
      for (let scope = 0; scope < 12; scope++) {
        for (const version of ['1.0', '2.0']) rows.push(row({ SpanId: rows.length.toString(16).padStart(16, '0'), ScopeName: `scope-${scope}`, ScopeVersion: version }));
      }
    }
    const [resource, ...others] = decodeRequest(encodeSpanRows(rows)).resourceSpans as Json[];
    expect(others).toEqual([]);
    const scopes = resource!.scopeSpans.map((scope: Json) => [scope.scope.name, scope.scope.version, scope.spans.length]);
    expect(scopes).toEqual(Array.from({ length: 24 }, (_, i) => [`scope-${i >> 1}`, i % 2 === 0 ? '1.0' : '2.0', 3]));
    const firstScopeIds = resource!.scopeSpans[0].spans.map((s: Json) => Buffer.from(s.spanId, 'base64').toString('hex'));
    expect(firstScopeIds).toEqual([0, 24, 48].map((i) => i.toString(16).padStart(16, '0')));
  });

  it('computes the end time without losing nanoseconds', () => {
    const cases = [
      ['1764158400123456789', '987654321', '1764158401111111110'],
      ['1764158400123456789', '0', '1764158400123456789'],
      ['4294967295', '1', '4294967296'],
      ['9223372036854775807', '9223372036854775808', '18446744073709551615'],
    ];
    const rows = cases.map(([start, duration], i) => row({ SpanId: `000000000000000${i + 1}`, Timestamp: start!, Duration: duration! }));
    const spans = decodeRequest(encodeSpanRows(rows)).resourceSpans[0].scopeSpans[0].spans as Json[];
    expect(spans.map((s) => [s.startTimeUnixNano, s.endTimeUnixNano])).toEqual(cases.map(([start, , end]) => [start, end]));
    expect(() => encodeSpanRows([row({ Timestamp: '18446744073709551615', Duration: '1' })])).toThrow(/exceeds 2\^64 - 1/);
    expect(() => encodeSpanRows([row({ Duration: '' })])).toThrow(/Duration is not a decimal number/);
  });

  it('sends the scoring spans’ typed attributes as double and bool', () => {
    const scored = row();
    const outcome = { scorer: 'relevance', score: 0.75, error: '', metadata: { why: 'ok' }, durationNs: 1_500_000, startedAt: '1764158401000000000' };
    const { span: scoring } = toScoreRecord(scored, 'rule-1', outcome, 'online', undefined, true);
    const failed = toScoreRecord(scored, 'rule-1', { ...outcome, score: null, error: 'judge timed out' }, 'online').span;
    const request = decodeRequest(encodeSpanRows([scoring, failed, row({ SpanAttributes: { 'spanscore.score': 'n/a', 'spanscore.recovered': 'yes' } })]));
    const spans = request.resourceSpans.flatMap((r: Json) => r.scopeSpans.flatMap((s: Json) => s.spans)) as Json[];
    const [scoringAttributes, failedAttributes, otherAttributes] = spans.map((s) => attributesOf(s.attributes));
    expect(scoringAttributes!['spanscore.score']).toEqual({ doubleValue: 0.75 });
    expect(scoringAttributes!['spanscore.recovered']).toEqual({ boolValue: true });
    expect(scoringAttributes!['spanscore.scorer']).toEqual({ stringValue: 'relevance' });
    expect(failedAttributes!).not.toHaveProperty('spanscore.score');
    expect(spans[1]!.status).toEqual({ code: 2, message: 'judge timed out' });
    // Values that are not of the type stay strings.
    expect(otherAttributes!['spanscore.score']).toEqual({ stringValue: 'n/a' });
    expect(otherAttributes!['spanscore.recovered']).toEqual({ stringValue: 'yes' });
    expect([...TYPED_SPAN_ATTRIBUTES.keys()]).toEqual(['spanscore.score', 'spanscore.recovered']);
  });

  it('types only plain decimal scores, and they decode to the same stored string', () => {
    const typed = (value: string) => {
      const span = decodeRequest(encodeSpanRows([row({ SpanAttributes: { 'spanscore.score': value } })])).resourceSpans[0].scopeSpans[0].spans[0];
      return attributesOf(span.attributes)['spanscore.score'];
    };
    expect(typed('1')).toEqual({ doubleValue: 1 });
    expect(typed('-0.5')).toEqual({ doubleValue: -0.5 });
    expect(typed('1e-3')).toEqual({ doubleValue: 0.001 });
    for (const notDecimal of ['', ' ', '0x10', 'Infinity', 'NaN', '1e999', '1,5']) expect(typed(notDecimal)).toEqual({ stringValue: notDecimal });
    const scoring = toScoreRecord(row(), 'r', { scorer: 's', score: 0.125, error: '', metadata: {}, durationNs: 10, startedAt: '1764158401000000000' }, 'online').span;
    expect(decodeProtobuf(encodeSpanRows([scoring])).rows).toEqual([scoring]);
  });

  it('gives a root span an empty parent id, and a child its parent', () => {
    const bytes = encodeSpanRows([row(), row({ SpanId: '0000000000000002', ParentSpanId: 'eee19b7ec3c1b174' })]);
    const type = otlpSchema().exportTraceServiceRequest;
    const [root, child] = (type.decode(bytes) as unknown as Json).resourceSpans[0].scopeSpans[0].spans as Json[];
    expect(root!.parentSpanId).toHaveLength(0);
    expect(Buffer.from(child!.parentSpanId).toString('hex')).toBe('eee19b7ec3c1b174');
    expect(decodeProtobuf(bytes).rows.map((r) => r.ParentSpanId)).toEqual(['', 'eee19b7ec3c1b174']);
    const json = JSON.parse(encodeSpanRowsJson([row()])).resourceSpans[0].scopeSpans[0].spans[0];
    expect(json.parentSpanId ?? '').toBe('');
    expect(json.spanId).toBe('eee19b7ec3c1b174');
  });

  it('adds service.name to a resource that lacks it', () => {
    const rows = [row({ ServiceName: 'svc', ResourceAttributes: { 'spanscore.project': 'svc' } })];
    const resource = decodeRequest(encodeSpanRows(rows)).resourceSpans[0].resource;
    expect(attributesOf(resource.attributes)).toEqual({ 'service.name': { stringValue: 'svc' }, 'spanscore.project': { stringValue: 'svc' } });
  });

  it('writes lone surrogates as U+FFFD, so strict decoders take the request', () => {
    const bytes = encodeSpanRows([row({ StatusCode: 'Error', StatusMessage: 'bad \ud800 text', SpanAttributes: { 'k\udc00': 'v\ud83d' } })]);
    const span = decodeRequest(bytes).resourceSpans[0].scopeSpans[0].spans[0];
    expect(span.status.message).toBe('bad \ufffd text');
    expect(span.attributes).toEqual([{ key: 'k\ufffd', value: { stringValue: 'v\ufffd' } }]);
  });

  it('refuses ids that are not hex', () => {
    expect(() => encodeSpanRows([row({ TraceId: '5b8efff798038103d269b633813fc6zz' })])).toThrow(/TraceId is not hex/);
    expect(() => encodeSpanRows([row({ ParentSpanId: 'abc' })])).toThrow(/ParentSpanId is not hex/);
    expect(() => encodeSpanRows([row({ Links: [{ TraceId: 'x', SpanId: '', TraceState: '', Attributes: {} }] })])).toThrow(/Links.TraceId is not hex/);
  });

  it('encodes no rows as an empty request', () => {
    expect(encodeSpanRows([]).length).toBe(0);
    expect(encodeSpanRowsJson([])).toBe('{}');
  });

  it('gives the same rows through OTLP/JSON', () => {
    const rows = [row(), row({ SpanId: '0000000000000002', ParentSpanId: 'eee19b7ec3c1b174', SpanAttributes: { 'spanscore.score': '0.75' } })];
    expect(decodeJson(encodeSpanRowsJson(rows)).rows).toEqual(rows);
  });
});
