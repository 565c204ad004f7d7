import { randomBytes } from 'node:crypto';
import type { DaemonMetrics } from '../../admin/daemon-metrics.js';
import type { Logger } from '../../admin/logger.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import { SCORING_SCOPE, type SpanReader } from '../../storage/span-reader.js';
import type { TraceStorage } from '../../storage/trace-storage.js';
import type { FieldConventions } from '../field-conventions.js';
import type { RuleSpec, ScorerSpec } from '../rule-spec.js';
import { BackfillJob } from './backfill-job.js';
import { countCandidates, estimateCost, recentMeanCosts } from './backfill-sql.js';
import { refusingTooComplex } from './filter-complexity.js';
import type { BackfillEstimate, BackfillJobStatus, BackfillRequest, ScoredResult, TestRuleResult } from './on-demand-types.js';
import { allOf, ruleSelectionSql, samplingSql, sinceHoursSql, timeRangeSql } from './rule-sql.js';
import { meanCostPerSpan, toScoredResult } from './scored-result.js';
import { storeOutcomes } from './score-writes.js';
import { resolveScorerSpecs, ScoringSession, type SpanScores } from './scoring-session.js';
import { WorkerPoolHolder } from './worker-pool-holder.js';

export type { BackfillEstimate, BackfillJobStatus, BackfillRequest, ScoredResult, TestRuleResult } from './on-demand-types.js';

export interface OnDemandScoringOptions {
  storage: TraceStorage;
  reader: SpanReader;
  /** Read at each call: a config reload may change them. */
  conventions: () => FieldConventions;
  metrics: DaemonMetrics;
  logger: Logger;
  /** The largest `limit` a backfill may ask for; read at each start. */
  maxBackfillSpans: () => number;
  /** Threads of the on-demand scorer pool (started on first use). Default 1. */
  workers?: number;
}

/** Finished jobs kept for `job(id)`; running ones are always kept. */
const FINISHED_JOBS_KEPT = 100;
const NS_TEXT = /^[0-9]{1,19}$/;
const INT64_MAX = (1n << 63n) - 1n;

/**
 * Scoring outside the live pipeline, for the admin API: try a rule on stored traffic without
 * storing anything, score hand-picked spans, and backfill a rule over stored spans in the
 * background. The selection runs in ClickHouse (the rule compiled to SQL) rather than by
 * streaming spans through the JS filter, so a test over a day of traffic reads only counts.
 *
 * It shares nothing with the live ScoringProcessor: its own scorer pool (one thread by
 * default, so a backfill cannot starve live scoring of CPU) and its own LLM runners, whose
 * spend still counts against a scorer's daily budget through the `scores` table.
 */
export class OnDemandScoring {
  readonly #options: OnDemandScoringOptions;
  readonly #pools: WorkerPoolHolder;
  readonly #jobs = new Map<string, BackfillJob>();
  readonly #runningJobs = new Set<Promise<void>>();
  readonly #sessions = new Set<ScoringSession>();
  #closed = false;

  constructor(options: OnDemandScoringOptions) {
    this.#options = options;
    this.#pools = new WorkerPoolHolder({ workers: Math.max(1, Math.floor(options.workers ?? 1)), logger: options.logger });
  }

  /**
   * Runs the rule's project + apply_to + filter over stored spans of the last `hours` in ClickHouse (compiled filter): how many
   * match, how many the rule's sampling would keep; runs its scorers on the `sample` most recent matches WITHOUT storing
   * anything (no scores row, no scoring span). Cost per day: matched/hours*24 * sampling * mean cost per scored span in the
   * sample (null when no scorer reports a cost). Trace-scope rules: apply_to/filter select root spans as for span rules.
   *
   * @throws RangeError for hours not > 0 or sample not a non-negative integer, or a filter too complex for ClickHouse;
   * FilterTypeError for a filter SQL cannot express.
   */
  async testRule(input: { rule: RuleSpec; scorers: Map<string, ScorerSpec>; hours: number; sample: number }): Promise<TestRuleResult> {
    const { rule, scorers, hours, sample } = input;
    if (!Number.isFinite(hours) || hours <= 0) throw new RangeError(`hours must be a positive number, got ${hours}`);
    if (!Number.isSafeInteger(sample) || sample < 0) throw new RangeError(`sample must be a non-negative integer, got ${sample}`);
    this.#assertOpen();
    const selection = ruleSelectionSql(rule, this.#options.conventions());
    const sampling = samplingSql(rule.samplingRate);
    const where = allOf(selection, sinceHoursSql(hours));
    const [counts] = await refusingTooComplex(() =>
      this.#options.storage.query<{ matched: string; sampled: string }>(
        `SELECT count() AS matched, countIf(${sampling.sql}) AS sampled FROM otel_traces WHERE ScopeName != {scoring_scope:String} AND ${where.sql}`,
        { ...where.params, ...sampling.params, scoring_scope: SCORING_SCOPE },
        { readonly: true },
      ),
    );
    const matched = Number(counts?.matched ?? 0);
    const sampled = Number(counts?.sampled ?? 0);
    // Every match, sampled or not: the test shows what the scorers make of this traffic.
    const spans = sample === 0 ? [] : await refusingTooComplex(() => this.#options.reader.matching({ where: selection.sql, params: selection.params, sinceHours: hours, limit: sample }));
    const scoredSpans = await this.#score(rule, scorers, spans);
    this.#assertOpen();
    // The rate rather than sampled/hours: the expectation, not one draw of it.
    const spansPerDay = (matched / hours) * 24 * rule.samplingRate;
    const meanCost = meanCostPerSpan(scoredSpans);
    return {
      rule: rule.name,
      hours,
      matched,
      sampled,
      scored: scoredSpans.flatMap((result) => resultsOf(rule.name, result)),
      spansPerDay,
      estimatedCostPerDayUsd: meanCost === null ? null : spansPerDay * meanCost,
    };
  }

  /**
   * Scores exactly these spans with the rule's scorers and stores the results with Source = 'manual' (scores row + scoring
   * span); resolves once stored. Ignores apply_to/filter/sampling (the user chose the spans). Scorers that did not run
   * (paused, over budget) appear with an error and are not stored.
   */
  async scoreSpans(input: { spans: SpanRow[]; rule: RuleSpec; scorers: Map<string, ScorerSpec>; source: 'manual' }): Promise<ScoredResult[]> {
    this.#assertOpen();
    const { rule } = input;
    const scoredSpans = await this.#score(rule, input.scorers, input.spans);
    this.#assertOpen();
    await storeOutcomes(this.#options.storage, scoredSpans, rule.name, input.source);
    for (const result of scoredSpans) {
      for (const outcome of result.outcomes) this.#options.metrics.scores.inc({ scorer: outcome.scorer, outcome: outcome.error === '' ? 'ok' : 'error' });
    }
    return scoredSpans.flatMap((result) => resultsOf(rule.name, result));
  }

  /**
   * How many spans a backfill would touch: the `limit` most recent spans matching project + apply_to + filter + extraFilter
   * in [fromNs, toNs), minus those that already have scores of this rule (FINAL) unless force; estimated cost from the mean
   * `cost_usd` in Details of each of the rule's scorers over their recent scores (last 7 days; null if none has any).
   * Does not check `limit` against maxBackfillSpans (startBackfill does).
   */
  async estimateBackfill(req: BackfillRequest): Promise<BackfillEstimate> {
    validateRequest(req);
    this.#assertOpen();
    const { selection, range } = this.#selectionOf(req);
    const specs = resolveScorerSpecs(req.rule, req.scorers);
    const [counts, means] = await Promise.all([
      countCandidates(this.#options.storage, selection, range, req.rule.name, req.limit),
      recentMeanCosts(this.#options.storage, specs.map((spec) => spec.name)),
    ]);
    const toScore = req.force ? counts.spans : counts.spans - counts.alreadyScored;
    return { ...counts, toScore, estimatedCostUsd: estimateCost(toScore, means) };
  }

  /**
   * Starts a background job scoring those spans (most recent first) with Source = 'backfill', in batches, skipping
   * already-scored spans of the rule unless force. Sampling does not apply: the user asked for these spans.
   *
   * @throws RangeError when req.limit > maxBackfillSpans(), limit / fromNs / toNs are malformed, or the rule has no scorers; FilterTypeError for a
   * filter SQL cannot express; Error after close().
   */
  startBackfill(req: BackfillRequest): BackfillJobStatus {
    validateRequest(req);
    const max = this.#options.maxBackfillSpans();
    if (req.limit > max) throw new RangeError(`a backfill may score at most ${max} spans, ${req.limit} asked`);
    if (req.rule.scorers.length === 0) throw new RangeError(`rule "${req.rule.name}" has no scorers: nothing to backfill`);
    this.#assertOpen();
    const { selection, range } = this.#selectionOf(req);
    const specs = resolveScorerSpecs(req.rule, req.scorers);
    const job = new BackfillJob({
      id: this.#newJobId(),
      request: req,
      selection,
      range,
      specs,
      openSession: () => this.#openSession(specs),
      storage: this.#options.storage,
      reader: this.#options.reader,
      metrics: this.#options.metrics,
      logger: this.#options.logger,
    });
    this.#jobs.set(job.id, job);
    this.#forgetOldJobs();
    const running = job.run().finally(() => this.#runningJobs.delete(running));
    this.#runningJobs.add(running);
    return job.status;
  }

  job(id: string): BackfillJobStatus | undefined {
    return this.#jobs.get(id)?.status;
  }

  /** Stops running jobs (state failed, error 'shutting down') and worker threads. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const job of this.#jobs.values()) job.stop('shutting down');
    for (const session of this.#sessions) session.close();
    await this.#pools.close();
    await Promise.allSettled([...this.#runningJobs]);
  }

  async #score(rule: RuleSpec, scorers: Map<string, ScorerSpec>, spans: SpanRow[]): Promise<SpanScores[]> {
    if (spans.length === 0) return [];
    const session = await this.#openSession(resolveScorerSpecs(rule, scorers));
    this.#sessions.add(session);
    try {
      return await session.score(spans);
    } finally {
      session.close();
      this.#sessions.delete(session);
    }
  }

  #openSession(specs: ScorerSpec[]): Promise<ScoringSession> {
    this.#assertOpen();
    const { storage, metrics, logger } = this.#options;
    return ScoringSession.open({ specs, conventions: this.#options.conventions(), pools: this.#pools, storage, metrics, logger });
  }

  #selectionOf(req: BackfillRequest) {
    return {
      selection: ruleSelectionSql(req.rule, this.#options.conventions(), req.extraFilter),
      range: timeRangeSql(req.fromNs, req.toNs),
    };
  }

  #newJobId(): string {
    let id: string;
    do id = randomBytes(6).toString('hex');
    while (this.#jobs.has(id));
    return id;
  }

  #forgetOldJobs(): void {
    let finished = 0;
    for (const job of this.#jobs.values()) if (!job.running) finished++;
    // Map order is insertion order: the oldest finished jobs go first.
    for (const [id, job] of this.#jobs) {
      if (finished <= FINISHED_JOBS_KEPT) break;
      if (job.running) continue;
      this.#jobs.delete(id);
      finished--;
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('on-demand scoring is shut down');
  }
}

function resultsOf(rule: string, result: SpanScores): ScoredResult[] {
  return [...result.outcomes, ...result.notRun].map((outcome) => toScoredResult(result.span, rule, outcome));
}

function validateRequest(req: BackfillRequest): void {
  if (!Number.isSafeInteger(req.limit) || req.limit < 1) throw new RangeError(`limit must be a positive integer, got ${req.limit}`);
  for (const [name, value] of [
    ['fromNs', req.fromNs],
    ['toNs', req.toNs],
  ] as const) {
    if (value !== undefined && !(NS_TEXT.test(value) && BigInt(value) <= INT64_MAX)) throw new RangeError(`${name} must be ns since epoch as a decimal string, got ${JSON.stringify(value)}`);
  }
}
