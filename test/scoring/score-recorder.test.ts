import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../src/admin/logger.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import type { ScoreRow } from '../../src/storage/score-row.js';
import { SCORING_SCOPE_VERSION, ScoreRecorder, toScoreRecord } from '../../src/scoring/score-recorder.js';
import type { ScoreOutcome } from '../../src/scoring/scorer-args.js';
import { spanRow } from '../storage/storage-fixtures.js';

const scored = spanRow({ ServiceName: 'chat-app', SpanName: 'chat gpt-4o', Timestamp: '1700000000123456789' });
const ok: ScoreOutcome = {
  scorer: 'exact',
  score: 0.5,
  error: '',
  metadata: { expected: 'Paris', nested: { a: [1, 2] } },
  durationNs: 12_345,
  startedAt: '1700000001000000001',
};
const failed: ScoreOutcome = { ...ok, scorer: 'throws', score: null, error: 'scorer "throws" threw Error: boom', metadata: {} };

/** The narrow storage interface, recording what it was given; fails the first `failures` calls per table. */
class RecordingStorage {
  readonly spans: SpanRow[][] = [];
  readonly scores: ScoreRow[][] = [];
  calls = { spans: 0, scores: 0 };
  constructor(private failures: { spans: number; scores: number } = { spans: 0, scores: 0 }) {}
  async insertSpans(rows: SpanRow[]): Promise<void> {
    this.calls.spans++;
    if (this.calls.spans <= this.failures.spans) throw new Error('ClickHouse is down (spans)');
    this.spans.push(rows);
  }
  async insertScores(rows: ScoreRow[]): Promise<void> {
    this.calls.scores++;
    if (this.calls.scores <= this.failures.scores) throw new Error('ClickHouse is down (scores)');
    this.scores.push(rows);
  }
}

function capturingLogger() {
  const entries: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => entries.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, entries };
}

const writeFailures = async (metrics: DaemonMetrics) => (await metrics.scoreWriteFailures.get()).values[0]?.value ?? 0;

describe('toScoreRecord', () => {
  it('a score: a scores row plus a child scoring span in the scored trace and service', () => {
    const { score, span } = toScoreRecord(scored, 'answers', ok, 'online', '1700000009000000000');
    expect(span.SpanId).toMatch(/^[0-9a-f]{16}$/);
    expect(span).toEqual({
      Timestamp: '1700000001000000001',
      TraceId: scored.TraceId,
      SpanId: span.SpanId,
      ParentSpanId: scored.SpanId,
      TraceState: '',
      SpanName: 'score exact',
      SpanKind: 'Internal',
      ServiceName: 'chat-app',
      ResourceAttributes: { 'service.name': 'chat-app', 'telemetry.sdk.name': 'spanscore' },
      ScopeName: 'spanscore',
      ScopeVersion: SCORING_SCOPE_VERSION,
      SpanAttributes: {
        'spanscore.score': '0.5',
        'spanscore.scorer': 'exact',
        'spanscore.rule': 'answers',
        'spanscore.source': 'online',
        'spanscore.details': '{"expected":"Paris","nested":{"a":[1,2]}}',
      },
      Duration: '12345',
      StatusCode: 'Ok',
      StatusMessage: '',
      Events: [],
      Links: [],
    });
    expect(score).toEqual({
      Timestamp: '1700000000123456789',
      TraceId: scored.TraceId,
      SpanId: scored.SpanId,
      ScoringSpanId: span.SpanId,
      ServiceName: 'chat-app',
      // The fixture span came from no receiver: its service stands for its project.
      Project: 'chat-app',
      SpanName: 'chat gpt-4o',
      Rule: 'answers',
      Scorer: 'exact',
      Score: 0.5,
      Error: '',
      Details: '{"expected":"Paris","nested":{"a":[1,2]}}',
      Source: 'online',
      ScoredAt: '1700000009000000000',
      DurationNs: '12345',
    });
  });

  it("carries the scored span's project into the score and the scoring span", () => {
    const inProject = spanRow({ ServiceName: 'chat-app', ResourceAttributes: { 'service.name': 'chat-app', 'spanscore.project': 'support', 'spanscore.instance': 'r1' } });
    const { score, span } = toScoreRecord(inProject, 'answers', ok, 'online');
    expect(score.Project).toBe('support');
    expect(span.ResourceAttributes).toEqual({ 'service.name': 'chat-app', 'telemetry.sdk.name': 'spanscore', 'spanscore.project': 'support' });
    // Without the attribute the scoring span's resource stays as before.
    expect(toScoreRecord(scored, 'answers', ok, 'online').span.ResourceAttributes).not.toHaveProperty('spanscore.project');
  });

  it('a failed scorer: Error status with the message, no score attribute', () => {
    const { score, span } = toScoreRecord(scored, 'answers', failed, 'online');
    expect(span.StatusCode).toBe('Error');
    expect(span.StatusMessage).toBe('scorer "throws" threw Error: boom');
    expect(span.SpanAttributes['spanscore.error']).toBe('scorer "throws" threw Error: boom');
    expect(span.SpanAttributes).not.toHaveProperty('spanscore.score');
    expect(score).toMatchObject({ Score: null, Error: 'scorer "throws" threw Error: boom', Details: '{}' });
    // ScoredAt defaults to now.
    expect(Number(BigInt(score.ScoredAt) / 1_000_000n)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('every score gets its own scoring span id; the package version names the scope', () => {
    const ids = new Set(Array.from({ length: 1_000 }, () => toScoreRecord(scored, 'r', ok, 'online').span.SpanId));
    expect(ids.size).toBe(1_000);
    expect(SCORING_SCOPE_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('ScoreRecorder', () => {
  it('batches: many scores within the interval become one insert per table', async () => {
    const storage = new RecordingStorage();
    const recorder = new ScoreRecorder({ storage, metrics: new DaemonMetrics({ processMetrics: false }), logger: silentLogger(), flushIntervalMs: 50 });
    const records = Array.from({ length: 300 }, (_, index) => recorder.record(scored, `rule-${index}`, ok));
    expect(storage.calls).toEqual({ spans: 0, scores: 0 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(storage.calls).toEqual({ spans: 1, scores: 1 });
    expect(storage.scores[0]!.map((row) => row.Rule)).toEqual(records.map((record) => record.score.Rule));
    expect(storage.spans[0]!.map((row) => row.SpanId)).toEqual(storage.scores[0]!.map((row) => row.ScoringSpanId));
  });

  it('past maxBatchRows it inserts without waiting for the interval', async () => {
    const storage = new RecordingStorage();
    const recorder = new ScoreRecorder({
      storage,
      metrics: new DaemonMetrics({ processMetrics: false }),
      logger: silentLogger(),
      flushIntervalMs: 60_000,
      maxBatchRows: 10,
    });
    for (let index = 0; index < 10; index++) recorder.record(scored, 'r', ok);
    await new Promise((resolve) => setImmediate(resolve));
    expect(storage.scores.map((rows) => rows.length)).toEqual([10]);
    recorder.record(scored, 'r', ok);
    await recorder.flush();
    expect(storage.scores.map((rows) => rows.length)).toEqual([10, 1]);
  });

  it('retries a failed table with backoff and does not re-send the table that took the rows', async () => {
    const storage = new RecordingStorage({ spans: 0, scores: 2 });
    const metrics = new DaemonMetrics({ processMetrics: false });
    const recorder = new ScoreRecorder({ storage, metrics, logger: silentLogger(), initialBackoffMs: 20, flushIntervalMs: 1 });
    recorder.record(scored, 'r', ok);
    recorder.record(scored, 'r', failed);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await recorder.flush();
    expect(storage.calls).toEqual({ spans: 1, scores: 3 });
    expect(storage.scores).toHaveLength(1);
    expect(storage.scores[0]!.map((row) => row.Scorer)).toEqual(['exact', 'throws']);
    expect(await writeFailures(metrics)).toBe(0);
  });

  it('after the last attempt, counts the lost scores and logs their ids', async () => {
    const storage = new RecordingStorage({ spans: 0, scores: 1_000 });
    const metrics = new DaemonMetrics({ processMetrics: false });
    const { logger, entries } = capturingLogger();
    const recorder = new ScoreRecorder({ storage, metrics, logger, maxAttempts: 3, initialBackoffMs: 5, flushIntervalMs: 1 });
    const lost = [recorder.record(scored, 'r1', ok), recorder.record(scored, 'r2', failed)];
    await new Promise((resolve) => setTimeout(resolve, 10));
    await recorder.flush();
    expect(storage.calls.scores).toBe(3);
    expect(await writeFailures(metrics)).toBe(2);
    const report = entries.find((entry) => Array.isArray(entry.lost));
    expect(report?.msg).toMatch(/2 score\(s\) not written: insert into scores failed after retries/);
    expect(report?.lost).toEqual(
      lost.map(({ score }) => ({
        traceId: score.TraceId,
        spanId: score.SpanId,
        scoringSpanId: score.ScoringSpanId,
        rule: score.Rule,
        scorer: score.Scorer,
      })),
    );
  });

  it('shutdown cuts a long backoff short at its deadline and counts what was not written', async () => {
    const storage = new RecordingStorage({ spans: 1_000, scores: 1_000 });
    const metrics = new DaemonMetrics({ processMetrics: false });
    const recorder = new ScoreRecorder({ storage, metrics, logger: silentLogger(), initialBackoffMs: 60_000, flushIntervalMs: 1 });
    for (let index = 0; index < 5; index++) recorder.record(scored, 'r', ok);
    await new Promise((resolve) => setTimeout(resolve, 20)); // the first attempt failed; a 60 s backoff started
    const started = Date.now();
    await recorder.shutdown(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await writeFailures(metrics)).toBe(5);
    // After shutdown a late score is not queued: it is counted as lost.
    recorder.record(scored, 'r', ok);
    expect(recorder.pendingRows).toBe(0);
    expect(await writeFailures(metrics)).toBe(6);
  });

  it('holds at most maxPendingRows while ClickHouse is away; beyond that scores are lost and counted', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const storage = {
      insertSpans: () => blocked,
      insertScores: () => blocked,
    };
    const metrics = new DaemonMetrics({ processMetrics: false });
    const recorder = new ScoreRecorder({ storage, metrics, logger: silentLogger(), maxPendingRows: 5, maxBatchRows: 1 });
    recorder.record(scored, 'r', ok); // goes out at once and blocks
    for (let index = 0; index < 8; index++) recorder.record(scored, 'r', ok);
    expect(recorder.pendingRows).toBe(5);
    expect(await writeFailures(metrics)).toBe(3);
    release();
    await recorder.flush();
    expect(recorder.pendingRows).toBe(0);
  });
});
