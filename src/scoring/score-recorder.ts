import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import { packageVersion } from '../admin/package-version.js';
import { PROJECT_ATTRIBUTE, resolveProject } from '../pipeline/project.js';
import type { SpanRow } from '../pipeline/span-row.js';
import type { ScoreRow, ScoreSource } from '../storage/score-row.js';
import type { TraceStorage } from '../storage/trace-storage.js';
import type { ScoreOutcome } from './scorer-args.js';
import { SCORING_SCOPE } from '../storage/span-reader.js';
import { epochNanos } from './epoch-clock.js';
import { newSpanId } from './span-id-source.js';

/** A score as stored: its `scores` row and its scoring span in `otel_traces`. */
export interface ScoreRecord {
  score: ScoreRow;
  span: SpanRow;
}

export interface ScoreRecorderOptions {
  storage: Pick<TraceStorage, 'insertSpans' | 'insertScores'>;
  metrics: Pick<DaemonMetrics, 'scoreWriteFailures'>;
  logger: Logger;
  /**
   * How long a score may wait for others before they are inserted together. Default 300 ms:
   * every insert into `scores` is a part ClickHouse must write and merge, and at 100 ms the
   * scores' inserts cost ClickHouse 15% more CPU per ingested span under the benchmark's
   * load, while time-to-score stayed well under a second either way.
   */
  flushIntervalMs?: number;
  /** Pending scores that trigger an insert without waiting. Default 5,000. */
  maxBatchRows?: number;
  /** Tries per insert, first one included. Default 5. */
  maxAttempts?: number;
  /** First retry delay, doubled each time (±20% jitter). Default 2,000 ms: 2+4+8+16 s ≈ 30 s. */
  initialBackoffMs?: number;
  /** Default 16,000 ms. */
  maxBackoffMs?: number;
  /** Scores held while ClickHouse is unreachable; beyond that new ones are lost. Default 100,000. */
  maxPendingRows?: number;
  /**
   * Told of every score given up on (buffer full, retries exhausted, shutdown deadline), so
   * that scoring recovery can look for them in ClickHouse soon. Must not throw.
   */
  onLost?: (records: readonly ScoreRecord[]) => void;
}

/** Names the scoring spans' instrumentation scope, the way an OTel SDK names itself (readers skip it). */
export const SCORING_SCOPE_NAME = SCORING_SCOPE;
export const SCORING_SCOPE_VERSION = packageVersion() ?? '';

/**
 * Builds the two rows of one score. The scoring span is a child of the scored span in the same
 * trace and under the same service, so a trace view of the application shows its scores inline.
 *
 * Status: `Error` (+ message) when the scorer failed, else `Ok`. OTel leaves `Ok` to the
 * application rather than to instrumentation libraries, and here spanscore is the application
 * that made the call and validated its result; it also makes "failed vs succeeded" a plain
 * equality on StatusCode for scoring spans, with no `Unset` ambiguity.
 */
export function toScoreRecord(
  scored: SpanRow,
  rule: string,
  outcome: ScoreOutcome,
  source: ScoreSource,
  scoredAtNs: string = epochNanos(),
  recovered = false,
): ScoreRecord {
  const scoringSpanId = newSpanId();
  const details = JSON.stringify(outcome.metadata ?? {});
  const failed = outcome.error !== '';
  const durationNs = String(Math.max(0, Math.round(outcome.durationNs)));

  // Spans stored by the receivers carry their project; others (tests, spans written by
  // older versions) fall back to the service, as the receivers would have.
  const project = resolveProject(undefined, scored.ResourceAttributes[PROJECT_ATTRIBUTE], scored.ServiceName);
  const resourceAttributes: Record<string, string> = { 'service.name': scored.ServiceName, 'telemetry.sdk.name': SCORING_SCOPE_NAME };
  // Keeps the scoring span in its project for whoever reads otel_traces by project.
  if (scored.ResourceAttributes[PROJECT_ATTRIBUTE] !== undefined) resourceAttributes[PROJECT_ATTRIBUTE] = project;

  const attributes: Record<string, string> = {};
  if (outcome.score !== null) attributes['spanscore.score'] = String(outcome.score);
  attributes['spanscore.scorer'] = outcome.scorer;
  attributes['spanscore.rule'] = rule;
  attributes['spanscore.source'] = source;
  attributes['spanscore.details'] = details;
  if (failed) attributes['spanscore.error'] = outcome.error;
  // Source stays `online` (a recovered score is the online score, only late, and must not
  // drop out of dashboards that filter on it); the scoring span says it came from recovery.
  if (recovered) attributes['spanscore.recovered'] = 'true';

  const span: SpanRow = {
    Timestamp: outcome.startedAt,
    TraceId: scored.TraceId,
    SpanId: scoringSpanId,
    ParentSpanId: scored.SpanId,
    TraceState: '',
    SpanName: `score ${outcome.scorer}`,
    SpanKind: 'Internal',
    ServiceName: scored.ServiceName,
    ResourceAttributes: resourceAttributes,
    ScopeName: SCORING_SCOPE_NAME,
    ScopeVersion: SCORING_SCOPE_VERSION,
    SpanAttributes: attributes,
    Duration: durationNs,
    StatusCode: failed ? 'Error' : 'Ok',
    StatusMessage: failed ? outcome.error : '',
    Events: [],
    Links: [],
  };
  const score: ScoreRow = {
    Timestamp: scored.Timestamp,
    TraceId: scored.TraceId,
    SpanId: scored.SpanId,
    ScoringSpanId: scoringSpanId,
    ServiceName: scored.ServiceName,
    Project: project,
    SpanName: scored.SpanName,
    Rule: rule,
    Scorer: outcome.scorer,
    Score: outcome.score,
    Error: outcome.error,
    Details: details,
    Source: source,
    ScoredAt: scoredAtNs,
    DurationNs: durationNs,
  };
  return { score, span };
}

/**
 * Writes scores to ClickHouse in batches: a `scores` row and a scoring span per score.
 *
 * One insert per table at a time, of everything pending (at least every `flushIntervalMs`,
 * sooner past `maxBatchRows`): while ClickHouse is slow or down, scores pile up here (bounded)
 * and go in one bigger insert instead of a storm of small retried ones. Each table is
 * retried on its own, so a table that took the rows is not sent them twice (otel_traces
 * would keep duplicates). After the last attempt the scores are counted in
 * `scoreWriteFailures` and their ids logged.
 */
export class ScoreRecorder {
  readonly #storage: ScoreRecorderOptions['storage'];
  readonly #metrics: ScoreRecorderOptions['metrics'];
  readonly #logger: Logger;
  readonly #flushIntervalMs: number;
  readonly #maxBatchRows: number;
  readonly #maxAttempts: number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #maxPendingRows: number;
  readonly #onLost: ScoreRecorderOptions['onLost'];
  #pending: ScoreRecord[] = [];
  /** Scores taken into #pending so far, and how many of those have been written or lost. */
  #recordedCount = 0;
  #settledCount = 0;
  /** Inserts that failed at least once and are still being retried. */
  #retryingInserts = 0;
  #writing: Promise<void> | undefined;
  /** The scores of the insert in progress. */
  #writingRecords: ScoreRecord[] = [];
  /** An insert still running at the shutdown deadline: already reported lost, not to be again. */
  #abandoned: ScoreRecord[] | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Past this (epoch ms) retries stop; set by `shutdown`. */
  #deadline = Number.POSITIVE_INFINITY;
  #closed = false;
  readonly #sleepers = new Set<() => void>();
  /** Scores refused because the buffer was full, logged together by the next write. */
  #overflow: ScoreRecord[] = [];

  constructor(options: ScoreRecorderOptions) {
    this.#storage = options.storage;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#flushIntervalMs = options.flushIntervalMs ?? 300;
    this.#maxBatchRows = options.maxBatchRows ?? 5_000;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#initialBackoffMs = options.initialBackoffMs ?? 2_000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 16_000;
    this.#maxPendingRows = options.maxPendingRows ?? 100_000;
    this.#onLost = options.onLost;
  }

  /** Scores waiting for an insert (not counting one in progress). */
  get pendingRows(): number {
    return this.#pending.length;
  }

  /** True while inserts are failing and being retried, or scores were refused for a full buffer. */
  get backlogged(): boolean {
    return this.#retryingInserts > 0 || this.#overflow.length > 0;
  }

  /** Queues the score of `scored` for writing; returns the rows it will write. Never throws. */
  record(scored: SpanRow, rule: string, outcome: ScoreOutcome, source: ScoreSource = 'online', recovered = false): ScoreRecord {
    const record = toScoreRecord(scored, rule, outcome, source, undefined, recovered);
    if (this.#closed) {
      this.#lose([record], 'the score recorder is shut down');
      return record;
    }
    if (this.#pending.length >= this.#maxPendingRows) {
      this.#metrics.scoreWriteFailures.inc();
      this.#overflow.push(record);
      this.#reportLost([record]);
      return record;
    }
    this.#pending.push(record);
    this.#recordedCount++;
    if (this.#writing === undefined) {
      if (this.#pending.length >= this.#maxBatchRows) this.#startWrite();
      else this.#armTimer();
    }
    return record;
  }

  /**
   * Resolves once every score recorded before the call has been written or given up on,
   * without waiting for the flush interval. Unlike `flush` it does not wait for scores
   * recorded meanwhile, so it ends under a steady flow of new ones.
   */
  async settle(): Promise<void> {
    const target = this.#recordedCount;
    while (this.#settledCount < target && !this.#closed) {
      if (this.#writing === undefined) {
        if (this.#pending.length === 0) return;
        this.#startWrite();
      }
      await this.#writing;
    }
  }

  /** Writes everything pending and waits for it (retries included). */
  async flush(): Promise<void> {
    this.#cancelTimer();
    while (this.#writing !== undefined || this.#pending.length > 0) {
      if (this.#writing === undefined) this.#startWrite();
      await this.#writing;
    }
  }

  /**
   * Stops accepting scores and writes what is pending for at most `timeoutMs`; retries stop at
   * that deadline. Scores not written by then are counted as write failures and logged.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.#closed = true;
    this.#cancelTimer();
    this.#deadline = Date.now() + Math.max(0, timeoutMs);
    // A retry sleeping past the deadline must notice it now, not when it wakes.
    for (const wake of this.#sleepers) wake();
    while (this.#writing !== undefined || this.#pending.length > 0) {
      if (this.#writing === undefined) this.#startWrite();
      const remaining = this.#deadline - Date.now();
      if (remaining <= 0) break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#writing, new Promise<void>((resolve) => (timer = setTimeout(resolve, remaining)))]);
      clearTimeout(timer);
    }
    if (this.#writing !== undefined) {
      // A hung insert may still land, but nothing will tell: count them, recovery looks anyway.
      this.#abandoned = this.#writingRecords;
      this.#lose(this.#abandoned, 'shutdown deadline passed while they were being written (they may or may not be stored)');
    }
    if (this.#pending.length > 0) this.#lose(this.#pending.splice(0), 'shutdown deadline passed before they were written');
    this.#settledCount = this.#recordedCount;
    this.#logOverflow();
  }

  #startWrite(): void {
    this.#cancelTimer();
    const records = this.#pending;
    this.#pending = [];
    const upTo = this.#recordedCount;
    this.#writingRecords = records;
    this.#writing = this.#write(records).finally(() => {
      this.#settledCount = upTo;
      this.#writing = undefined;
      if (this.#closed || this.#pending.length === 0) return;
      if (this.#pending.length >= this.#maxBatchRows) this.#startWrite();
      else this.#armTimer();
    });
  }

  async #write(records: ScoreRecord[]): Promise<void> {
    this.#logOverflow();
    const [scores, spans] = await Promise.all([
      this.#insertWithRetry('scores', () => this.#storage.insertScores(records.map((record) => record.score))),
      this.#insertWithRetry('otel_traces', () => this.#storage.insertSpans(records.map((record) => record.span))),
    ]);
    const failed = [scores, spans].filter((result) => !result.ok);
    if (failed.length === 0 || records === this.#abandoned) return;
    this.#lose(
      records,
      `insert into ${failed.map((result) => result.table).join(' and ')} failed after retries`,
      failed[0].error,
    );
  }

  async #insertWithRetry(
    table: string,
    insert: () => Promise<void>,
  ): Promise<{ ok: true; table: string } | { ok: false; table: string; error: unknown }> {
    let backoffMs = this.#initialBackoffMs;
    let retrying = false;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await insert();
          return { ok: true, table };
        } catch (error) {
          const waitMs = backoffMs * (0.8 + 0.4 * Math.random());
          if (attempt >= this.#maxAttempts || Date.now() + waitMs > this.#deadline) return { ok: false, table, error };
          if (!retrying) this.#retryingInserts++;
          retrying = true;
          this.#logger.warn({ err: error, table, attempt, retryInMs: Math.round(waitMs) }, 'score insert failed; retrying');
          await this.#sleep(waitMs);
          if (Date.now() >= this.#deadline) return { ok: false, table, error };
          backoffMs = Math.min(backoffMs * 2, this.#maxBackoffMs);
        }
      }
    } finally {
      if (retrying) this.#retryingInserts--;
    }
  }

  #lose(records: ScoreRecord[], reason: string, error?: unknown): void {
    this.#metrics.scoreWriteFailures.inc(records.length);
    // One entry per lost batch, listing every score's ids, so they can be looked for by hand.
    this.#logger.error({ err: error, lost: records.map(idsOf) }, `${records.length} score(s) not written: ${reason}`);
    this.#reportLost(records);
  }

  #reportLost(records: readonly ScoreRecord[]): void {
    if (this.#onLost === undefined) return;
    try {
      this.#onLost(records);
    } catch (error) {
      this.#logger.error({ err: error }, 'reporting lost scores failed');
    }
  }

  #logOverflow(): void {
    if (this.#overflow.length === 0) return;
    const lost = this.#overflow.splice(0);
    // Already counted when refused.
    this.#logger.error(
      { lost: lost.map(idsOf) },
      `${lost.length} score(s) not written: more than ${this.#maxPendingRows} were waiting for ClickHouse`,
    );
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  #armTimer(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#writing === undefined && this.#pending.length > 0) this.#startWrite();
    }, this.#flushIntervalMs);
    this.#timer.unref();
  }

  #cancelTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function idsOf(record: ScoreRecord) {
  const { TraceId, SpanId, ScoringSpanId, Rule, Scorer } = record.score;
  return { traceId: TraceId, spanId: SpanId, scoringSpanId: ScoringSpanId, rule: Rule, scorer: Scorer };
}
