import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SelfTelemetrySpec } from '../../src/config/spanscore-config.js';
import { SelfTelemetry } from '../../src/telemetry/self-telemetry.js';
import { selfTelemetryActive, selfTracer } from '../../src/telemetry/self-tracer.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { runCli, startDaemon } from '../helpers/daemon-process.js';
import { startOpenAiServer, type OpenAiServer } from '../helpers/openai-server.js';
import { sendTraces } from '../helpers/otel-sender.js';
import { requestSpans, startOtlpSink, type OtlpSink } from '../helpers/otlp-sink.js';
import { PACKAGE_ROOT } from '../helpers/package-root.js';
import { waitFor } from '../helpers/wait-for.js';

/** The telemetry endpoint: an OTLP sink on the real protocols, cleared before each test. */
let sink: OtlpSink;
beforeAll(async () => {
  sink = await startOtlpSink();
});
afterAll(async () => {
  await sink?.close();
});
beforeEach(() => {
  sink.requests.length = 0;
  sink.respond(undefined);
});
const tracesUrl = () => `${sink.httpUrl}/v1/traces`;

function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

function spec(overrides: Partial<SelfTelemetrySpec>): SelfTelemetrySpec {
  return { protocol: 'http/protobuf', endpoint: '', headers: {}, tls: { insecure: true, insecureSkipVerify: false }, samplingRatio: 1, ...overrides };
}

const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('selfTracer', () => {
  let telemetry: SelfTelemetry | undefined;
  afterEach(async () => {
    await telemetry?.shutdown();
    telemetry = undefined;
  });

  it('is a no-op while self-telemetry is off, records while it runs, and is a no-op again after shutdown', async () => {
    expect(selfTelemetryActive()).toBe(false);
    const off = selfTracer.startSpan('off');
    expect(off.isRecording()).toBe(false);
    expect(off.spanContext().traceId).toBe('00000000000000000000000000000000');
    // Every method answers without effect.
    off.setAttribute('a', 1).setStatus({ code: 2 }).end();

    // The endpoint need not exist for spans to record: sending is the batch processor's business.
    telemetry = SelfTelemetry.start(spec({ endpoint: 'http://127.0.0.1:9/v1/traces' }), { instanceId: 'unit', version: VERSION, logger: capturingLogger().logger });
    const on = selfTracer.startSpan('on');
    expect(on.isRecording()).toBe(true);
    expect(on.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(selfTracer.startActiveSpan('active', (span) => span.isRecording())).toBe(true);
    on.end();

    await telemetry.shutdown(100);
    expect(selfTelemetryActive()).toBe(false);
    expect(selfTracer.startSpan('after').isRecording()).toBe(false);
    expect(selfTracer.startActiveSpan('after', (span) => span.isRecording())).toBe(false);
  });

  it('samples root spans by sampling_ratio: none at 0', async () => {
    telemetry = SelfTelemetry.start(spec({ endpoint: 'http://127.0.0.1:9/v1/traces', samplingRatio: 0 }), { instanceId: 'unit', version: VERSION, logger: capturingLogger().logger });
    expect(selfTelemetryActive()).toBe(true);
    const spans = Array.from({ length: 50 }, (_, i) => selfTracer.startSpan(`s${i}`));
    expect(spans.filter((span) => span.isRecording())).toHaveLength(0);
  });
});

describe('SelfTelemetry export', () => {
  it('sends over gRPC with the headers as metadata, the resource and the scope', async () => {
    const { logger, lines } = capturingLogger();
    const telemetry = SelfTelemetry.start(spec({ protocol: 'grpc', endpoint: sink.grpcAddress, headers: { 'x-team-token': 'abc' } }), { instanceId: 'grpc-unit', version: VERSION, logger });
    const span = selfTracer.startSpan('unit work', { attributes: { 'spanscore.test': 42 } });
    span.end();
    await telemetry.shutdown();

    expect(sink.requests).toHaveLength(1);
    const [request] = sink.requests;
    expect(request).toMatchObject({ transport: 'grpc', accepted: true });
    expect(request!.headers['x-team-token']).toBe('abc');
    const spans = sink.spans();
    expect(spans).toHaveLength(1);
    // int64 attributes decode as bigint.
    expect(spans[0]).toMatchObject({ name: 'unit work', scope: { name: 'spanscore' }, attributes: { 'spanscore.test': 42n } });
    expect(spans[0]!.resource).toMatchObject({ 'service.name': 'spanscore', 'service.version': VERSION, 'service.instance.id': 'grpc-unit', 'telemetry.sdk.language': 'nodejs' });
    expect(lines.filter((line) => line.level === 40)).toEqual([]);
    expect(selfTracer.startSpan('late').isRecording()).toBe(false);
  });

  it('logs a failing endpoint once at warn and its recovery once, with the spans lost (http/json)', async () => {
    const { logger, lines } = capturingLogger();
    const telemetry = SelfTelemetry.start(spec({ protocol: 'http/json', endpoint: tracesUrl() }), { instanceId: 'json-unit', version: VERSION, logger });
    try {
      // 400 is final for the exporter: each batch fails at once, no retries.
      sink.respond(() => ({ httpStatus: 400, message: 'refused by the test' }));
      for (const name of ['lost 1', 'lost 2', 'lost 3']) {
        selfTracer.startSpan(name).end();
        await telemetry.forceFlush();
      }
      expect(sink.requests).toHaveLength(3);
      expect(sink.requests.flatMap(requestSpans).map((span) => span.name)).toEqual(['lost 1', 'lost 2', 'lost 3']);
      sink.respond(undefined);
      selfTracer.startSpan('kept', { attributes: { 'spanscore.test': 'yes' } }).end();
      await telemetry.forceFlush();
      selfTracer.startSpan('kept too').end();
      await telemetry.forceFlush();

      const warnings = lines.filter((line) => line.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toMatch(/self-telemetry export failing/);
      expect(warnings[0]!.endpoint).toBe(tracesUrl());
      const recovered = lines.filter((line) => line.msg === 'self-telemetry export recovered');
      expect(recovered).toHaveLength(1);
      expect(recovered[0]).toMatchObject({ level: 30, lostSpans: 3, lostBatches: 3 });
      const spans = sink.spans();
      expect(spans.map((span) => span.name)).toEqual(['kept', 'kept too']);
      expect(spans[0]!.attributes['spanscore.test']).toBe('yes');
      expect(spans[0]!.resource['service.instance.id']).toBe('json-unit');
      expect(sink.requests.every((request) => request.transport === 'http' && request.encoding === 'json' && request.path === '/v1/traces')).toBe(true);
      expect(sink.requests.every((request) => request.headers['content-type'] === 'application/json')).toBe(true);
    } finally {
      await telemetry.shutdown();
    }
  });
});

describe('self-telemetry of a running daemon', () => {
  let llm: OpenAiServer;

  beforeAll(async () => {
    llm = await startOpenAiServer();
  });

  afterAll(async () => {
    await llm?.close();
  });

  it('traces exports, ClickHouse statements, scoring batches and LLM calls to the telemetry endpoint only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spanscore-self-telemetry-'));
    const dataDir = join(dir, 'clickhouse');
    // The judge's call for question 0 is retried (503 first), the one for question 2 fails for good (400).
    let retried = false;
    llm.setDefault((request) => {
      const prompt = JSON.stringify(request.body);
      if (prompt.includes('question 0') && !retried) {
        retried = true;
        return { kind: 'error', status: 503 };
      }
      if (prompt.includes('question 2')) return { kind: 'error', status: 400, message: 'bad request' };
      return { kind: 'choice', choice: 'Y', usage: { prompt_tokens: 321, completion_tokens: 12 } };
    });
    const config = daemonConfig({
      embeddedPath: dataDir,
      extra: `
service:
  instance_id: self-e2e
  telemetry:
    traces:
      endpoint: ${tracesUrl()}
      protocol: http/protobuf
      headers: { x-telemetry-token: t0ken }
scoring:
  workers: 1
scorers:
  correct:
    prompt: "Question: {{input}}\\nAnswer: {{output}}\\nIs the answer correct? Y or N."
    choice_scores: { "Y": 1, "N": 0 }
    model: gpt-test
    base_url: ${llm.baseUrl}
    api_key: sk-self
    retry: { max_retries: 1, initial_backoff: 10ms }
rules:
  - name: answers
    scorers: [Levenshtein, correct]
`,
    });
    const daemon = await startDaemon(config);
    let traceIds: string[];
    try {
      const { traces } = await sendTraces('http/protobuf', daemon.addresses.http!, { count: 3 });
      traceIds = traces.map((trace) => trace.traceId);
      // Three judge calls and one retry; then both scorers' scores (3 + 3) are written.
      await waitFor(() => llm.requests.length >= 4, { what: 'the judge calls' });
      await waitFor(
        async () => {
          const response = await fetch(`http://${daemon.addresses.admin}/api/v1/query`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ sql: `SELECT count() AS n FROM scores FINAL WHERE Rule = 'answers'` }),
          });
          const body = (await response.json()) as { rows: Array<{ n: string }> };
          return Number(body.rows[0]!.n) === 6;
        },
        { what: 'six scores' },
      );
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0);
    }

    const startLine = daemon.logs.find((line) => typeof line.msg === 'string' && line.msg.startsWith('self-telemetry on'));
    expect(startLine).toMatchObject({ endpoint: tracesUrl(), protocol: 'http/protobuf' });

    // The daemon flushed its spans before exiting.
    const spans = sink.spans();
    expect(spans.length).toBeGreaterThan(0);
    expect(sink.requests.every((request) => request.accepted && request.transport === 'http' && request.path === '/v1/traces')).toBe(true);
    expect(sink.requests.every((request) => request.headers['x-telemetry-token'] === 't0ken')).toBe(true);
    expect(sink.requests.every((request) => request.headers['content-type'] === 'application/x-protobuf')).toBe(true);
    for (const span of spans) {
      expect(span.resource).toMatchObject({ 'service.name': 'spanscore', 'service.version': VERSION, 'service.instance.id': 'self-e2e' });
      expect(span.scope.name).toBe('spanscore');
    }
    // OTLP numbers: kind 1 internal, 2 server, 3 client; status.code 0 unset, 1 ok, 2 error. The sink decodes int64 attribute values as bigint.
    const named = (name: string) => spans.filter((span) => span.name === name);
    const total = (list: typeof spans, key: string) => list.reduce((sum, span) => sum + (span.attributes[key] as bigint), 0n);

    // The export request (sendTraces' spans: 3 traces x 3 spans, in one or more requests).
    const exports = named('otlp.export');
    expect(exports.length).toBeGreaterThan(0);
    for (const span of exports) {
      expect(span.kind).toBe(2);
      expect(span.attributes).toMatchObject({ 'spanscore.transport': 'http', 'spanscore.spans.rejected': 0n, 'spanscore.export.outcome': 'stored' });
      expect(span.status.code).toBe(0);
    }
    expect(total(exports, 'spanscore.spans.accepted')).toBe(9n);

    // Inserts: every stored span and score row is in one.
    const insertedRows = (table: string) => {
      const inserts = named(`clickhouse insert ${table}`);
      expect(inserts.length).toBeGreaterThan(0);
      for (const span of inserts) {
        expect(span.kind).toBe(3);
        expect(span.attributes).toMatchObject({ 'db.system.name': 'clickhouse', 'db.namespace': 'spanscore', 'db.collection.name': table, 'db.operation.name': 'INSERT', 'spanscore.clickhouse.mode': 'embedded' });
        expect(span.status.code).toBe(0);
      }
      return total(inserts, 'spanscore.db.rows');
    };
    expect(insertedRows('scores')).toBe(6n);
    const tracesRows = insertedRows('otel_traces');

    // Queries: the admin API's, with its string literal blanked.
    const adminQuery = named('clickhouse query').find((span) => String(span.attributes['db.query.text']).includes('FROM scores FINAL'));
    expect(adminQuery).toBeDefined();
    expect(adminQuery!.kind).toBe(3);
    expect(adminQuery!.attributes).toMatchObject({ 'db.system.name': 'clickhouse', 'db.operation.name': 'SELECT', 'spanscore.db.readonly': true });
    expect(adminQuery!.attributes['db.query.text']).toContain(`Rule = '?'`);
    expect(adminQuery!.attributes['db.query.text']).not.toContain('answers');
    expect(adminQuery!.attributes['db.response.returned_rows']).toBe(1n);

    // Scoring batches: Levenshtein in the worker pool, the judge on its own queue (one task per call).
    const batches = named('scoring batch');
    for (const span of batches) expect(span.kind).toBe(1);
    const workerBatches = batches.filter((span) => span.attributes['spanscore.scoring.queue'] === 'workers');
    expect(workerBatches.length).toBeGreaterThan(0);
    for (const span of workerBatches) expect(span.attributes).toMatchObject({ 'spanscore.scoring.rules': ['answers'], 'spanscore.scoring.scorers': ['Levenshtein'], 'spanscore.scoring.failure_count': 0n });
    expect(total(workerBatches, 'spanscore.scoring.task_count')).toBe(3n);
    const judgeBatches = batches.filter((span) => span.attributes['spanscore.scoring.queue'] === 'llm:correct');
    expect(judgeBatches).toHaveLength(3);
    for (const span of judgeBatches) expect(span.attributes).toMatchObject({ 'spanscore.scoring.rules': ['answers'], 'spanscore.scoring.scorers': ['correct'], 'spanscore.scoring.task_count': 1n });
    expect(judgeBatches.map((span) => span.attributes['spanscore.scoring.failure_count']).sort()).toEqual([0n, 0n, 1n]);

    // LLM calls: one span per call, retries included.
    const calls = named('chat gpt-test');
    expect(calls).toHaveLength(3);
    for (const span of calls) {
      expect(span.kind).toBe(3);
      expect(span.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-test', 'server.address': '127.0.0.1' });
    }
    const failed = calls.filter((span) => span.status.code === 2);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.attributes).toMatchObject({ 'http.response.status_code': 400n, 'error.type': 'client_error', 'spanscore.llm.retries': 0n });
    expect(failed[0]!.status.message).toContain('bad request');
    const succeeded = calls.filter((span) => span.status.code !== 2);
    expect(succeeded.map((span) => span.attributes['spanscore.llm.retries']).sort()).toEqual([0n, 1n]);
    for (const span of succeeded) {
      expect(span.attributes).toMatchObject({ 'http.response.status_code': 200n, 'gen_ai.usage.input_tokens': 321n, 'gen_ai.usage.output_tokens': 12n, 'gen_ai.response.model': 'gpt-test' });
    }

    // Independent roots, each its own trace; none of them reached the daemon's own storage.
    expect(spans.every((span) => span.parentSpanId === '')).toBe(true);
    const stored = await runCli(['query', '--config', daemon.configFile, '--format', 'json', 'SELECT TraceId, SpanName FROM otel_traces']);
    expect(stored.stderr).toBe('');
    expect(stored.code).toBe(0);
    const rows = JSON.parse(stored.stdout) as Array<{ TraceId: string; SpanName: string }>;
    expect(rows).toHaveLength(Number(tracesRows));
    expect(rows.length).toBeGreaterThanOrEqual(9);
    expect(new Set(rows.map((row) => row.TraceId))).toEqual(new Set(traceIds!));
    const selfTraceIds = new Set(spans.map((span) => span.traceId));
    expect(rows.filter((row) => selfTraceIds.has(row.TraceId))).toEqual([]);
    const selfNames = new Set(spans.map((span) => span.name));
    expect(rows.filter((row) => selfNames.has(row.SpanName))).toEqual([]);
  });
});
