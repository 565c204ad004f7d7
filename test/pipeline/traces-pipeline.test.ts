import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../src/admin/logger.js';
import { ApiKeys } from '../../src/auth/api-keys.js';
import { RetryableStorageError } from '../../src/pipeline/errors.js';
import { MemoryLimiter } from '../../src/pipeline/memory-limiter.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import { TracesPipeline, type SpanWriter } from '../../src/pipeline/traces-pipeline.js';
import { HttpReceiver } from '../../src/receivers/http-receiver.js';
import { encodeExportRequest } from '../helpers/otlp-protobuf.js';
import { randomTraceId } from '../helpers/otlp-json.js';
import { spanRow } from '../storage/storage-fixtures.js';

const MIB = 1024 * 1024;
const context = { transport: 'http' as const, headers: {} };

/** A writer whose writes complete when the test says so (or at once). */
class ManualWriter implements SpanWriter {
  readonly written: SpanRow[][] = [];
  readonly waiting: Array<() => void> = [];
  constructor(private readonly immediate = true) {}
  write(rows: SpanRow[]): Promise<void> {
    this.written.push(rows);
    if (this.immediate) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

function setup(options: { immediate?: boolean; maxPendingSpans?: number; rssMiB?: number } = {}) {
  const metrics = new DaemonMetrics({ processMetrics: false });
  const writer = new ManualWriter(options.immediate ?? true);
  const stored: SpanRow[][] = [];
  const probe = { rss: (options.rssMiB ?? 100) * MIB };
  const limiter = new MemoryLimiter({
    checkIntervalMs: 100,
    limitBytes: 512 * MIB,
    softLimitBytes: 384 * MIB,
    metrics,
    logger: pino({ level: 'silent' }),
    rss: () => probe.rss,
    ingestResampleMs: 0,
    gc: undefined,
  });
  const pipeline = new TracesPipeline(writer, [{ onStored: (spans) => stored.push(spans) }], metrics, silentLogger(), {
    limiter,
    maxPendingSpans: options.maxPendingSpans,
  });
  return { metrics, writer, stored, probe, limiter, pipeline };
}

const spans = (n: number) => Array.from({ length: n }, () => spanRow());

async function value(metric: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await metric.get()).values[0]?.value ?? 0;
}

describe('TracesPipeline with a memory limiter', () => {
  it('stores and hands on spans while memory is fine (scoring shed included)', async () => {
    const { pipeline, writer, stored, probe } = setup();
    await pipeline.consume(spans(3), context);
    probe.rss = 350 * MIB; // scoring sheds from here; ingestion goes on
    await pipeline.consume(spans(2), context);
    expect(writer.written.map((rows) => rows.length)).toEqual([3, 2]);
    expect(stored.map((rows) => rows.length)).toEqual([3, 2]);
  });

  it('above the soft limit refuses with a retryable error and a short Retry-After, writing nothing', async () => {
    const { pipeline, writer, stored, probe, metrics } = setup();
    probe.rss = 400 * MIB;
    const error = await pipeline.consume(spans(7), context).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryableStorageError);
    expect((error as RetryableStorageError).message).toMatch(/soft limit of 384 MiB/);
    expect([1, 2]).toContain((error as RetryableStorageError).retryAfterSeconds);
    expect(writer.written).toHaveLength(0);
    expect(stored).toHaveLength(0);
    expect(await value(metrics.memoryLimiterRefusedSpans)).toBe(7);
    expect(await value(metrics.spansStored)).toBe(0);
  });

  it('above the hard limit refuses with its own reason and a longer Retry-After', async () => {
    const { pipeline, probe, metrics } = setup();
    probe.rss = 600 * MIB;
    const error = (await pipeline.consume(spans(5), context).catch((e: unknown) => e)) as RetryableStorageError;
    expect(error).toBeInstanceOf(RetryableStorageError);
    expect(error.message).toMatch(/hard limit of 512 MiB/);
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(3);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(5);
    expect(await value(metrics.memoryLimiterRefusedSpans)).toBe(5);

    probe.rss = 200 * MIB; // memory recovered: the retry goes through
    await pipeline.consume(spans(5), context);
    expect(await value(metrics.spansStored)).toBe(5);
  });

  it('bounds the spans waiting for their insert, but always takes a request when none wait', async () => {
    const { pipeline, writer, metrics } = setup({ immediate: false, maxPendingSpans: 100 });
    const first = pipeline.consume(spans(60), context);
    const second = pipeline.consume(spans(40), context);
    expect(pipeline.pending).toBe(100);
    expect(await value(metrics.pipelinePendingSpans)).toBe(100);
    const third = await pipeline.consume(spans(1), context).catch((e: unknown) => e);
    expect(third).toBeInstanceOf(RetryableStorageError);
    expect((third as Error).message).toMatch(/100 spans are already waiting/);
    expect(await value(metrics.pipelineRefusedSpans)).toBe(1);

    writer.waiting.splice(0).forEach((resolve) => resolve());
    await Promise.all([first, second]);
    expect(pipeline.pending).toBe(0);
    expect(await value(metrics.pipelinePendingSpans)).toBe(0);
    // Larger than the bound by itself, but nothing else is waiting.
    const big = pipeline.consume(spans(500), context);
    writer.waiting.splice(0).forEach((resolve) => resolve());
    await big;
    expect(await value(metrics.spansStored)).toBe(600);
  });

  it('refuses a request that would take the estimated memory in flight past the spike allowance', async () => {
    const { pipeline, writer, metrics } = setup({ immediate: false });
    // ~24 MB estimated per 1-MB span: 128 MiB of spike allowance holds about five.
    const big = () => spans(1).map((row) => ({ ...row, SpanAttributes: { 'input.value': 'x'.repeat(1_000_000) } }));
    const admitted: Array<Promise<void>> = [];
    let refused: unknown;
    for (let i = 0; i < 40 && refused === undefined; i++) {
      const consumed = pipeline.consume(big(), context);
      admitted.push(consumed);
      refused = await Promise.race([consumed.then(() => undefined, (e: unknown) => e), new Promise((resolve) => setImmediate(resolve))]);
    }
    expect(refused).toBeInstanceOf(RetryableStorageError);
    expect((refused as Error).message).toMatch(/too much in flight/);
    expect(writer.written.length).toBeGreaterThan(2);
    expect(writer.written.length).toBeLessThan(40);
    expect(await value(metrics.memoryLimiterRefusedSpans)).toBe(1);
    writer.waiting.splice(0).forEach((resolve) => resolve());
    await Promise.allSettled(admitted);
    // Room again once they are stored.
    const next = pipeline.consume(big(), context);
    writer.waiting.splice(0).forEach((resolve) => resolve());
    await next;
  });

  it('refusal() answers before a request is read: memory short or shutting down', async () => {
    const { pipeline, probe, metrics } = setup();
    expect(pipeline.refusal()).toBeUndefined();
    probe.rss = 450 * MIB;
    const early = pipeline.refusal();
    expect(early).toBeInstanceOf(RetryableStorageError);
    expect(early!.message).toMatch(/soft limit/);
    expect(await value(metrics.memoryLimiterRefusedRequests)).toBe(1);
    probe.rss = 100 * MIB;
    pipeline.stopAccepting();
    expect(pipeline.refusal()?.message).toMatch(/shutting down/);
  });

  it('a failed insert releases its pending spans', async () => {
    const metrics = new DaemonMetrics({ processMetrics: false });
    const failing: SpanWriter = { write: () => Promise.reject(new RetryableStorageError('ClickHouse down')) };
    const pipeline = new TracesPipeline(failing, [], metrics, silentLogger(), { maxPendingSpans: 10 });
    await expect(pipeline.consume(spans(8), context)).rejects.toThrow('ClickHouse down');
    expect(pipeline.pending).toBe(0);
  });
});

describe('a memory refusal through the OTLP/HTTP receiver', () => {
  let receiver: HttpReceiver | undefined;
  afterEach(async () => {
    await receiver?.shutdown(1000);
    receiver = undefined;
  });

  it('is a 503 with Retry-After that the exporter retries with success once memory is back', async () => {
    const { pipeline, probe, metrics } = setup();
    receiver = new HttpReceiver({ endpoint: '127.0.0.1:0', consumer: pipeline, metrics, logger: silentLogger(), auth: () => new ApiKeys([]) });
    const address = await receiver.start();
    const body = encodeExportRequest([randomTraceId(), randomTraceId()]);
    const post = () => fetch(`http://${address}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body });

    probe.rss = 450 * MIB;
    const refused = await post();
    expect(refused.status).toBe(503);
    expect(['1', '2']).toContain(refused.headers.get('retry-after'));
    await refused.arrayBuffer();
    expect(await value(metrics.memoryLimiterRefusedSpans)).toBe(2);

    probe.rss = 100 * MIB;
    const accepted = await post();
    expect(accepted.status).toBe(200);
    await accepted.arrayBuffer();
    expect(await value(metrics.spansStored)).toBe(2);
  });
});
