import { status as GrpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import type { OtlpProtocol } from '../../src/config/spanscore-config.js';
import { EXPORTER, exporterTestbed, metricValue, payload, protobufRequest, RECEIVED, waitForValue } from './otlp-exporter-kit.js';

/** Failure classification and retry: what is retried, how often, and how failures are counted. */

const bed = exporterTestbed();
const { start } = bed;

const failed = (metrics: DaemonMetrics, reason: string) => metricValue(metrics.exporterFailedSpans, { ...RECEIVED, reason });
const sent = (metrics: DaemonMetrics) => metricValue(metrics.exporterSentSpans, RECEIVED);

/** The first answer comes after the client's 200 ms timeout: the request is sent again and delivered once. */
async function retriesPastTimeout(protocol: OtlpProtocol) {
  bed.sink.respond((_request, index) => (index === 0 ? { delayMs: 2_000 } : undefined));
  const { exporter, metrics } = start(protocol, { timeoutMs: 200 });
  exporter.offer(payload(protobufRequest(2), 2));
  await waitForValue(() => sent(metrics), 2);
  expect(bed.sink.requests.length).toBeGreaterThanOrEqual(2);
  expect(bed.sink.requests[0]!.accepted).toBe(false);
  expect(await metricValue(metrics.exporterRetries)).toBeGreaterThanOrEqual(1);
  expect(bed.sink.spans()).toHaveLength(2);
}

describe('HTTP', () => {
  it('retries 503 after the Retry-After delay, and delivers once', async () => {
    const arrivals: number[] = [];
    bed.sink.respond((_request, index) => {
      arrivals.push(Date.now());
      return index < 2 ? { httpStatus: 503, retryAfter: '1' } : undefined;
    });
    const { exporter, metrics } = start('http/protobuf');
    exporter.offer(payload(protobufRequest(3), 3));

    await waitForValue(() => sent(metrics), 3);
    expect(bed.sink.requests).toHaveLength(3);
    expect(bed.sink.requests.filter((r) => r.accepted)).toHaveLength(1);
    expect(bed.sink.spans()).toHaveLength(3);
    expect(await metricValue(metrics.exporterRetries, { exporter: EXPORTER })).toBe(2);
    expect(await metricValue(metrics.exporterFailedSpans)).toBe(0);
    // The 20 ms backoff gave way to the server's second.
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(900);
    expect(arrivals[2]! - arrivals[1]!).toBeGreaterThanOrEqual(900);
  });

  it.each([429, 502, 504])('retries %i', async (status) => {
    bed.sink.respond((_request, index) => (index === 0 ? { httpStatus: status } : undefined));
    const { exporter, metrics } = start('http/json');
    exporter.offer(payload(protobufRequest(1), 1));
    await waitForValue(() => sent(metrics), 1);
    expect(await metricValue(metrics.exporterRetries)).toBe(1);
  });

  it.each([400, 401, 413, 500])('does not retry %i: failed, reason permanent', async (status) => {
    bed.sink.respond(() => ({ httpStatus: status, message: 'body does not parse' }));
    const { exporter, metrics } = start('http/protobuf');
    exporter.offer(payload(protobufRequest(4), 4));
    await waitForValue(() => failed(metrics, 'permanent'), 4);
    expect(bed.sink.requests).toHaveLength(1);
    expect(await metricValue(metrics.exporterRetries)).toBe(0);
    expect(await sent(metrics)).toBe(0);
  });

  it.each(['http/protobuf', 'http/json'] as const)('counts the spans a %s partial success rejected', async (protocol) => {
    bed.sink.respond(() => ({ partialSuccess: { rejectedSpans: 2, errorMessage: 'two spans too old' } }));
    const { exporter, metrics } = start(protocol);
    exporter.offer(payload(protobufRequest(5), 5));
    await waitForValue(() => sent(metrics), 3);
    expect(await failed(metrics, 'rejected')).toBe(2);
    expect(await metricValue(metrics.exporterRetries)).toBe(0);
  });

  it('retries a request that timed out', () => retriesPastTimeout('http/protobuf'));

  it('gives up when max_elapsed_time runs out: failed, reason retries_exhausted', async () => {
    bed.sink.respond(() => ({ httpStatus: 503 }));
    const { exporter, metrics } = start('http/protobuf', { retry: { maxElapsedMs: 300 } });
    exporter.offer(payload(protobufRequest(2), 2));
    await waitForValue(() => failed(metrics, 'retries_exhausted'), 2);
    expect(bed.sink.requests.length).toBeGreaterThan(1);
    expect(await metricValue(metrics.exporterRetries)).toBe(bed.sink.requests.length - 1);
  });

  it('does not retry when retry_on_failure is disabled', async () => {
    bed.sink.respond(() => ({ httpStatus: 503, retryAfter: '1' }));
    const { exporter, metrics } = start('http/protobuf', { retry: { enabled: false } });
    exporter.offer(payload(protobufRequest(2), 2));
    await waitForValue(() => failed(metrics, 'retries_exhausted'), 2);
    expect(bed.sink.requests).toHaveLength(1);
    expect(await metricValue(metrics.exporterRetries)).toBe(0);
  });
});

describe('gRPC', () => {
  it('retries UNAVAILABLE and delivers once', async () => {
    bed.sink.respond((_request, index) => (index < 2 ? { grpcCode: GrpcStatus.UNAVAILABLE } : undefined));
    const { exporter, metrics } = start('grpc');
    exporter.offer(payload(protobufRequest(3), 3));
    await waitForValue(() => sent(metrics), 3);
    expect(bed.sink.requests).toHaveLength(3);
    expect(bed.sink.spans()).toHaveLength(3);
    expect(await metricValue(metrics.exporterRetries, { exporter: EXPORTER })).toBe(2);
  });

  it('honours RetryInfo', async () => {
    const arrivals: number[] = [];
    bed.sink.respond((_request, index) => {
      arrivals.push(Date.now());
      return index === 0 ? { grpcCode: GrpcStatus.UNAVAILABLE, retryDelayMs: 800 } : undefined;
    });
    const { exporter, metrics } = start('grpc');
    exporter.offer(payload(protobufRequest(1), 1));
    await waitForValue(() => sent(metrics), 1);
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(700);
  });

  it('retries RESOURCE_EXHAUSTED only with RetryInfo', async () => {
    bed.sink.respond((_request, index) => (index === 0 ? { grpcCode: GrpcStatus.RESOURCE_EXHAUSTED, retryDelayMs: 50 } : undefined));
    const first = start('grpc');
    first.exporter.offer(payload(protobufRequest(1), 1));
    await waitForValue(() => sent(first.metrics), 1);
    expect(await metricValue(first.metrics.exporterRetries)).toBe(1);
    await first.exporter.shutdown(1_000);

    bed.sink.requests.length = 0;
    bed.sink.respond(() => ({ grpcCode: GrpcStatus.RESOURCE_EXHAUSTED, message: 'message too large' }));
    const second = start('grpc');
    second.exporter.offer(payload(protobufRequest(2), 2));
    await waitForValue(() => failed(second.metrics, 'permanent'), 2);
    expect(bed.sink.requests).toHaveLength(1);
  });

  it.each([GrpcStatus.INVALID_ARGUMENT, GrpcStatus.PERMISSION_DENIED, GrpcStatus.UNAUTHENTICATED, GrpcStatus.INTERNAL])(
    'does not retry code %i: failed, reason permanent',
    async (code) => {
      bed.sink.respond(() => ({ grpcCode: code }));
      const { exporter, metrics } = start('grpc');
      exporter.offer(payload(protobufRequest(2), 2));
      await waitForValue(() => failed(metrics, 'permanent'), 2);
      expect(bed.sink.requests).toHaveLength(1);
      expect(await metricValue(metrics.exporterRetries)).toBe(0);
    },
  );

  it('counts the spans a partial success rejected', async () => {
    bed.sink.respond(() => ({ partialSuccess: { rejectedSpans: 1, errorMessage: 'one span invalid' } }));
    const { exporter, metrics } = start('grpc');
    exporter.offer(payload(protobufRequest(3), 3));
    await waitForValue(() => sent(metrics), 2);
    expect(await failed(metrics, 'rejected')).toBe(1);
  });

  it('retries a call past its deadline', () => retriesPastTimeout('grpc'));
});
