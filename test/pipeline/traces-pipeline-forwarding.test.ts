import { describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../src/admin/logger.js';
import type { OtlpExporter } from '../../src/exporters/otlp-exporter.js';
import { SpanForwarder } from '../../src/exporters/span-forwarder.js';
import { RetryableStorageError } from '../../src/pipeline/errors.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import { TracesPipeline, type SpanWriter } from '../../src/pipeline/traces-pipeline.js';
import { decodeProtobuf } from '../../src/receivers/otlp-decoder.js';
import { toScoreRecord } from '../../src/scoring/score-recorder.js';
import { exporterTestbed } from '../exporters/otlp-exporter-kit.js';
import { randomTraceId } from '../helpers/otlp-json.js';
import { encodeExportRequest } from '../helpers/otlp-protobuf.js';
import { waitFor } from '../helpers/wait-for.js';
import { spanRow } from '../storage/storage-fixtures.js';

/** The pipeline's side of forwarding: when a received request is offered, to whom, and what refuses it. */
const bed = exporterTestbed({ restartSink: true });

function received(spans: number) {
  const body = encodeExportRequest(Array.from({ length: spans }, randomTraceId));
  const rows = decodeProtobuf(body).rows;
  return { rows, context: { transport: 'http' as const, headers: {}, request: { body, encoding: 'protobuf' as const, spanCount: spans } } };
}

function pipelineWith(writer: SpanWriter | undefined, exporters: OtlpExporter[]) {
  const after: SpanRow[][] = [];
  const pipeline = new TracesPipeline(writer, [{ onStored: (spans) => after.push(spans) }], new DaemonMetrics({ processMetrics: false }), silentLogger(), {
    forwarder: new SpanForwarder(exporters, silentLogger()),
  });
  return { pipeline, after };
}

const delivered = (body: Buffer) => bed.sink.requests.filter((r) => r.accepted && r.rawBody.equals(body)).length;

describe('TracesPipeline with forwarding exporters', () => {
  it('forwards a request, byte for byte, only once ClickHouse took it, and only to exporters that forward received spans', async () => {
    const { exporter: both } = bed.start('http/protobuf');
    const { exporter: scoringOnly } = bed.start('grpc', { name: 'otlp/scores', forwardReceived: false });
    const request = received(3);
    let sentBeforeStored = -1;
    const { pipeline, after } = pipelineWith({ write: async () => void (sentBeforeStored = bed.sink.requests.length) }, [both, scoringOnly]);
    await pipeline.consume(request.rows, request.context);
    expect(sentBeforeStored).toBe(0);
    expect(after).toEqual([request.rows]);
    await waitFor(() => delivered(request.context.request.body) === 1, { what: 'the request downstream' });
    expect(bed.sink.requests.map((r) => r.transport)).toEqual(['http']);
  });

  it('forwards nothing when the insert fails: the client retries, and the request goes on once, when stored', async () => {
    const { exporter } = bed.start('http/protobuf');
    const request = received(1);
    let fail = true;
    const { pipeline } = pipelineWith({ write: () => (fail ? Promise.reject(new RetryableStorageError('ClickHouse down', 5)) : Promise.resolve()) }, [exporter]);
    await expect(pipeline.consume(request.rows, request.context)).rejects.toThrow('ClickHouse down');
    fail = false;
    await pipeline.consume(request.rows, request.context);
    await waitFor(() => delivered(request.context.request.body) === 1, { what: 'the retried request downstream' });
    await exporter.shutdown(1_000);
    expect(delivered(request.context.request.body)).toBe(1);
  });

  it('with storage, a full queue sheds and the request is still acknowledged', async () => {
    await bed.sink.stop();
    const { exporter, metrics } = bed.start('http/protobuf', { queue: { numConsumers: 1, maxRequests: 1 } });
    const { pipeline, after } = pipelineWith({ write: async () => {} }, [exporter]);
    for (const spans of [1, 2, 3]) {
      const request = received(spans);
      await pipeline.consume(request.rows, request.context);
    }
    expect(after).toHaveLength(3);
    const shed = await metrics.exporterShedSpans.get();
    expect(shed.values.find((v) => v.labels.kind === 'received')!.value).toBe(2 + 3);
  });

  it('without storage, acknowledges once queued, and refuses, retryably and queued nowhere, while any received-forwarding queue is full', async () => {
    await bed.sink.stop();
    const { exporter: roomy } = bed.start('http/protobuf', { name: 'otlp/roomy' });
    const { exporter: small } = bed.start('grpc', { name: 'otlp/small', queue: { numConsumers: 1, maxRequests: 1 } });
    const { pipeline, after } = pipelineWith(undefined, [roomy, small]);
    const first = received(1);
    await pipeline.consume(first.rows, first.context);
    const second = received(1);
    const refused = pipeline.consume(second.rows, second.context);
    await expect(refused).rejects.toBeInstanceOf(RetryableStorageError);
    await expect(refused).rejects.toThrow('the sending queue of exporter otlp/small is full');
    expect(after).toEqual([first.rows]);

    await bed.sink.restart();
    await waitFor(() => delivered(first.context.request.body) === 2, { timeoutMs: 10_000, what: 'the first request at both exporters' });
    await pipeline.consume(second.rows, second.context);
    await waitFor(() => delivered(second.context.request.body) === 2, { timeoutMs: 10_000, what: 'the retried request at both exporters' });
    // Refused, it was queued in neither: each exporter delivered it exactly once.
    expect(bed.sink.requests.filter((r) => r.accepted && r.rawBody.equals(second.context.request.body)).map((r) => r.transport).sort()).toEqual(['grpc', 'http']);
    // Without the request body a forward-only pipeline would drop the spans: it refuses instead.
    await expect(pipeline.consume(first.rows, { transport: 'grpc', headers: {} })).rejects.toThrow('needs the request body');
  });
});

describe('SpanForwarder, scoring spans', () => {
  it('encodes scoring spans once for all scoring exporters, and never forwards a span twice (insert retries)', async () => {
    const { exporter: scoring } = bed.start('grpc', { name: 'otlp/scores', forwardReceived: false });
    const { exporter: receivedOnly } = bed.start('http/protobuf', { name: 'otlp/received', forwardScoring: false });
    const forwarder = new SpanForwarder([scoring, receivedOnly], silentLogger());
    const scored = spanRow();
    const rows = [1, 0.5].map(
      (score) => toScoreRecord(scored, 'rule', { scorer: 'ExactMatch', score, error: '', metadata: {}, durationNs: 1000, startedAt: '1764158400000000000' }, 'online').span,
    );
    forwarder.forwardScoring(rows);
    forwarder.forwardScoring(rows);
    forwarder.forwardScoring([rows[0]!]);
    await scoring.shutdown(2_000);
    await receivedOnly.shutdown(2_000);
    expect(bed.sink.requests.map((r) => r.transport)).toEqual(['grpc']);
    const decoded = decodeProtobuf(bed.sink.requests[0]!.rawBody).rows;
    expect(decoded.map((row) => [row.ParentSpanId, row.SpanName, row.SpanAttributes['spanscore.score']])).toEqual([
      [scored.SpanId, 'score ExactMatch', '1'],
      [scored.SpanId, 'score ExactMatch', '0.5'],
    ]);
  });
});
