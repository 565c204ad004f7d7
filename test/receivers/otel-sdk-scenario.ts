import { context, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type HrTime } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { expect } from 'vitest';
import type { SpanRow } from '../../src/pipeline/span-row.js';

/**
 * Spans produced by the real OpenTelemetry JS SDK and sent by a real OTLP exporter, with
 * the expectations every transport must meet for them.
 */

const hrTimeToNanos = ([seconds, nanos]: HrTime) => (BigInt(seconds) * 1_000_000_000n + BigInt(nanos)).toString();

/** Two spans (server parent, client child with event, link and error status) through `exporter`. */
export async function exportSdkSpans(exporter: SpanExporter): Promise<ReadableSpan[]> {
  const captured = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'llm-gateway', 'deployment.environment': 'test' }),
    spanProcessors: [new SimpleSpanProcessor(captured), new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('llm-instrumentation', '0.4.2');
  const parent = tracer.startSpan('POST /v1/chat', {
    kind: SpanKind.SERVER,
    attributes: {
      'http.method': 'POST',
      'gen_ai.usage.input_tokens': 1234,
      'gen_ai.request.temperature': 0.25,
      'llm.streaming': false,
      'gen_ai.stop_sequences': ['\n\n', 'END'],
      'retry.delays': [1, 2, 3],
    },
  });
  const parentContext = parent.spanContext();
  const child = tracer.startSpan(
    'chat gpt-4o',
    { kind: SpanKind.CLIENT, links: [{ context: parentContext, attributes: { 'link.reason': 'batch' } }] },
    trace.setSpan(context.active(), parent),
  );
  child.addEvent('gen_ai.choice', { index: 0, 'finish.reason': 'stop' });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'rate limited' });
  child.end();
  parent.end();
  await provider.forceFlush();
  const spans = captured.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

/** Asserts the rows of `exportSdkSpans`, computing every expected value from the SDK's spans. */
export function expectSdkRows(rows: SpanRow[], spans: ReadableSpan[]): void {
  expect(rows).toHaveLength(2);
  const parent = spans.find((s) => s.name === 'POST /v1/chat')!;
  const child = spans.find((s) => s.name === 'chat gpt-4o')!;
  const parentRow = rows.find((r) => r.SpanName === 'POST /v1/chat')!;
  const childRow = rows.find((r) => r.SpanName === 'chat gpt-4o')!;
  const common = {
    ServiceName: 'llm-gateway',
    ScopeName: 'llm-instrumentation',
    ScopeVersion: '0.4.2',
  };
  expect(parentRow).toMatchObject({
    ...common,
    TraceId: parent.spanContext().traceId,
    SpanId: parent.spanContext().spanId,
    ParentSpanId: '',
    SpanKind: 'Server',
    StatusCode: 'Unset',
    Timestamp: hrTimeToNanos(parent.startTime),
    Duration: hrTimeToNanos(parent.duration),
    SpanAttributes: {
      'http.method': 'POST',
      'gen_ai.usage.input_tokens': '1234',
      'gen_ai.request.temperature': '0.25',
      'llm.streaming': 'false',
      'gen_ai.stop_sequences': '["\\n\\n","END"]',
      'retry.delays': '[1,2,3]',
    },
    Events: [],
    Links: [],
  });
  expect(parentRow.ResourceAttributes).toMatchObject({ 'service.name': 'llm-gateway', 'deployment.environment': 'test' });
  expect(childRow).toMatchObject({
    ...common,
    TraceId: parent.spanContext().traceId,
    SpanId: child.spanContext().spanId,
    ParentSpanId: parent.spanContext().spanId,
    SpanKind: 'Client',
    StatusCode: 'Error',
    StatusMessage: 'rate limited',
    Timestamp: hrTimeToNanos(child.startTime),
    Events: [{ Timestamp: hrTimeToNanos(child.events[0]!.time), Name: 'gen_ai.choice', Attributes: { index: '0', 'finish.reason': 'stop' } }],
    Links: [{ TraceId: parent.spanContext().traceId, SpanId: parent.spanContext().spanId, TraceState: '', Attributes: { 'link.reason': 'batch' } }],
  });
}

const ANY_VALUE_ATTRIBUTES = {
  str: 'text',
  int: 9007199254740991,
  negative: -7,
  double: 1.0e-7,
  bool: true,
  bytes: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
  strings: ['a', 'b'],
  mixed: ['x', 2, 2.5, false, null],
  map: { zeta: 1, alpha: { nested: 'yes' }, list: [1, 'two'] },
} as unknown as Attributes;

/** Expected row attributes for `ANY_VALUE_ATTRIBUTES` (pcommon AsString of each value). */
export const ANY_VALUE_STRINGS = {
  str: 'text',
  int: '9007199254740991',
  negative: '-7',
  double: '1e-7',
  bool: 'true',
  bytes: '3q2+7w==',
  strings: '["a","b"]',
  mixed: '["x",2,2.5,false,null]',
  map: '{"alpha":{"nested":"yes"},"list":[1,"two"],"zeta":1}',
};

/**
 * A hand-made ReadableSpan carrying every AnyValue type (bytes and maps cannot be set
 * through the SDK's span API) and exact timestamps, for exporter.export().
 */
export function anyValueSpan(): ReadableSpan {
  const startTime: HrTime = [1_700_000_000, 123_456_789];
  const endTime: HrTime = [1_700_000_002, 5];
  return {
    name: 'all-values',
    kind: SpanKind.PRODUCER,
    spanContext: () => ({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED }),
    parentSpanContext: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED, isRemote: true },
    startTime,
    endTime,
    duration: [1, 876_543_216],
    status: { code: SpanStatusCode.OK },
    attributes: ANY_VALUE_ATTRIBUTES,
    links: [],
    events: [{ name: 'with-map', time: [1_700_000_001, 0], attributes: { payload: { k: 'v' } } as unknown as Attributes }],
    ended: true,
    resource: resourceFromAttributes({ 'service.name': 'hand-made', 'host.id': 42 }),
    instrumentationScope: { name: 'manual', version: '1.0.0' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** Expected row for `anyValueSpan()`. */
export const ANY_VALUE_ROW: Partial<SpanRow> = {
  Timestamp: '1700000000123456789',
  TraceId: '0af7651916cd43dd8448eb211c80319c',
  SpanId: 'b7ad6b7169203331',
  ParentSpanId: '00f067aa0ba902b7',
  SpanName: 'all-values',
  SpanKind: 'Producer',
  StatusCode: 'Ok',
  ServiceName: 'hand-made',
  ScopeName: 'manual',
  ScopeVersion: '1.0.0',
  Duration: '1876543216',
  SpanAttributes: ANY_VALUE_STRINGS,
  Events: [{ Timestamp: '1700000001000000000', Name: 'with-map', Attributes: { payload: '{"k":"v"}' } }],
};

/** exporter.export() as a promise of the ExportResult code (0 = success). */
export function exportSpans(exporter: SpanExporter, spans: ReadableSpan[]): Promise<number> {
  return new Promise((resolve) => exporter.export(spans, (result) => resolve(result.code)));
}
