import { SpanReader } from '../../storage/span-reader.js';
import { readCandidateSpans } from '../on-demand/backfill-sql.js';
import type { ScoringTask } from '../scoring-queue.js';
import { extractScorerArgs } from '../span-fields.js';
import { findMissingScores, scoredNow, type MissingScores } from './missing-scores-sql.js';
import type { RecoverableRule, ScoringRecoveryOptions } from './recovery-types.js';

/** Sweeps postponed because ClickHouse did not answer are retried after this, doubling. */
const RETRY_MS = 5_000;
const RETRY_MAX_MS = 60_000;
/** A sweep after lost scores waits at least this, so a burst of losses makes one sweep. */
const LOSS_DELAY_MS = 1_000;
/** Spans read back per query while feeding. */
const READ_CHUNK = 256;
/**
 * Recovery adds tasks only while its scorer's queue holds fewer than this (and less than half
 * its capacity): recovered tasks then never make the live ones shed, and a live task never
 * waits behind more than a few batches of them.
 */
const QUEUE_LOW_WATER = 128;
const ROOM_POLL_MS = 10;
/** A sweep feeds for at most max(interval, this); the rest is found again by the next one. */
const MIN_FEED_MS = 60_000;
/** Finished tasks noted while one chunk is queued, at most; past it the queues are too busy for recovery. */
const MAX_FINISHED_NOTED = 100_000;
const DEFAULT_INITIAL_DELAY_MS = 10_000;

interface RuleStats {
  spans: number;
  scores: number;
}

/**
 * Scores, from storage, what the live pipeline did not: selected spans of the last `windowMs`
 * (older than `minAgeMs`, so the live pipeline had its chance) that have no `scores` row of a
 * rule's scorer, queued through the processor's own queues for the missing scorers only.
 *
 * There is no local write-ahead log of "spans to score", by design: a span is acknowledged
 * only once ClickHouse holds it, so every span that ever could be scored is already in
 * otel_traces, and "selected but unscored" is a query over otel_traces and scores. A crash,
 * a queue that shed, an outage that outlasted the ScoreRecorder's retries or buffer, or a
 * shutdown deadline all leave the same trace there, and one mechanism recovers them all.
 * The limits that come with it: only the last `windowMs` is looked at (a longer downtime
 * leaves older spans unscored), and a score that is on its way elsewhere (another replica,
 * or the processor a config reload replaced) when a sweep looks is scored again. That second
 * score is harmless: `scores` is a ReplacingMergeTree keyed (Rule, Scorer, TraceId, SpanId),
 * so merges keep one row; but it costs a scorer call (an LLM's), so it is kept rare.
 * `minAgeMs` leaves the live pipeline's work alone in the normal case; it cannot after an
 * outage, when exporters deliver a backlog of spans whose start times are already older than
 * that. So this processor's own tasks in flight (queued, running, or done but not yet
 * written) are known here (`taskQueued` / `taskDone`) and never queued again: each chunk is
 * checked against them and against `scores` just before it is queued.
 *
 * A sweep runs at start (after `initialDelayMs`), then `intervalMs` after the previous one
 * ended, and soon after the recorder gives scores up (`scoresLost`); sweeps never overlap (a
 * sweep lasts until the tasks it queued have been scored), and none runs while ClickHouse
 * does not answer or score inserts are being retried.
 *
 * Spans of every replica are looked at, not only this one's: a replica's instance id may not
 * survive its restart (a new pod name), and then nobody would recover its spans. Replicas
 * sweeping the same window at the same moment may score a span twice, which folds as above.
 */
export class ScoringRecovery {
  readonly #options: ScoringRecoveryOptions;
  readonly #reader: SpanReader;
  readonly #outstanding = new Set<ScoringTask>();
  /** Every task of this processor in the queues or scorers (live and recovered), by taskKey. */
  readonly #inFlight = new Map<string, number>();
  /** The tasks counted in #inFlight: one shed as it is offered never was. */
  readonly #counted = new WeakSet<ScoringTask>();
  /** While a chunk is checked and queued: keys of tasks finished meanwhile (scored, maybe unwritten). */
  #finishedMeanwhile: Set<string> | undefined;
  #idleWaiters: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  /** A sweep started at or after this covers every score lost so far. */
  #wantedAt: number | undefined;
  #retryMs = RETRY_MS;
  #sweeping = false;
  #started = false;
  #stopped = false;
  /** Rotates which rule goes first, so one with a big backlog cannot starve the others. */
  #firstRule = 0;

  constructor(options: ScoringRecoveryOptions) {
    this.#options = options;
    this.#reader = new SpanReader(options.storage);
  }

  /** Tasks queued by recovery and not yet scored or shed. */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    const delay = this.#options.initialDelayMs ?? Math.min(DEFAULT_INITIAL_DELAY_MS, this.#options.intervalMs);
    this.#schedule(Date.now() + delay);
  }

  /** No sweep from now on; one under way stops feeding. Queued tasks are the processor's to drain. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wakeIdleWaiters();
  }

  /**
   * The recorder gave up on scores of spans that started at these times (ns since epoch). The
   * next sweep must run once the latest of them is older than `minAgeMs`, or it would not look
   * at it; a span dated in the future (a fast client clock) is left to a later sweep.
   */
  scoresLost(spanStartsNs: readonly string[]): void {
    if (this.#stopped || spanStartsNs.length === 0) return;
    const now = Date.now();
    let latestMs = 0;
    for (const ns of spanStartsNs) latestMs = Math.max(latestMs, Number(ns.slice(0, -6)) || 0);
    const { minAgeMs } = this.#options;
    const due = Math.min(now + minAgeMs + LOSS_DELAY_MS, Math.max(now + LOSS_DELAY_MS, latestMs + minAgeMs + LOSS_DELAY_MS));
    this.#wantedAt = Math.max(this.#wantedAt ?? 0, due);
    if (this.#started && !this.#sweeping) this.#schedule(this.#wantedAt);
  }

  /** A task (live or recovered) entered a queue. Called for every task: O(1). */
  taskQueued(task: ScoringTask): void {
    const key = taskKey(task.span.TraceId, task.span.SpanId, task.scorer, task.rule);
    this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1);
    this.#counted.add(task);
  }

  /** A task left the queues (scored or shed); true when recovery had queued it. */
  taskDone(task: ScoringTask): boolean {
    if (this.#counted.delete(task)) {
      const key = taskKey(task.span.TraceId, task.span.SpanId, task.scorer, task.rule);
      const count = this.#inFlight.get(key) ?? 0;
      if (count <= 1) this.#inFlight.delete(key);
      else this.#inFlight.set(key, count - 1);
      this.#finishedMeanwhile?.add(key);
    }
    if (this.#outstanding.size === 0 || !this.#outstanding.delete(task)) return false;
    if (this.#outstanding.size === 0) this.#wakeIdleWaiters();
    return true;
  }

  /** Runs one sweep now (unless one is under way) and resolves when it has ended. */
  async sweepNow(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    await this.#sweep();
  }

  #schedule(at: number): void {
    if (this.#stopped || (this.#timer !== undefined && this.#timerAt <= at)) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      void this.#sweep();
    }, Math.max(0, at - Date.now()));
    this.#timer.unref();
  }

  async #sweep(): Promise<void> {
    if (this.#sweeping || this.#stopped) return;
    this.#sweeping = true;
    let next: number;
    try {
      const swept = await this.#run();
      if (swept) {
        this.#retryMs = RETRY_MS;
        next = Math.min(Date.now() + this.#options.intervalMs, this.#wantedAt ?? Number.POSITIVE_INFINITY);
      } else {
        next = this.#retryLater();
      }
    } catch (error) {
      next = this.#retryLater();
      // Storage closes after scoring at shutdown: a query cut short then is no news.
      if (!this.#stopped) this.#options.logger.warn({ err: error, retryInMs: next - Date.now() }, 'scoring recovery sweep failed; trying again');
    } finally {
      this.#sweeping = false;
    }
    this.#schedule(next);
  }

  #retryLater(): number {
    const next = Date.now() + Math.min(this.#retryMs, this.#options.intervalMs);
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
    return next;
  }

  /** One sweep; false when it could not look (ClickHouse down, score writes failing). */
  async #run(): Promise<boolean> {
    const { host, storage, logger } = this.#options;
    // Scores the recorder is retrying would look missing; it writes or reports them soon.
    if (host.writesBacklogged()) return false;
    if (storage.ping !== undefined && !(await storage.ping.call(storage))) {
      logger.debug('ClickHouse does not answer; scoring recovery postponed');
      return false;
    }
    // Scored before this sweep is in ClickHouse before it looks, not counted as missing.
    await host.settleWrites();
    const startedAt = Date.now();
    const stats = new Map<string, RuleStats>();
    const rules = this.#options.rules;
    const order = rules.map((_, index) => rules[(index + this.#firstRule) % rules.length]!);
    this.#firstRule = (this.#firstRule + 1) % Math.max(1, rules.length);
    let budget = this.#options.maxSpans;
    for (const [index, rule] of order.entries()) {
      if (this.#stopped || budget <= 0) break;
      const scorers = rule.scorers.filter((scorer) => host.scorerAvailable(scorer) && host.queueFor(scorer) !== undefined);
      if (scorers.length === 0) continue;
      // An even share of what is left; what a rule does not use goes to the ones after it.
      const limit = Math.ceil(budget / (order.length - index));
      const found = await findMissingScores(storage, {
        rule: rule.spec,
        scorers,
        conventions: this.#options.conventions,
        fromNs: msToNs(startedAt - this.#options.windowMs),
        toNs: msToNs(startedAt - this.#options.minAgeMs),
        limit,
      });
      budget -= found.length;
      if (found.length > 0) await this.#feed(rule, found, stats, startedAt + Math.max(this.#options.intervalMs, MIN_FEED_MS));
    }
    if (this.#wantedAt !== undefined && this.#wantedAt <= startedAt) this.#wantedAt = undefined;
    if (stats.size === 0) {
      logger.debug({ durationMs: Date.now() - startedAt }, 'scoring recovery: nothing to recover');
      return true;
    }
    await this.#whenIdle();
    const scores = [...stats.values()].reduce((sum, rule) => sum + rule.scores, 0);
    const spans = [...stats.values()].reduce((sum, rule) => sum + rule.spans, 0);
    logger.info({ rules: Object.fromEntries(stats), spans, scores, durationMs: Date.now() - startedAt, capped: budget <= 0 }, `scoring recovery: scored ${scores} missing score(s) of ${spans} span(s)`);
    return true;
  }

  async #feed(rule: RecoverableRule, found: MissingScores[], stats: Map<string, RuleStats>, deadline: number): Promise<void> {
    const { host, logger, storage } = this.#options;
    const name = rule.spec.name;
    let disagreed = 0;
    try {
      for (let offset = 0; offset < found.length; offset += READ_CHUNK) {
        const chunk = found.slice(offset, offset + READ_CHUNK);
        // From here every task that finishes is noted, so a score recorded after the
        // settle below but not yet written is not taken for a missing one.
        const finished = new Set<string>();
        this.#finishedMeanwhile = finished;
        const spans = await readCandidateSpans(this.#reader, chunk.map((candidate) => ({ ...candidate, scored: false })));
        await host.settleWrites();
        const scored = await scoredNow(storage, name, rule.scorers, chunk);
        const missing = new Map(chunk.map((candidate) => [`${candidate.traceId}/${candidate.spanId}`, candidate.missing]));
        for (const span of spans) {
          if (this.#stopped) return;
          // rule-sql means what the live selection means; should they ever differ, the live one decides.
          if (!rule.selects(span)) {
            disagreed++;
            continue;
          }
          const scorers = (missing.get(`${span.TraceId}/${span.SpanId}`) ?? []).filter((scorer) => !scored.has(`${span.TraceId}/${span.SpanId}/${scorer}`));
          if (scorers.length === 0) continue;
          let args;
          try {
            args = extractScorerArgs(span, this.#options.conventions);
          } catch (error) {
            logger.warn({ err: error, traceId: span.TraceId, spanId: span.SpanId }, 'could not read scorer arguments from span');
            continue;
          }
          let queued = 0;
          for (const scorer of scorers) {
            if (!(await this.#room(scorer, deadline)) || finished.size > MAX_FINISHED_NOTED) {
              logger.info({ rule: name }, 'scoring recovery: queues stayed busy; the rest waits for the next sweep');
              return;
            }
            const key = taskKey(span.TraceId, span.SpanId, scorer, name);
            if (this.#inFlight.has(key) || finished.has(key)) continue;
            const task: ScoringTask = { span, rule: name, scorer, args };
            // Before offering: a refused task is reported (taskDone) from within `offer`.
            this.#outstanding.add(task);
            if (!host.offer(task)) {
              this.taskDone(task);
              continue;
            }
            queued++;
            this.#options.recovered?.inc({ rule: name });
          }
          if (queued === 0) continue;
          const ruleStats = stats.get(name) ?? { spans: 0, scores: 0 };
          ruleStats.spans++;
          ruleStats.scores += queued;
          stats.set(name, ruleStats);
        }
      }
    } finally {
      this.#finishedMeanwhile = undefined;
      if (disagreed > 0) logger.warn({ rule: name, spans: disagreed }, 'scoring recovery: spans the SQL selection took but the live one does not; not scored');
    }
  }

  /** Waits until the scorer's queue has room for recovery; false when stopped or past the deadline. */
  async #room(scorer: string, deadline: number): Promise<boolean> {
    const queue = this.#options.host.queueFor(scorer);
    if (queue === undefined) return false;
    const limit = Math.min(QUEUE_LOW_WATER, queue.capacity / 2);
    while (queue.depth >= limit) {
      if (this.#stopped || Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, ROOM_POLL_MS));
    }
    return !this.#stopped;
  }

  #whenIdle(): Promise<void> {
    if (this.#outstanding.size === 0 || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #wakeIdleWaiters(): void {
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }
}

function taskKey(traceId: string, spanId: string, scorer: string, rule: string): string {
  return `${traceId}/${spanId}/${scorer}/${rule}`;
}

function msToNs(ms: number): string {
  return (BigInt(Math.floor(ms)) * 1_000_000n).toString();
}
