import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as HttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ExportResult } from '@opentelemetry/core';

export type ExporterKind = 'http/json' | 'http/protobuf' | 'grpc';

/** Makes the stock OTLP exporter of a kind pointing at a daemon's receiver address (host:port). */
export function makeExporter(kind: ExporterKind, address: string): SpanExporter {
  switch (kind) {
    case 'http/json':
      return new HttpJsonExporter({ url: `http://${address}/v1/traces` });
    case 'http/protobuf':
      return new HttpProtoExporter({ url: `http://${address}/v1/traces` });
    case 'grpc':
      return new GrpcExporter({ url: `http://${address}` });
  }
}

/** Passes spans to the real exporter and records what it reported, so tests know what was acknowledged. */
export class RecordingExporter implements SpanExporter {
  readonly acknowledged: ReadableSpan[] = [];
  readonly failed: { spans: ReadableSpan[]; error?: Error }[] = [];

  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === 0) this.acknowledged.push(...spans);
      else this.failed.push({ spans, error: result.error });
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

export interface SentTrace {
  traceId: string;
  rootSpanId: string;
  llmSpanId: string;
  toolSpanId: string;
}

/**
 * Sends `count` LLM-style traces through the stock SDK: a root `chat` span (OpenInference
 * input/output, metadata), an `llm.completion` child (GenAI attributes, an event) and a
 * `tool.lookup` grandchild with an error status.
 */
export async function sendTraces(
  kind: ExporterKind,
  address: string,
  options: { count?: number; serviceName?: string; expected?: (i: number) => string } = {},
): Promise<{ traces: SentTrace[]; exporter: RecordingExporter }> {
  const exporter = new RecordingExporter(makeExporter(kind, address));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName ?? `e2e-${kind}`, 'deployment.environment': 'test' }),
    spanProcessors: [new BatchSpanProcessor(exporter, { maxExportBatchSize: 256, scheduledDelayMillis: 50 })],
  });
  const tracer = provider.getTracer('spanscore-e2e', '1.2.3');
  const traces: SentTrace[] = [];
  for (let i = 0; i < (options.count ?? 3); i++) {
    const root = tracer.startSpan('chat', {
      kind: SpanKind.SERVER,
      attributes: {
        'input.value': `question ${i}`,
        'output.value': `answer ${i}`,
        expected: options.expected ? options.expected(i) : `answer ${i}`,
        'metadata.model': 'gpt-test',
        'metadata.index': i,
        'http.status_code': 200,
        ratio: 0.25,
        ok: true,
        tags: ['a', 'b'],
      },
    });
    const rootContext = trace.setSpan(context.active(), root);
    const llm = tracer.startSpan('llm.completion', { kind: SpanKind.CLIENT, attributes: { 'gen_ai.request.model': 'gpt-test', 'gen_ai.usage.input_tokens': 12 } }, rootContext);
    llm.addEvent('first_token', { 'token.index': 0 });
    const tool = tracer.startSpan('tool.lookup', { kind: SpanKind.INTERNAL }, trace.setSpan(rootContext, llm));
    tool.setStatus({ code: SpanStatusCode.ERROR, message: 'lookup failed' });
    tool.end();
    llm.end();
    root.setStatus({ code: SpanStatusCode.OK });
    root.end();
    traces.push({
      traceId: root.spanContext().traceId,
      rootSpanId: root.spanContext().spanId,
      llmSpanId: llm.spanContext().spanId,
      toolSpanId: tool.spanContext().spanId,
    });
  }
  await provider.forceFlush();
  await provider.shutdown();
  return { traces, exporter };
}
