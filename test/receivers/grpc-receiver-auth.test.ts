import { Metadata, status } from '@grpc/grpc-js';
import { OTLPTraceExporter as OtlpGrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { ApiKeys } from '../../src/auth/api-keys.js';
import { GrpcReceiver } from '../../src/receivers/grpc-receiver.js';
import { anyValueSpan, expectSdkRows, exportSdkSpans, exportSpans } from './otel-sdk-scenario.js';
import { bearer, configuredKeys, expectNoKeyIn, INSTANCE, KEY, REFUSALS, resourcesRequest, stamps } from './receiver-auth-kit.js';
import { counterValue, grpcExport, logger, RecordingConsumer, testMetrics } from './receiver-test-kit.js';

let consumer: RecordingConsumer;
let metrics: DaemonMetrics;
let receiver: GrpcReceiver;
let address: string;
let keys: ApiKeys;

beforeEach(async () => {
  consumer = new RecordingConsumer();
  metrics = testMetrics();
  keys = configuredKeys();
  receiver = new GrpcReceiver({ endpoint: '127.0.0.1:0', consumer, metrics, logger, auth: () => keys, instanceId: INSTANCE });
  address = await receiver.start();
});

afterEach(async () => {
  await receiver.shutdown(1000);
});

function authMetadata(key: string | undefined, project: string | undefined): Record<string, string> {
  return { ...(key === undefined ? {} : { authorization: bearer(key) }), ...(project === undefined ? {} : { 'x-spanscore-project': project }) };
}

function exporterMetadata(entries: Record<string, string>): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(entries)) metadata.set(key, value);
  return metadata;
}

describe('GrpcReceiver with API keys', () => {
  for (const refusal of REFUSALS) {
    const code = refusal.status === 401 ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED';
    it(`${code} for ${refusal.label}, storing nothing`, async () => {
      const { error } = await grpcExport(address, refusal.body(), { metadata: authMetadata(refusal.key, refusal.project) });
      expect(error?.code).toBe(status[code]);
      expect(error?.details).toMatch(refusal.message);
      expectNoKeyIn(error?.details ?? '');
      expect(consumer.batches).toHaveLength(0);
      expect(await counterValue(metrics.requests, { transport: 'grpc', status: code })).toBe(1);
      expect(await counterValue(metrics.spansReceived, { transport: 'grpc' })).toBe(0);
    });
  }

  it('refuses an unauthenticated call before decoding its message', async () => {
    const { error } = await grpcExport(address, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(error?.code).toBe(status.UNAUTHENTICATED);
  });

  it('stores the spans of a covered project, stamped with project and instance', async () => {
    const body = resourcesRequest([
      { service: 'shop', spanName: 'by-service' },
      { service: 'frontend', project: 'shop-eu', instance: 'spoofed', spanName: 'by-attribute' },
    ]);
    const { error } = await grpcExport(address, body, { metadata: authMetadata(KEY.shop, undefined) });
    expect(error).toBeNull();
    expect(stamps(consumer.spans)).toEqual({ 'by-service': ['shop', INSTANCE], 'by-attribute': ['shop-eu', INSTANCE] });
    expect(consumer.batches[0]!.context.headers).not.toHaveProperty('authorization');
  });

  it('lets the project metadata override every resource project', async () => {
    const body = resourcesRequest([{ service: 'billing', spanName: 'a' }, { service: 'x', project: 'other', spanName: 'b' }]);
    const { error } = await grpcExport(address, body, { metadata: authMetadata(KEY.shop, 'shop') });
    expect(error).toBeNull();
    expect(stamps(consumer.spans)).toEqual({ a: ['shop', INSTANCE], b: ['shop', INSTANCE] });
  });

  it('takes the keys in force at each call (a reload swaps them)', async () => {
    expect((await grpcExport(address, resourcesRequest([{ service: 'shop' }]))).error?.code).toBe(status.UNAUTHENTICATED);
    keys = new ApiKeys([]);
    expect((await grpcExport(address, resourcesRequest([{ service: 'shop' }]))).error).toBeNull();
  });

  it('accepts the stock gRPC exporter sending a key and a project in metadata', async () => {
    const exporter = new OtlpGrpcExporter({ url: `http://${address}`, metadata: exporterMetadata({ authorization: bearer(KEY.shop), 'x-spanscore-project': 'shop' }) });
    const spans = await exportSdkSpans(exporter);
    expectSdkRows(consumer.spans, spans);
    expect(stamps(consumer.spans)).toEqual({ 'POST /v1/chat': ['shop', INSTANCE], 'chat gpt-4o': ['shop', INSTANCE] });
  });

  it('refuses the stock gRPC exporter sending a key for another project', async () => {
    const exporter = new OtlpGrpcExporter({ url: `http://${address}`, metadata: exporterMetadata({ authorization: bearer(KEY.shop) }) });
    expect(await exportSpans(exporter, [anyValueSpan()])).toBe(1); // ExportResultCode.FAILED
    await exporter.shutdown();
    expect(consumer.batches).toHaveLength(0);
    expect(await counterValue(metrics.requests, { transport: 'grpc', status: 'PERMISSION_DENIED' })).toBe(1);
  });
});

describe('GrpcReceiver without API keys', () => {
  it('needs no authorization metadata', async () => {
    keys = new ApiKeys([]);
    const { error } = await grpcExport(address, resourcesRequest([{ service: 'a' }]));
    expect(error).toBeNull();
    expect(stamps(consumer.spans)).toEqual({ a: ['a', INSTANCE] });
  });
});
