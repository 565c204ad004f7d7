import type { DaemonMetrics } from '../../admin/daemon-metrics.js';
import type { Logger } from '../../admin/logger.js';
import type { SpanReader } from '../../storage/span-reader.js';
import type { TraceStorage } from '../../storage/trace-storage.js';
import type { ScorerSpec } from '../rule-spec.js';
import { alreadyScored, candidateKey, type BackfillCandidate, estimateCost, readCandidateSpans, recentMeanCosts, selectCandidates } from './backfill-sql.js';
import type { BackfillJobStatus, BackfillRequest } from './on-demand-types.js';
import type { SqlCondition } from './rule-sql.js';
import { storeOutcomes } from './score-writes.js';
import type { ScoringSession } from './scoring-session.js';

export interface BackfillJobOptions {
  id: string;
  request: BackfillRequest;
  /** The rule's selection AND the request's extra filter. */
  selection: SqlCondition;
  range: SqlCondition;
  specs: ScorerSpec[];
  openSession: () => Promise<ScoringSession>;
  storage: TraceStorage;
  reader: SpanReader;
  metrics: Pick<DaemonMetrics, 'scores'>;
  logger: Logger;
}

/**
 * Spans per round (check, read, score, store). Small enough that progress moves visibly and
 * a stop loses little, large enough that the per-round queries do not dominate.
 */
const BATCH_SPANS = 25;

/**
 * One backfill: scores a rule's stored spans, most recent first, with Source = 'backfill'.
 *
 * The span list is fixed when the job starts (the `limit` most recent matches), but whether a
 * span is already scored is checked again for each batch, just before scoring it: the live
 * pipeline or another job may have scored it meanwhile, and scoring it twice would cost twice.
 * Sampling does not apply: the user asked for exactly these spans.
 */
export class BackfillJob {
  readonly id: string;
  readonly #options: BackfillJobOptions;
  readonly #status: BackfillJobStatus;
  #stopped = false;
  #session: ScoringSession | undefined;

  constructor(options: BackfillJobOptions) {
    this.id = options.id;
    this.#options = options;
    this.#status = {
      id: options.id,
      rule: options.request.rule.name,
      state: 'running',
      total: 0,
      done: 0,
      skipped: 0,
      scored: 0,
      errored: 0,
      startedAt: new Date().toISOString(),
      estimatedCostUsd: null,
    };
  }

  /** A copy: callers serialize it while the job goes on. */
  get status(): BackfillJobStatus {
    return { ...this.#status };
  }

  get running(): boolean {
    return this.#status.state === 'running';
  }

  /** Runs the job to its end. Never rejects: a failure ends up in the status. */
  async run(): Promise<void> {
    const { request, storage, logger } = this.#options;
    const rule = request.rule.name;
    try {
      const [candidates, means] = await Promise.all([
        selectCandidates(storage, this.#options.selection, this.#options.range, rule, request.limit),
        recentMeanCosts(storage, this.#options.specs.map((spec) => spec.name)),
      ]);
      if (this.#stopped) return;
      this.#status.total = candidates.length;
      this.#status.estimatedCostUsd = estimateCost(request.force ? candidates.length : candidates.filter((c) => !c.scored).length, means);
      logger.info({ job: this.id, rule, spans: candidates.length, force: request.force }, 'backfill started');
      if (candidates.length > 0) this.#session = await this.#options.openSession();
      for (let start = 0; start < candidates.length && !this.#stopped; start += BATCH_SPANS) {
        await this.#runBatch(candidates.slice(start, start + BATCH_SPANS));
      }
      if (this.#stopped) return;
      this.#finish('done');
      logger.info({ job: this.id, ...this.status }, 'backfill done');
    } catch (error) {
      if (this.#stopped) return;
      this.#finish('failed', error instanceof Error ? error.message : String(error));
      logger.error({ err: error, job: this.id, rule }, 'backfill failed');
    } finally {
      this.#session?.close();
    }
  }

  /** Ends a running job now as failed with `reason`; what it stored stays. */
  stop(reason: string): void {
    if (!this.running) return;
    this.#stopped = true;
    this.#finish('failed', reason);
    // Aborts LLM calls in flight; their error outcomes are dropped, not stored.
    this.#session?.close();
  }

  async #runBatch(batch: BackfillCandidate[]): Promise<void> {
    const { request, storage, reader, metrics } = this.#options;
    const rule = request.rule.name;
    let todo = batch;
    if (!request.force) {
      const scored = await alreadyScored(storage, rule, batch);
      todo = batch.filter((candidate) => !scored.has(candidateKey(candidate)));
    }
    const spans = await readCandidateSpans(reader, todo);
    if (this.#stopped) return;
    // Spans gone from otel_traces since the selection (TTL) have nothing left to score.
    this.#status.skipped += batch.length - spans.length;
    this.#status.done += batch.length - spans.length;
    if (spans.length === 0) return;
    const results = await this.#session!.score(spans);
    if (this.#stopped) return;
    await storeOutcomes(storage, results, rule, 'backfill');
    for (const result of results) {
      for (const outcome of result.outcomes) metrics.scores.inc({ scorer: outcome.scorer, outcome: outcome.error === '' ? 'ok' : 'error' });
      const failed = result.notRun.length > 0 || result.outcomes.some((outcome) => outcome.error !== '');
      if (failed) this.#status.errored++;
      else this.#status.scored++;
      this.#status.done++;
    }
  }

  #finish(state: 'done' | 'failed', error?: string): void {
    this.#status.state = state;
    this.#status.finishedAt = new Date().toISOString();
    if (error !== undefined) this.#status.error = error;
  }
}
