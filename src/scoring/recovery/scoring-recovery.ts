import type { ScoringTask } from '../scoring-queue.js';
import { countMissingScores, findMissingScores, type MissingScoresQuery } from './missing-scores-sql.js';
import { OversizedSpans } from './oversized-spans.js';
import { RecoveryFeed } from './recovery-feed.js';
import { RecoveryLedger } from './recovery-ledger.js';
import { pagesOf } from './recovery-pages.js';
import { DEFAULT_PAGE_BYTES, type ScoringRecoveryOptions } from './recovery-types.js';

/** Sweeps postponed because ClickHouse did not answer are retried after this, doubling. */
const RETRY_MS = 5_000;
const RETRY_MAX_MS = 60_000;
/** A sweep after lost scores waits at least this, so a burst of losses makes one sweep. */
const LOSS_DELAY_MS = 1_000;
/** Between a sweep that left a backlog behind and the next one: a breath for live traffic. */
const CATCH_UP_DELAY_MS = 100;
/** A sweep feeds for at most max(interval, this); the rest is found again by the next one. */
const MIN_FEED_MS = 60_000;
const DEFAULT_INITIAL_DELAY_MS = 10_000;

interface RuleStats {
  spans: number;
  scores: number;
}

/** What one sweep did, for the schedule: whether it could look, and whether it left work it could do. */
interface SweepOutcome {
  looked: boolean;
  /** It stopped at `maxSpans` or before its last page, having queued something: sweep again now. */
  catchUp: boolean;
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
 * written) are known here (RecoveryLedger) and never queued again: each page is checked
 * against them and against `scores` just before it is queued.
 *
 * The first processor of a process also knows that its own live pipeline held nothing before
 * it started: the spans this instance stored until then (`ownInstanceId`) are recovered at
 * once, by the first sweep, which runs at start; `minAgeMs` still applies to other replicas'.
 *
 * Memory: a sweep reads keys and sizes first, then the spans a page at a time (`pageBytes`),
 * and the next page only once the previous ones' tasks hold at most a page (RecoveryFeed); a
 * span larger than a page is skipped and reported (OversizedSpans).
 *
 * Schedule: a sweep runs at start, then `intervalMs` after the previous one ended, soon after
 * the recorder gives scores up (`scoresLost`), and right away after a sweep that stopped at
 * `maxSpans` or before its last page having queued something: a backlog (after a burst, an
 * outage) is worked off at the pace the queues take it, not `maxSpans` per interval. Sweeps
 * never overlap (a sweep lasts until the tasks it queued have been scored), and none runs
 * while ClickHouse does not answer or score inserts are being retried.
 *
 * Spans of every replica are looked at, not only this one's: a replica's instance id may not
 * survive its restart (a new pod name), and then nobody would recover its spans. Replicas
 * sweeping the same window at the same moment may score a span twice, which folds as above.
 */
export class ScoringRecovery {
  readonly #options: ScoringRecoveryOptions;
  readonly #pageBytes: number;
  readonly #ledger: RecoveryLedger;
  readonly #feed: RecoveryFeed;
  readonly #oversized: OversizedSpans;
  #idleWaiters: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  /** A sweep started at or after this covers every score lost so far. */
  #wantedAt: number | undefined;
  #retryMs = RETRY_MS;
  #sweeping = false;
  #started = false;
  #stopped = false;
  /** Spans of this instance started before this (ns) were stored by an earlier process; set at start. */
  #ownBeforeNs: string | undefined;
  /** Rotates which rule goes first, so one with a big backlog cannot starve the others. */
  #firstRule = 0;
  /** Spans lacking scores the current (or last) sweep found, less those recovered since. */
  #backlog = 0;

  constructor(options: ScoringRecoveryOptions) {
    this.#options = options;
    this.#pageBytes = options.pageBytes ?? DEFAULT_PAGE_BYTES;
    this.#ledger = new RecoveryLedger((span) => {
      if (span.scored) {
        options.recoveredSpans?.inc({ rule: span.rule });
        this.#setBacklog(this.#backlog - 1);
      }
      if (this.#ledger.outstanding === 0) this.#wakeIdleWaiters();
    });
    this.#feed = new RecoveryFeed(options, this.#ledger, () => this.#stopped);
    this.#oversized = new OversizedSpans(options.logger, options.skipped);
  }

  /** Tasks queued by recovery and not yet scored or shed. */
  get outstanding(): number {
    return this.#ledger.outstanding;
  }

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    if (this.#options.ownInstanceId !== undefined) this.#ownBeforeNs = msToNs(Date.now());
    const defaultDelay = this.#options.ownInstanceId !== undefined ? 0 : Math.min(DEFAULT_INITIAL_DELAY_MS, this.#options.intervalMs);
    this.#schedule(Date.now() + (this.#options.initialDelayMs ?? defaultDelay));
  }

  /** No sweep from now on; one under way stops feeding. Queued tasks are the processor's to drain. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#ledger.release();
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
    this.#ledger.taskQueued(task);
  }

  /** A task left the queues, scored or shed; true when recovery had queued it. */
  taskDone(task: ScoringTask, scored = true): boolean {
    return this.#ledger.taskDone(task, scored);
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
      const outcome = await this.#run();
      if (outcome.looked) {
        this.#retryMs = RETRY_MS;
        const regular = outcome.catchUp ? Date.now() + CATCH_UP_DELAY_MS : Date.now() + this.#options.intervalMs;
        next = Math.min(regular, this.#wantedAt ?? Number.POSITIVE_INFINITY);
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

  /** One sweep. */
  async #run(): Promise<SweepOutcome> {
    const { host, storage, logger } = this.#options;
    // Scores the recorder is retrying would look missing; it writes or reports them soon.
    if (host.writesBacklogged()) return { looked: false, catchUp: false };
    if (storage.ping !== undefined && !(await storage.ping.call(storage))) {
      logger.debug('ClickHouse does not answer; scoring recovery postponed');
      return { looked: false, catchUp: false };
    }
    // Scored before this sweep is in ClickHouse before it looks, not counted as missing.
    await host.settleWrites();
    const startedAt = Date.now();
    const deadline = startedAt + Math.max(this.#options.intervalMs, MIN_FEED_MS);
    const stats = new Map<string, RuleStats>();
    const rules = this.#options.rules;
    const order = rules.map((_, index) => rules[(index + this.#firstRule) % rules.length]!);
    this.#firstRule = (this.#firstRule + 1) % Math.max(1, rules.length);
    let budget = this.#options.maxSpans;
    this.#setBacklog(0);
    let found = 0;
    let limited = false;
    let cut = false;
    for (const [index, rule] of order.entries()) {
      if (this.#stopped) break;
      const scorers = rule.scorers.filter((scorer) => host.scorerAvailable(scorer) && host.queueFor(scorer) !== undefined);
      if (scorers.length === 0) continue;
      const query: Omit<MissingScoresQuery, 'limit'> = {
        rule: rule.spec,
        scorers,
        conventions: this.#options.conventions,
        fromNs: msToNs(startedAt - this.#options.windowMs),
        toNs: msToNs(startedAt - this.#options.minAgeMs),
        ...(this.#ownBeforeNs !== undefined && { own: { instanceId: this.#options.ownInstanceId!, beforeNs: this.#ownBeforeNs } }),
        pageBytes: this.#pageBytes,
      };
      // An even share of what is left; what a rule does not use goes to the ones after it.
      const limit = Math.ceil(budget / (order.length - index));
      const candidates = limit > 0 ? await findMissingScores(storage, { ...query, limit }) : [];
      const { pages, tooBig } = pagesOf(candidates, this.#pageBytes);
      const fitting = candidates.length - tooBig.length;
      budget -= fitting;
      const ruleBacklog = candidates.length >= limit ? await countMissingScores(storage, query) : fitting;
      limited ||= candidates.length >= limit;
      found += ruleBacklog;
      this.#setBacklog(this.#backlog + ruleBacklog);
      if (tooBig.length > 0) this.#oversized.report(rule.spec.name, tooBig, this.#pageBytes);
      if (pages.length === 0) continue;
      const fed = await this.#feed.feed(rule, pages, deadline, this.#pageBytes);
      cut ||= fed.cut;
      if (fed.spans > 0) {
        const ruleStats = stats.get(rule.spec.name) ?? { spans: 0, scores: 0 };
        ruleStats.spans += fed.spans;
        ruleStats.scores += fed.scores;
        stats.set(rule.spec.name, ruleStats);
      }
    }
    if (this.#wantedAt !== undefined && this.#wantedAt <= startedAt) this.#wantedAt = undefined;
    if (stats.size === 0) {
      logger.debug({ durationMs: Date.now() - startedAt, backlog: found }, 'scoring recovery: nothing to recover');
      return { looked: true, catchUp: false };
    }
    await this.#whenIdle();
    const scores = [...stats.values()].reduce((sum, rule) => sum + rule.scores, 0);
    const spans = [...stats.values()].reduce((sum, rule) => sum + rule.spans, 0);
    const catchUp = (limited || cut) && !this.#stopped;
    logger.info(
      { rules: Object.fromEntries(stats), spans, scores, found, backlog: this.#backlog, durationMs: Date.now() - startedAt, capped: limited, again: catchUp },
      `scoring recovery: scored ${scores} missing score(s) of ${spans} span(s)`,
    );
    return { looked: true, catchUp };
  }

  /** The gauge follows the sweep: what it found, then down as spans are recovered. */
  #setBacklog(spans: number): void {
    this.#backlog = Math.max(0, spans);
    if (!this.#stopped) this.#options.backlog?.set(this.#backlog);
  }

  #whenIdle(): Promise<void> {
    if (this.#ledger.outstanding === 0 || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #wakeIdleWaiters(): void {
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }
}

function msToNs(ms: number): string {
  return (BigInt(Math.floor(ms)) * 1_000_000n).toString();
}
