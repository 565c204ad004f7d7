import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon } from '../helpers/daemon-process.js';
import { sql } from '../helpers/admin-api.js';
import { sendTraces } from '../helpers/otel-sender.js';
import { waitFor } from '../helpers/wait-for.js';

interface StoredSpan {
  TraceId: string;
  SpanId: string;
  ParentSpanId: string;
  SpanName: string;
  ScopeName: string;
  Timestamp: string;
  Duration: string;
  SpanAttributes: Record<string, string>;
}

/**
 * A forward-only spanscore sidecar (scoring, no ClickHouse) in front of a second spanscore that
 * stores: the second one stores what the app sent exactly as if the app had sent it there, and
 * the first one's scores arrive as scoring spans in the same traces.
 */
describe('a forward-only scoring sidecar in front of a storing spanscore', () => {
  it('delivers the app spans unchanged and the scores as child spans in the downstream ClickHouse', async () => {
    const downstream = await startDaemon(daemonConfig({ embeddedPath: join(mkdtempSync(join(tmpdir(), 'spanscore-chain-')), 'clickhouse') }));
    const sidecar = await startDaemon(
      daemonConfig({
        grpc: false,
        extra: `
exporters:
  otlp:
    endpoint: ${downstream.addresses.grpc}
    tls: { insecure: true }
scoring: { workers: 1 }
rules:
  - name: answers
    scorers: [ExactMatch]
    apply_to: { span_names: [chat] }
`,
      }),
    );
    try {
      const { traces, exporter } = await sendTraces('http/json', sidecar.addresses.http!, { count: 4, serviceName: 'chain', expected: (i) => (i % 2 === 0 ? `answer ${i}` : 'other') });
      expect(exporter.failed).toEqual([]);
      const traceList = traces.map((t) => `'${t.traceId}'`).join(',');
      const query = `SELECT TraceId, SpanId, ParentSpanId, SpanName, ScopeName, toString(toUnixTimestamp64Nano(Timestamp)) AS Timestamp, toString(Duration) AS Duration, SpanAttributes
        FROM otel_traces WHERE TraceId IN (${traceList}) ORDER BY SpanId`;
      await waitFor(async () => (await sql<StoredSpan>(downstream.addresses.admin, query)).length === 4 * 3 + 4, { timeoutMs: 30_000, what: '12 app spans and 4 scoring spans downstream' });
      const stored = await sql<StoredSpan>(downstream.addresses.admin, query);

      const app = stored.filter((row) => row.ScopeName !== 'spanscore');
      const sent = new Map(exporter.acknowledged.map((span) => [span.spanContext().spanId, span]));
      expect(app.map((row) => row.SpanId).sort()).toEqual([...sent.keys()].sort());
      for (const row of app) {
        const span = sent.get(row.SpanId)!;
        const startNs = BigInt(span.startTime[0]) * 1_000_000_000n + BigInt(span.startTime[1]);
        const endNs = BigInt(span.endTime[0]) * 1_000_000_000n + BigInt(span.endTime[1]);
        expect(row).toMatchObject({ TraceId: span.spanContext().traceId, ParentSpanId: span.parentSpanContext?.spanId ?? '', SpanName: span.name });
        expect(row.Timestamp).toBe(startNs.toString());
        expect(row.Duration).toBe((endNs - startNs).toString());
        expect(Object.keys(row.SpanAttributes).sort()).toEqual(Object.keys(span.attributes).sort());
      }

      const scoring = stored.filter((row) => row.ScopeName === 'spanscore');
      const byRoot = new Map(scoring.map((row) => [row.ParentSpanId, row]));
      traces.forEach((trace, i) => {
        const row = byRoot.get(trace.rootSpanId)!;
        expect(row).toMatchObject({ TraceId: trace.traceId, SpanName: 'score ExactMatch' });
        expect(row.SpanAttributes).toMatchObject({ 'spanscore.rule': 'answers', 'spanscore.score': i % 2 === 0 ? '1' : '0' });
      });
      // The downstream scored nothing itself: it has no rules.
      expect(await sql(downstream.addresses.admin, `SELECT * FROM scores FINAL WHERE TraceId IN (${traceList})`)).toEqual([]);
    } finally {
      expect(await sidecar.stop('SIGTERM')).toBe(0);
      expect(await downstream.stop('SIGTERM')).toBe(0);
    }
  });
});
