import { SpanKind, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../helpers/clickhouse-server.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { RecordingExporter } from '../helpers/otel-sender.js';
import { sql } from '../helpers/admin-api.js';
import { waitFor } from '../helpers/wait-for.js';
import { unscoredRootsSql } from '../helpers/score-coverage.js';

/**
 * `kill -9` in the middle of a load, then a restart on the same ports and data directory:
 * the exporter rides over the gap with its retries, every span it was told was exported is
 * stored, and every span the rule selects ends up scored: those the killed daemon stored but
 * never scored (or never wrote the scores of) are found in ClickHouse by scoring recovery.
 */

const SERVICE = 'kill-restart';
const TRACES = 5_000;
const SPANS_PER_TRACE = 4;

const dataDir = mkdtempSync(join(tmpdir(), 'spanscore-kill-restart-'));
let daemon: RunningDaemon | undefined;

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});


const UNSCORED_SQL = unscoredRootsSql(SERVICE, 'answers');

describe('daemon killed (SIGKILL) mid-load and restarted', () => {
  it('stores every acknowledged span and scores every selected one', async () => {
    const [httpPort, adminPort] = [await findFreePort(), await findFreePort()];
    const config = `
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${httpPort} }
storage:
  clickhouse:
    embedded: { path: ${join(dataDir, 'clickhouse')} }
    insert: { linger: 5ms }
admin: { endpoint: 127.0.0.1:${adminPort}, max_query_rows: 100000 }
scoring:
  workers: 2
  recovery: { min_age: 1s, interval: 2s }
rules:
  - name: answers
    scorers: [ExactMatch]
`;
    daemon = await startDaemon(config);
    const address = daemon.addresses.http!;

    // The stock SDK: retries 429/502/503/504 and connection errors (ECONNREFUSED, ECONNRESET, ...)
    // with backoff (1 s, x1.5, at most 5 retries) within the export's timeout (default 10 s:
    // 30 s here, to outlast the restart). The final forceFlush sends every queued batch at
    // once, hence a concurrency limit above the default 30.
    const exporter = new RecordingExporter(new OTLPTraceExporter({ url: `http://${address}/v1/traces`, timeoutMillis: 30_000, concurrencyLimit: 1_000 }));
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': SERVICE }),
      spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: TRACES * SPANS_PER_TRACE, maxExportBatchSize: 500, scheduledDelayMillis: 10, exportTimeoutMillis: 60_000 })],
    });
    const tracer = provider.getTracer('kill-restart');
    const started = Date.now();
    let killedAt = 0;
    let restartedAt = 0;
    let acknowledgedAtKill = 0;

    // 250 traces every 50 ms; half way through, once a quarter of the spans are acknowledged
    // (the exporter is busy: batches in flight, more queued), the daemon is killed.
    for (let i = 0; i < TRACES; i++) {
      const root = tracer.startSpan('chat', { kind: SpanKind.SERVER, attributes: { 'input.value': `q${i}`, 'output.value': `a${i}`, expected: i % 3 === 0 ? 'other' : `a${i}` } });
      const parent = trace.setSpan(context.active(), root);
      for (const name of ['retrieve', 'llm', 'tool']) tracer.startSpan(name, {}, parent).end();
      root.end();
      if (i % 250 === 249) await new Promise((resolve) => setTimeout(resolve, 50));
      if (i !== TRACES / 2) continue;
      await waitFor(() => exporter.acknowledged.length >= (TRACES * SPANS_PER_TRACE) / 4, { timeoutMs: 20_000, intervalMs: 5, what: 'a quarter of the spans acknowledged' });
      acknowledgedAtKill = exporter.acknowledged.length;
      await daemon.stop('SIGKILL');
      killedAt = Date.now();
      daemon = await startDaemon(config);
      restartedAt = Date.now();
    }
    await provider.forceFlush();
    await provider.shutdown();
    const sentAt = Date.now();
    expect(killedAt).toBeGreaterThan(0);
    expect(daemon.addresses.http).toBe(address);
    const admin = daemon.addresses.admin;

    expect(exporter.failed.flatMap((batch) => batch.spans)).toHaveLength(0);
    const acknowledged = new Set(exporter.acknowledged.map((span) => `${span.spanContext().traceId}/${span.spanContext().spanId}`));
    expect(acknowledged.size).toBe(TRACES * SPANS_PER_TRACE);

    const stored = await sql<{ TraceId: string; SpanId: string; n: string }>(
      admin,
      `SELECT TraceId, SpanId, count() AS n FROM otel_traces WHERE ServiceName = '${SERVICE}' AND ScopeName != 'spanscore' GROUP BY TraceId, SpanId`,
    );
    const storedKeys = new Set(stored.map((row) => `${row.TraceId}/${row.SpanId}`));
    const missing = [...acknowledged].filter((key) => !storedKeys.has(key));
    const duplicates = stored.reduce((sum, row) => sum + Number(row.n) - 1, 0);
    expect(missing).toEqual([]);

    await waitFor(async () => Number((await sql<{ n: string }>(admin, UNSCORED_SQL))[0]!.n) === 0, { timeoutMs: 20_000, intervalMs: 250, what: 'every selected span scored' });
    const scoredAt = Date.now();
    const [scores] = await sql<{ spans: string; ok: string; rows: string }>(
      admin,
      `SELECT uniqExact(TraceId, SpanId) AS spans, countIf(Score = 1) AS ok, count() AS rows FROM scores FINAL WHERE Rule = 'answers'`,
    );
    expect(Number(scores!.spans)).toBe(TRACES);
    expect(Number(scores!.rows)).toBe(TRACES);
    // ExactMatch: every third trace's answer differs from its expected one.
    expect(Number(scores!.ok)).toBe(TRACES - Math.ceil(TRACES / 3));
    const metrics = await (await fetch(`http://${admin}/metrics`)).text();
    const recovered = /spanscore_scoring_recovered_total\{rule="answers"\} (\d+)/.exec(metrics)?.[1] ?? '0';

    console.log(
      `kill-restart: ${acknowledged.size} spans acknowledged (${acknowledgedAtKill} before the kill), ${storedKeys.size} stored, ` +
        `${missing.length} missing, ${duplicates} duplicate rows from retried requests; ` +
        `restart took ${restartedAt - killedAt} ms; load ended ${sentAt - started} ms after start; ` +
        `${TRACES} selected spans all scored ${scoredAt - sentAt} ms after the load, ${recovered} score(s) by recovery`,
    );
    expect(scoredAt - started).toBeLessThan(55_000);
  }, 60_000);
});
