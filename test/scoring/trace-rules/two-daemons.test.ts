import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, SpanKind, trace, type Span } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/admin/logger.js';
import { ClickHouseStorage } from '../../../src/storage/clickhouse-storage.js';
import { startClickHouseServer, type ClickHouseServer } from '../../helpers/clickhouse-server.js';
import { daemonConfig } from '../../helpers/daemon-config.js';
import { startDaemon, type RunningDaemon } from '../../helpers/daemon-process.js';
import { makeExporter } from '../../helpers/otel-sender.js';
import { waitFor } from '../../helpers/wait-for.js';

const TRACES = 6;

/**
 * Two replicas behind one ClickHouse, the spans of each trace spread over both (as a load
 * balancer per request would): the replica that got the root scores the whole trace, once.
 */
describe('trace rules across two daemons', () => {
  let server: ClickHouseServer;
  let storage: ClickHouseStorage;
  const daemons: RunningDaemon[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'spanscore-two-daemons-'));
  const callLog = join(dir, 'calls.jsonl');

  beforeAll(async () => {
    server = await startClickHouseServer();
    storage = new ClickHouseStorage({ url: server.url, database: 'spanscore', logger: silentLogger() });
  });

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await storage?.close();
    await server?.dispose();
  });

  it('scores each trace exactly once, on the replica that stored its root, with the spans of both', async () => {
    const scorer = join(dir, 'count-calls.mjs');
    // Runs in a daemon's worker thread: process.pid says which daemon made the call.
    writeFileSync(
      scorer,
      `import { appendFileSync } from 'node:fs';
export default ({ span, trace, thread }) => {
  appendFileSync(${JSON.stringify(callLog)}, JSON.stringify({ pid: process.pid, traceId: span.traceId, rootSpanId: span.spanId, spans: trace.map((s) => s.name).sort(), thread: thread.length }) + '\\n');
  return trace.length / 10;
};\n`,
    );
    const config = (instance: string) =>
      daemonConfig({
        url: server.url,
        extra: `
service: { instance_id: ${instance} }
scoring: { workers: 1 }
scorers:
  calls: { module: ${scorer} }
rules:
  - name: whole-trace
    scope: trace
    idle_seconds: 1
    scorers: [calls]
`,
      });
    // One after the other: both would create the same tables.
    daemons.push(await startDaemon(config('replica-a')));
    daemons.push(await startDaemon(config('replica-b')));
    const [a, b] = daemons as [RunningDaemon, RunningDaemon];

    const sent = await sendSpreadTraces(a.addresses.http!, b.addresses.http!);

    const logged = () => (existsSync(callLog) ? readFileSync(callLog, 'utf8').trim().split('\n').filter(Boolean) : []);
    const rows = () =>
      storage.query<{ TraceId: string; SpanId: string; Scorer: string; Score: number }>(
        "SELECT TraceId, SpanId, Scorer, Score FROM scores WHERE Rule = 'whole-trace'",
      );
    await waitFor(async () => logged().length >= TRACES && (await rows()).length >= TRACES, { timeoutMs: 30_000, what: `${TRACES} scored traces` });
    // Give a second scoring (the other replica, a re-check) time to show up: idle 1 s, ticks 0.5 s.
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    const calls = logged().map((line) => JSON.parse(line) as { pid: number; traceId: string; rootSpanId: string; spans: string[]; thread: number });
    expect(calls).toHaveLength(TRACES);
    const scores = await rows();
    expect(scores).toHaveLength(TRACES);
    for (const sentTrace of sent) {
      const call = calls.find((entry) => entry.traceId === sentTrace.traceId)!;
      expect(call).toBeDefined();
      expect(call.rootSpanId).toBe(sentTrace.rootSpanId);
      expect(call.pid).toBe(sentTrace.rootTo === 'a' ? a.child.pid : b.child.pid);
      expect(call.spans).toEqual(['agent', 'chat', 'tool']);
      expect(call.thread).toBe(2);
      expect(scores.filter((row) => row.TraceId === sentTrace.traceId)).toEqual([
        { TraceId: sentTrace.traceId, SpanId: sentTrace.rootSpanId, Scorer: 'calls', Score: 0.3 },
      ]);
    }
    // Both replicas decided some traces.
    expect(new Set(calls.map((call) => call.pid))).toEqual(new Set([a.child.pid, b.child.pid]));
    expect(await a.stop('SIGTERM')).toBe(0);
    expect(await b.stop('SIGTERM')).toBe(0);
  });
});

interface SpreadTrace {
  traceId: string;
  rootSpanId: string;
  rootTo: 'a' | 'b';
}

/**
 * Sends TRACES agent traces through the stock SDK and OTLP/HTTP exporters: each trace's root
 * to one daemon (alternating), its LLM call to the other, its tool call to the root's.
 */
async function sendSpreadTraces(addressA: string, addressB: string): Promise<SpreadTrace[]> {
  const toA = new BatchSpanProcessor(makeExporter('http/protobuf', addressA), { scheduledDelayMillis: 50 });
  const toB = new BatchSpanProcessor(makeExporter('http/protobuf', addressB), { scheduledDelayMillis: 50 });
  const rootTo = new Map<string, 'a' | 'b'>();
  const router: SpanProcessor = {
    onStart: () => {},
    onEnd: (span: ReadableSpan) => {
      const target = rootTo.get(span.spanContext().traceId) === 'a' ? 'a' : 'b';
      const other = target === 'a' ? 'b' : 'a';
      ((span.name === 'chat' ? other : target) === 'a' ? toA : toB).onEnd(span);
    },
    forceFlush: async () => {
      await Promise.all([toA.forceFlush(), toB.forceFlush()]);
    },
    shutdown: async () => {
      await Promise.all([toA.shutdown(), toB.shutdown()]);
    },
  };
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'agent-app' }), spanProcessors: [router] });
  const tracer = provider.getTracer('two-daemons-test');
  const sent: SpreadTrace[] = [];
  for (let i = 0; i < TRACES; i++) {
    const root: Span = tracer.startSpan('agent', { kind: SpanKind.SERVER, attributes: { 'input.value': `question ${i}`, 'output.value': `answer ${i}` } });
    const target = i % 2 === 0 ? 'a' : 'b';
    rootTo.set(root.spanContext().traceId, target);
    const rootContext = trace.setSpan(context.active(), root);
    const llm = tracer.startSpan(
      'chat',
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: `question ${i}` }] }]),
          'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: `answer ${i}` }] }]),
        },
      },
      rootContext,
    );
    const tool = tracer.startSpan('tool', { kind: SpanKind.INTERNAL }, trace.setSpan(rootContext, llm));
    tool.end();
    llm.end();
    root.end();
    sent.push({ traceId: root.spanContext().traceId, rootSpanId: root.spanContext().spanId, rootTo: target });
  }
  await provider.forceFlush();
  await provider.shutdown();
  return sent;
}
