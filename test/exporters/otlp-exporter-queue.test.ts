import { describe, expect, it } from 'vitest';
import type { OtlpProtocol } from '../../src/config/spanscore-config.js';
import { capturingLogger, EXPORTER, exporterTestbed, metricValue, payload, protobufRequest, RECEIVED, waitForValue } from './otlp-exporter-kit.js';

/** The sending queue: bounds, shedding, recovery after an outage, and shutdown. */

const bed = exporterTestbed({ restartSink: true, shutdownMs: 1_000 });
const { start } = bed;

describe.each<OtlpProtocol>(['http/protobuf', 'grpc'])('%s', (protocol) => {
  it('sheds what does not fit while the downstream is down, and delivers the rest once it is back', async () => {
    await bed.sink.stop();
    const { exporter, metrics } = start(protocol, { queue: { maxRequests: 3, numConsumers: 1 }, retry: { maxElapsedMs: 0 } });
    const body = protobufRequest(2);

    const results: unknown[] = [];
    for (let i = 0; i < 10; i++) results.push(exporter.offer(payload(body, 2)));
    // offer() answers synchronously: a boolean, never a promise.
    expect(results.every((r) => typeof r === 'boolean')).toBe(true);
    expect(results.filter((r) => r === true)).toHaveLength(3);
    expect(results.slice(0, 3)).toEqual([true, true, true]);
    expect(await metricValue(metrics.exporterShedSpans, RECEIVED)).toBe(14);
    expect(await metricValue(metrics.exporterQueueRequests, { exporter: EXPORTER })).toBe(3);
    expect(await metricValue(metrics.exporterQueueBytes, { exporter: EXPORTER })).toBe(3 * body.byteLength);
    expect(await metricValue(metrics.exporterQueueCapacity, { exporter: EXPORTER })).toBe(3);
    expect(exporter.hasRoom(1)).toBe(false);

    // Retried items keep their slots while the downstream stays down.
    await waitForValue(async () => ((await metricValue(metrics.exporterRetries)) >= 3 ? 1 : 0), 1);
    expect(await metricValue(metrics.exporterQueueRequests, { exporter: EXPORTER })).toBe(3);
    expect(exporter.offer(payload(body, 2))).toBe(false);
    expect(await metricValue(metrics.exporterShedSpans, RECEIVED)).toBe(16);

    await bed.sink.restart();
    await bed.sink.waitForSpans(6, 15_000);
    await waitForValue(() => metricValue(metrics.exporterSentSpans, RECEIVED), 6);
    await waitForValue(() => metricValue(metrics.exporterQueueRequests, { exporter: EXPORTER }), 0);
    expect(await metricValue(metrics.exporterQueueBytes, { exporter: EXPORTER })).toBe(0);
    expect(await metricValue(metrics.exporterFailedSpans)).toBe(0);
    expect(exporter.hasRoom(1)).toBe(true);
    expect(exporter.offer(payload(body, 2))).toBe(true);
    await bed.sink.waitForSpans(8);
  });

  it('bounds the queue by bytes too', async () => {
    await bed.sink.stop();
    const body = protobufRequest(1);
    const { exporter, metrics } = start(protocol, { queue: { maxRequests: 100, maxBytes: Math.floor(body.byteLength * 2.5) } });
    const results = Array.from({ length: 5 }, () => exporter.offer(payload(body, 1)));
    expect(results).toEqual([true, true, false, false, false]);
    expect(exporter.hasRoom(body.byteLength)).toBe(false);
    expect(exporter.hasRoom(Math.floor(body.byteLength / 2))).toBe(true);
    expect(await metricValue(metrics.exporterShedSpans, RECEIVED)).toBe(3);
    expect(await metricValue(metrics.exporterQueueBytes, { exporter: EXPORTER })).toBe(2 * body.byteLength);

    await bed.sink.restart();
    await waitForValue(() => metricValue(metrics.exporterSentSpans, RECEIVED), 2, 15_000);
    await waitForValue(() => metricValue(metrics.exporterQueueBytes, { exporter: EXPORTER }), 0);
  });

  it('sends what is queued before the shutdown deadline', async () => {
    bed.sink.respond(() => ({ delayMs: 30 }));
    const { exporter, metrics } = start(protocol, { queue: { numConsumers: 1 } });
    for (let i = 0; i < 5; i++) expect(exporter.offer(payload(protobufRequest(2), 2))).toBe(true);
    await exporter.shutdown(10_000);
    expect(bed.sink.spans()).toHaveLength(10);
    expect(await metricValue(metrics.exporterSentSpans, RECEIVED)).toBe(10);
    expect(await metricValue(metrics.exporterFailedSpans)).toBe(0);
    expect(await metricValue(metrics.exporterQueueRequests, { exporter: EXPORTER })).toBe(0);
  });

  it('with the downstream down, gives up at the deadline and counts the rest failed (shutdown)', async () => {
    await bed.sink.stop();
    const { exporter, metrics } = start(protocol, { queue: { numConsumers: 1 }, retry: { maxElapsedMs: 0 } });
    for (let i = 0; i < 3; i++) expect(exporter.offer(payload(protobufRequest(2), 2))).toBe(true);
    const began = Date.now();
    await exporter.shutdown(400);
    // Generous: the point is that it returns, not how fast.
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(await metricValue(metrics.exporterFailedSpans, { ...RECEIVED, reason: 'shutdown' })).toBe(6);
    expect(await metricValue(metrics.exporterQueueRequests, { exporter: EXPORTER })).toBe(0);
    expect(await metricValue(metrics.exporterQueueBytes, { exporter: EXPORTER })).toBe(0);

    // After shutdown nothing is taken, and what is offered counts as failed, not shed.
    expect(exporter.hasRoom(1)).toBe(false);
    expect(exporter.offer(payload(protobufRequest(1), 1))).toBe(false);
    expect(await metricValue(metrics.exporterFailedSpans, { ...RECEIVED, reason: 'shutdown' })).toBe(7);
    expect(await metricValue(metrics.exporterShedSpans)).toBe(0);
  });

  it('aborts a request still in flight at the deadline', async () => {
    bed.sink.respond(() => ({ delayMs: 10_000 }));
    const { exporter, metrics } = start(protocol, { timeoutMs: 30_000 });
    exporter.offer(payload(protobufRequest(3), 3));
    await waitForValue(async () => bed.sink.requests.length, 1);
    await exporter.shutdown(300);
    expect(await metricValue(metrics.exporterFailedSpans, { ...RECEIVED, reason: 'shutdown' })).toBe(3);
    expect(await metricValue(metrics.exporterSentSpans)).toBe(0);
    expect(bed.sink.spans()).toHaveLength(0);
  });
});

it('without a queue, holds only the requests being sent (one per consumer)', async () => {
  await bed.sink.stop();
  const { exporter, metrics } = start('http/protobuf', { queue: { enabled: false, numConsumers: 2, maxRequests: 1_000 } });
  const results = Array.from({ length: 5 }, () => exporter.offer(payload(protobufRequest(1), 1)));
  expect(results).toEqual([true, true, false, false, false]);
  expect(await metricValue(metrics.exporterQueueCapacity, { exporter: EXPORTER })).toBe(2);
  await bed.sink.restart();
  await waitForValue(() => metricValue(metrics.exporterSentSpans, RECEIVED), 2, 15_000);
});

it('counts shed spans per kind', async () => {
  await bed.sink.stop();
  const { exporter, metrics } = start('http/json', { queue: { maxRequests: 1 } });
  expect(exporter.offer(payload(protobufRequest(1), 1, 'protobuf', 'received'))).toBe(true);
  expect(exporter.offer(payload(protobufRequest(4), 4, 'protobuf', 'scoring'))).toBe(false);
  expect(await metricValue(metrics.exporterShedSpans, { exporter: EXPORTER, kind: 'scoring' })).toBe(4);
  expect(await metricValue(metrics.exporterShedSpans, { exporter: EXPORTER, kind: 'received' })).toBe(0);
});

it('logs changes of state once, not every failed request', async () => {
  await bed.sink.stop();
  const { logger, lines } = capturingLogger();
  const { exporter, metrics } = start('http/protobuf', { queue: { maxRequests: 2, numConsumers: 1 }, retry: { maxElapsedMs: 0 } }, logger);
  for (let i = 0; i < 6; i++) exporter.offer(payload(protobufRequest(1), 1));
  await waitForValue(async () => ((await metricValue(metrics.exporterRetries)) >= 5 ? 1 : 0), 1);
  await bed.sink.restart();
  await waitForValue(() => metricValue(metrics.exporterSentSpans, RECEIVED), 2, 15_000);
  expect(exporter.offer(payload(protobufRequest(1), 1))).toBe(true);
  await waitForValue(() => metricValue(metrics.exporterSentSpans, RECEIVED), 3);

  const about = (text: string) => lines.filter((line) => line.msg.includes(text));
  expect(about('unreachable')).toHaveLength(1);
  expect(about('unreachable')[0]!.err).toMatch(/ECONNREFUSED/);
  expect(about('reachable again')).toHaveLength(1);
  expect(about('shedding spans')).toHaveLength(1);
  expect(about('shedding stopped')).toHaveLength(1);
  expect(about('shedding stopped')[0]!.shedSpans).toBe(4);
  expect(lines.every((line) => line.exporter === EXPORTER)).toBe(true);
});

it('logs a partial success with the downstream message', async () => {
  bed.sink.respond(() => ({ partialSuccess: { rejectedSpans: 1, errorMessage: 'span 2 has no name' } }));
  const { logger, lines } = capturingLogger();
  const { exporter, metrics } = start('grpc', {}, logger);
  exporter.offer(payload(protobufRequest(2), 2));
  await waitForValue(() => metricValue(metrics.exporterFailedSpans, { ...RECEIVED, reason: 'rejected' }), 1);
  const warnings = lines.filter((line) => line.level === 40);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatchObject({ rejectedSpans: 1, downstreamMessage: 'span 2 has no name' });
});
