import { describe, expect, it } from 'vitest';
import type { OtlpProtocol } from '../../src/config/spanscore-config.js';
import { jsonToProtobuf, protobufToJson } from '../../src/exporters/otlp-transcoder.js';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';
import { decodeSpans } from '../helpers/otlp-sink.js';
import { EXPORTER, exporterTestbed, metricValue, payload, protobufRequest, RECEIVED, waitForValue } from './otlp-exporter-kit.js';

/** Delivery on each protocol: encodings, transcoding, headers, compression. */

const bed = exporterTestbed();

/** The whole request, as protobufjs sees it: equal objects mean nothing was lost in transcoding. */
function requestObject(protobuf: Uint8Array): unknown {
  const type = otlpSchema().exportTraceServiceRequest;
  return type.toObject(type.decode(protobuf), { longs: String, bytes: String });
}

describe.each<OtlpProtocol>(['grpc', 'http/protobuf', 'http/json'])('%s', (protocol) => {
  const wire = protocol === 'http/json' ? 'json' : 'protobuf';

  it('delivers a protobuf payload, byte for byte when the protocol is protobuf, else transcoded to equal JSON', async () => {
    const { exporter, metrics } = bed.start(protocol);
    const body = protobufRequest(3);
    expect(exporter.offer(payload(body, 3))).toBe(true);

    const spans = await bed.sink.waitForSpans(3);
    expect(bed.sink.requests).toHaveLength(1);
    const [request] = bed.sink.requests;
    expect(request!.encoding).toBe(wire);
    if (wire === 'protobuf') {
      expect(request!.rawBody.equals(body)).toBe(true);
    } else {
      expect(request!.headers['content-type']).toBe('application/json');
      expect(() => JSON.parse(request!.rawBody.toString('utf8'))).not.toThrow();
      expect(requestObject(jsonToProtobuf(request!.rawBody))).toEqual(requestObject(body));
    }
    expect(spans).toEqual(decodeSpans(body));
    expect(spans[0]!.attributes.tokens).toBe(9007199254740993n);
    if (protocol !== 'grpc') expect(request!.path).toBe('/v1/traces');

    await waitForValue(() => metricValue(metrics.exporterSentSpans, RECEIVED), 3);
    await waitForValue(() => metricValue(metrics.exporterQueueRequests, { exporter: EXPORTER }), 0);
    expect(await metricValue(metrics.exporterFailedSpans)).toBe(0);
    expect(await metricValue(metrics.exporterRetries)).toBe(0);
  });

  it('delivers a JSON payload, byte for byte when the protocol is http/json, else transcoded to equal protobuf', async () => {
    const { exporter, metrics } = bed.start(protocol);
    const original = protobufRequest(2);
    const json = Buffer.from(protobufToJson(original), 'utf8');
    expect(exporter.offer(payload(json, 2, 'json', 'scoring'))).toBe(true);

    const spans = await bed.sink.waitForSpans(2);
    const [request] = bed.sink.requests;
    expect(request!.encoding).toBe(wire);
    if (wire === 'json') expect(request!.rawBody.equals(json)).toBe(true);
    else expect(requestObject(request!.rawBody)).toEqual(requestObject(original));
    expect(spans).toEqual(decodeSpans(original));
    await waitForValue(() => metricValue(metrics.exporterSentSpans, { exporter: EXPORTER, kind: 'scoring' }), 2);
  });

  it('sends the configured headers and the User-Agent', async () => {
    const { exporter } = bed.start(protocol, { headers: { 'X-Tenant': 'acme', authorization: 'Bearer secret-token' } });
    exporter.offer(payload(protobufRequest(1), 1));
    await bed.sink.waitForSpans(1);
    const { headers } = bed.sink.requests[0]!;
    expect(headers['x-tenant']).toBe('acme');
    expect(headers.authorization).toBe('Bearer secret-token');
    // grpc-js appends its own name and version to the primary user agent.
    expect(headers['user-agent']).toMatch(/^spanscore\/9\.9\.9-test\b/);
  });

  it.each(['gzip', 'none'] as const)('compression %s', async (compression) => {
    const { exporter } = bed.start(protocol, { compression });
    const body = protobufRequest(4);
    exporter.offer(payload(body, 4));
    const spans = await bed.sink.waitForSpans(4);
    const [request] = bed.sink.requests;
    expect(request!.compressed).toBe(compression === 'gzip');
    if (protocol !== 'grpc') expect(request!.headers['content-encoding']).toBe(compression === 'gzip' ? 'gzip' : undefined);
    if (wire === 'protobuf') expect(request!.rawBody.equals(body)).toBe(true);
    expect(spans).toEqual(decodeSpans(body));
  });

  it('shares one received body between exporters of different encodings without altering it', async () => {
    const other = bed.start(protocol === 'http/json' ? 'http/protobuf' : 'http/json');
    const { exporter } = bed.start(protocol);
    const body = protobufRequest(2);
    const copy = Buffer.from(body);
    const shared = payload(body, 2);
    exporter.offer(shared);
    other.exporter.offer(shared);
    await bed.sink.waitForSpans(4);
    await other.exporter.shutdown(2_000);
    expect(body.equals(copy)).toBe(true);
    expect(new Set(bed.sink.requests.map((r) => r.encoding))).toEqual(new Set(['json', 'protobuf']));
  });
});
