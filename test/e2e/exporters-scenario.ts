import { expect } from 'vitest';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { sendTraces, type ExporterKind, type SentTrace } from '../helpers/otel-sender.js';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

export const EXPORTERS: ExporterKind[] = ['http/json', 'http/protobuf', 'grpc'];

/** The daemon config used by the exporter end-to-end tests; `storage` is the clickhouse block. */
export function e2eConfig(storageBlock: string): string {
  return `
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:0 }
      http: { endpoint: 127.0.0.1:0 }
storage:
  clickhouse:
${storageBlock}
    database: e2e
    insert: { linger: 5ms }
scoring:
  workers: 1
scorers:
  lev:
    builtin: Levenshtein
rules:
  - name: roots
    scorers: [ExactMatch, lev]
    apply_to: { root_spans: true }
  - name: llm-calls
    scorers: [ValidJSON]
    apply_to: { span_names: [llm.completion] }
admin: { endpoint: 127.0.0.1:0 }
`;
}

export interface Sent {
  kind: ExporterKind;
  traces: SentTrace[];
  acknowledged: ReadableSpan[];
}

/** Sends 3 traces with each stock exporter; trace 1 of each has a wrong `expected`. */
export async function sendWithEveryExporter(daemon: RunningDaemon): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (const kind of EXPORTERS) {
    const address = kind === 'grpc' ? daemon.addresses.grpc! : daemon.addresses.http!;
    const { traces, exporter } = await sendTraces(kind, address, {
      count: 3,
      serviceName: `svc-${kind.replace('/', '-')}`,
      expected: (i) => (i === 1 ? `answer ${i}0` : `answer ${i}`),
    });
    expect(exporter.failed, `${kind} exporter failures`).toEqual([]);
    expect(exporter.acknowledged).toHaveLength(9);
    sent.push({ kind, traces, acknowledged: exporter.acknowledged });
  }
  return sent;
}

type Query = (sql: string) => Promise<Record<string, unknown>[]>;

const hrToNs = (t: [number, number]) => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

/** Asserts every acknowledged span is stored exactly as the Collector's exporter would map it. */
export async function expectSpansStored(query: Query, sent: Sent[]): Promise<void> {
  for (const { kind, acknowledged } of sent) {
    const service = `svc-${kind.replace('/', '-')}`;
    const rows = await query(
      `SELECT TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion,
              SpanAttributes, toString(Duration) AS Duration, StatusCode, StatusMessage, toString(toUnixTimestamp64Nano(Timestamp)) AS Ns,
              Events.Name AS EventNames, Events.Attributes AS EventAttributes
       FROM otel_traces WHERE ServiceName = '${service}' AND ScopeName = 'spanscore-e2e'`,
    );
    expect(rows, `${kind}: stored spans`).toHaveLength(acknowledged.length);
    const bySpanId = new Map(rows.map((r) => [r.SpanId as string, r]));
    for (const span of acknowledged) {
      const row = bySpanId.get(span.spanContext().spanId);
      expect(row, `${kind}: span ${span.name} ${span.spanContext().spanId}`).toBeDefined();
      expect(row!.TraceId).toBe(span.spanContext().traceId);
      expect(row!.ParentSpanId).toBe(span.parentSpanContext?.spanId ?? '');
      expect(row!.SpanName).toBe(span.name);
      expect(row!.SpanKind).toBe({ 'chat': 'Server', 'llm.completion': 'Client', 'tool.lookup': 'Internal' }[span.name]);
      expect(row!.ServiceName).toBe(service);
      expect((row!.ResourceAttributes as Record<string, string>)['deployment.environment']).toBe('test');
      expect(row!.ScopeVersion).toBe('1.2.3');
      expect(row!.Ns).toBe(hrToNs(span.startTime));
      expect(row!.Duration).toBe(hrToNs(span.duration));
      if (span.name === 'chat') {
        expect(row!.StatusCode).toBe('Ok');
        expect(row!.SpanAttributes).toMatchObject({
          'input.value': expect.stringMatching(/^question \d$/),
          'metadata.model': 'gpt-test',
          'http.status_code': '200',
          ratio: '0.25',
          ok: 'true',
          tags: '["a","b"]',
        });
      } else if (span.name === 'tool.lookup') {
        expect(row!.StatusCode).toBe('Error');
        expect(row!.StatusMessage).toBe('lookup failed');
      } else {
        expect(row!.StatusCode).toBe('Unset');
        expect(row!.EventNames).toEqual(['first_token']);
        expect(row!.EventAttributes).toEqual([{ 'token.index': '0' }]);
      }
    }
  }
}

/** Asserts each selected span has its score rows and scoring spans, and nothing else was scored. */
export async function expectScores(query: Query, sent: Sent[]): Promise<void> {
  const traceIds = sent.flatMap((s) => s.traces.map((t) => `'${t.traceId}'`)).join(',');
  const scores = await query(
    `SELECT TraceId, SpanId, ScoringSpanId, SpanName, Rule, Scorer, Score, Error, Source FROM scores FINAL WHERE TraceId IN (${traceIds})`,
  );
  const scoringSpans = await query(
    `SELECT TraceId, SpanId, ParentSpanId, SpanName, StatusCode, SpanAttributes FROM otel_traces WHERE TraceId IN (${traceIds}) AND SpanName LIKE 'score %'`,
  );
  // 9 traces x (2 root scorers + 1 llm scorer)
  expect(scores).toHaveLength(27);
  expect(scoringSpans).toHaveLength(27);
  const spansById = new Map(scoringSpans.map((s) => [s.SpanId as string, s]));
  for (const { traces } of sent) {
    traces.forEach((t, i) => {
      const of = (spanId: string, scorer: string) => scores.filter((s) => s.SpanId === spanId && s.Scorer === scorer);
      const exact = of(t.rootSpanId, 'ExactMatch');
      const lev = of(t.rootSpanId, 'lev');
      const json = of(t.llmSpanId, 'ValidJSON');
      expect(exact).toHaveLength(1);
      expect(lev).toHaveLength(1);
      expect(json).toHaveLength(1);
      expect(exact[0]).toMatchObject({ TraceId: t.traceId, Rule: 'roots', SpanName: 'chat', Source: 'online', Error: '', Score: i === 1 ? 0 : 1 });
      // "answer 1" vs "answer 10": one insertion over the longer length.
      expect(lev[0]!.Score).toBeCloseTo(i === 1 ? 1 - 1 / 9 : 1, 12);
      expect(json[0]).toMatchObject({ Rule: 'llm-calls', SpanName: 'llm.completion' });
      expect(scores.filter((s) => s.SpanId === t.toolSpanId)).toEqual([]);
      for (const score of [exact[0]!, lev[0]!, json[0]!]) {
        const span = spansById.get(score.ScoringSpanId as string);
        expect(span, `scoring span of ${String(score.Scorer)}`).toBeDefined();
        expect(span!.TraceId).toBe(t.traceId);
        expect(span!.ParentSpanId).toBe(score.SpanId);
        expect(span!.SpanName).toBe(`score ${String(score.Scorer)}`);
        expect(span!.SpanAttributes).toMatchObject({
          'spanscore.scorer': score.Scorer,
          'spanscore.rule': score.Rule,
          'spanscore.source': 'online',
        });
        if (score.Score !== null) expect(Number((span!.SpanAttributes as Record<string, string>)['spanscore.score'])).toBeCloseTo(score.Score as number, 12);
      }
    });
  }
}
