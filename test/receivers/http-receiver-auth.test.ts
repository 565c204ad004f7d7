import { OTLPTraceExporter as OtlpHttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpHttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { ApiKeys } from '../../src/auth/api-keys.js';
import { HttpReceiver } from '../../src/receivers/http-receiver.js';
import { RpcCode } from '../../src/receivers/otlp-responses.js';
import { anyValueSpan, expectSdkRows, exportSdkSpans, exportSpans } from './otel-sdk-scenario.js';
import { bearer, configuredKeys, expectNoKeyIn, INSTANCE, KEY, REFUSALS, resourcesRequest, stamps } from './receiver-auth-kit.js';
import { counterValue, decodeStatus, goodJsonRequest, httpRequest, logger, RecordingConsumer, testMetrics } from './receiver-test-kit.js';

const PROTOBUF = 'application/x-protobuf';

let consumer: RecordingConsumer;
let metrics: DaemonMetrics;
let receiver: HttpReceiver;
let address: string;
let keys: ApiKeys;

beforeEach(async () => {
  consumer = new RecordingConsumer();
  metrics = testMetrics();
  keys = configuredKeys();
  receiver = new HttpReceiver({ endpoint: '127.0.0.1:0', consumer, metrics, logger, auth: () => keys, instanceId: INSTANCE });
  address = await receiver.start();
});

afterEach(async () => {
  await receiver.shutdown(1000);
});

function post(body: Buffer | string, headers: Record<string, string> = {}, type = PROTOBUF) {
  return httpRequest(address, { headers: { 'Content-Type': type, ...headers }, body });
}

function authHeaders(key: string | undefined, project: string | undefined): Record<string, string> {
  return { ...(key === undefined ? {} : { Authorization: bearer(key) }), ...(project === undefined ? {} : { 'X-Spanscore-Project': project }) };
}

describe('HttpReceiver with API keys', () => {
  for (const refusal of REFUSALS) {
    it(`${refusal.status} for ${refusal.label}, storing nothing`, async () => {
      const result = await post(refusal.body(), authHeaders(refusal.key, refusal.project));
      expect(result.status).toBe(refusal.status);
      expect(result.headers['content-type']).toBe(PROTOBUF);
      if (refusal.status === 401) expect(result.headers['www-authenticate']).toBe('Bearer');
      else expect(result.headers['www-authenticate']).toBeUndefined();
      const status = decodeStatus(result);
      expect(status.code).toBe(refusal.status === 401 ? RpcCode.UNAUTHENTICATED : RpcCode.PERMISSION_DENIED);
      expect(status.message).toMatch(refusal.message);
      expectNoKeyIn(result.body.toString('latin1'));
      expect(consumer.batches).toHaveLength(0);
      expect(await counterValue(metrics.requests, { transport: 'http', status: String(refusal.status) })).toBe(1);
      expect(await counterValue(metrics.spansReceived, { transport: 'http' })).toBe(0);
    });
  }

  it('answers refusals of JSON requests in JSON', async () => {
    const result = await post(goodJsonRequest(), authHeaders(KEY.reader, undefined), 'application/json');
    expect(result.status).toBe(403);
    expect(result.headers['content-type']).toBe('application/json');
    expect(JSON.parse(result.body.toString())).toEqual({ code: RpcCode.PERMISSION_DENIED, message: 'API key "reader" lacks the "ingest" permission' });
  });

  it('refuses an unauthenticated request before reading its body', async () => {
    const result = await post(Buffer.from('not protobuf at all'), {});
    expect(result.status).toBe(401);
    expect(decodeStatus(result).message).toMatch(/missing API key/);
  });

  it('stores the spans of a covered project, stamped with project and instance', async () => {
    const body = resourcesRequest([
      { service: 'shop', spanName: 'by-service' },
      { service: 'frontend', project: 'shop-eu', instance: 'spoofed', spanName: 'by-attribute' },
    ]);
    const result = await post(body, authHeaders(KEY.shop, undefined));
    expect(result.status).toBe(200);
    expect(stamps(consumer.spans)).toEqual({ 'by-service': ['shop', INSTANCE], 'by-attribute': ['shop-eu', INSTANCE] });
    // The key stops at the receiver.
    expect(consumer.batches[0]!.context.headers).not.toHaveProperty('authorization');
    expect(await counterValue(metrics.requests, { transport: 'http', status: '200' })).toBe(1);
  });

  it('lets the project header override every resource project', async () => {
    const body = resourcesRequest([{ service: 'billing', spanName: 'a' }, { service: 'x', project: 'other', spanName: 'b' }]);
    const result = await post(body, authHeaders(KEY.shop, 'shop'));
    expect(result.status).toBe(200);
    expect(stamps(consumer.spans)).toEqual({ a: ['shop', INSTANCE], b: ['shop', INSTANCE] });
  });

  it('takes the keys in force at each request (a reload swaps them)', async () => {
    expect((await post(resourcesRequest([{ service: 'shop' }]))).status).toBe(401);
    keys = new ApiKeys([]);
    expect((await post(resourcesRequest([{ service: 'shop' }]))).status).toBe(200);
    expect(stamps(consumer.spans)).toEqual({ shop: ['shop', INSTANCE] });
  });

  const exporters = {
    'exporter-trace-otlp-http (JSON)': (headers: Record<string, string>) => new OtlpHttpJsonExporter({ url: `http://${address}/v1/traces`, headers }),
    'exporter-trace-otlp-proto (protobuf)': (headers: Record<string, string>) => new OtlpHttpProtoExporter({ url: `http://${address}/v1/traces`, headers }),
  };
  for (const [name, createExporter] of Object.entries(exporters)) {
    it(`accepts ${name} sending a key and a project header`, async () => {
      const spans = await exportSdkSpans(createExporter({ authorization: bearer(KEY.shop), 'x-spanscore-project': 'shop' }));
      expectSdkRows(consumer.spans, spans);
      expect(consumer.spans.map((row) => row.ResourceAttributes)).toEqual([
        expect.objectContaining({ 'service.name': 'llm-gateway', 'spanscore.project': 'shop', 'spanscore.instance': INSTANCE }),
        expect.objectContaining({ 'service.name': 'llm-gateway', 'spanscore.project': 'shop', 'spanscore.instance': INSTANCE }),
      ]);
    });

    it(`refuses ${name} sending a key for another project`, async () => {
      // The span's service, hand-made, is not a project of the shop key; 403 is not retried.
      const exporter = createExporter({ authorization: bearer(KEY.shop) });
      expect(await exportSpans(exporter, [anyValueSpan()])).toBe(1); // ExportResultCode.FAILED
      await exporter.shutdown();
      expect(consumer.batches).toHaveLength(0);
      expect(await counterValue(metrics.requests, { transport: 'http', status: '403' })).toBe(1);
    });
  }
});

describe('HttpReceiver without API keys', () => {
  it('needs no Authorization header, and ignores one', async () => {
    keys = new ApiKeys([]);
    expect((await post(resourcesRequest([{ service: 'a' }]))).status).toBe(200);
    expect((await post(resourcesRequest([{ service: 'b' }]), authHeaders(KEY.unknown, undefined))).status).toBe(200);
    expect(stamps(consumer.spans)).toEqual({ a: ['a', INSTANCE], b: ['b', INSTANCE] });
  });
});
