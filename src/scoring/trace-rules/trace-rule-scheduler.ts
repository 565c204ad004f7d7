import type { Logger } from '../../admin/logger.js';
import { INSTANCE_ATTRIBUTE } from '../../pipeline/project.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import { SpanReader } from '../../storage/span-reader.js';
import type { TraceStorage } from '../../storage/trace-storage.js';
import type { ScorerArgs } from '../scorer-args.js';
import { extractScorerArgs, type FieldConventions } from '../span-fields.js';
import { nanos } from './nanos.js';
import { extractThread } from './thread-messages.js';
import { buildTraceTranscript } from './trace-transcript.js';
import { findUnscoredRoots, latestActivityMs, readTraces, scoredKey, scoredTraceRules } from './trace-store-reads.js';

/** A `scope: trace` rule as the scheduler needs it. */
export interface ScheduledTraceRule {
  name: string;
  idleSeconds: number;
  /** Whether the rule selects this root span (project, apply_to, filter, sampler), without counting: for recovery. */
  selects(root: SpanRow): boolean;
}

export interface TraceRuleSchedulerOptions {
  rules: ScheduledTraceRule[];
  /** This replica: it decides the traces whose root's `spanscore.instance` is this. */
  instanceId: string;
  storage: Pick<TraceStorage, 'query'>;
  conventions: FieldConventions;
  logger: Logger;
  /** How far back `start` looks for roots left pending by an earlier run. */
  recoveryHours: number;
  /** Traces held pending at most; roots beyond are refused (`track` returns false). */
  maxPendingTraces: number;
  /** A trace is idle and quiet in ClickHouse: score it for `rule`, attached to `root`. Must not throw. */
  onDue(rule: string, root: SpanRow, args: ScorerArgs): void;
}

interface PendingRule {
  rule: ScheduledTraceRule;
  /** Set when ClickHouse showed activity our own clock did not: wait for it to go quiet too. */
  notBeforeMs: number;
  /** Spans of the trace at the last check that postponed it; -1 before any. */
  spansAtLastCheck: number;
}

interface PendingTrace {
  traceId: string;
  rootSpanId: string;
  rootStartNs: string;
  /** When a span of the trace last reached this replica (local clock). */
  lastActivityMs: number;
  rules: Map<string, PendingRule>;
}

/** First wait before recovery is tried again (ClickHouse unreachable at start); doubles up to the max. */
const RECOVERY_RETRY_MS = 5_000;
const RECOVERY_RETRY_MAX_MS = 60_000;
/** Due traces read per query. */
const CHECK_BATCH = 200;
/** Children may start before their root on another host's clock: read that much further back. */
const CLOCK_SKEW_NS = 3_600_000_000_000n;

/**
 * Holds the traces whose root this replica stored and a trace rule selected, until they have
 * been idle the rule's `idleSeconds`; then reads each whole trace back from ClickHouse (spans
 * that other replicas received included) and hands it to `onDue`, once per rule.
 *
 * Idle is judged twice: by this replica's own clock (no span of the trace arrived here for
 * `idleSeconds`) and by ClickHouse (no span of it started or ended in that window), because
 * another replica may still be receiving the trace's late spans. A trace whose span count did
 * not change over a whole postponement is scored even if its times look recent: that is a
 * producer clock running ahead, not traffic, and waiting on it could last forever.
 *
 * Nothing pending is written anywhere; a restart (or a config reload, which builds a new
 * processor) recovers it from storage instead: roots of the last `recoveryHours` that this
 * instance stored, that a trace rule selects and that have no score of that rule. The price
 * of keeping no state: a replica that never comes back leaves its pending traces unscored (no
 * other replica takes them over), and a recovered trace may be scored again if the earlier
 * run's score had not been written yet, which the `scores` ReplacingMergeTree key
 * (Rule, Scorer, TraceId, SpanId) folds into one row at merge time. Recovery cannot tell
 * "left pending" from "never seen" either: a trace rule that is new (or selects more than it
 * did) scores the matching unscored traces of the last `recoveryHours` once, at its first start.
 */
export class TraceRuleScheduler {
  readonly #options: TraceRuleSchedulerOptions;
  readonly #reader: SpanReader;
  readonly #pending = new Map<string, PendingTrace>();
  readonly #rules: ReadonlyMap<string, ScheduledTraceRule>;
  readonly #tickMs: number;
  #timer: NodeJS.Timeout | undefined;
  #recoveryTimer: NodeJS.Timeout | undefined;
  /** Rules whose recovery has not succeeded yet. */
  #toRecover: ScheduledTraceRule[];
  #checking = false;
  #stopped = false;

  constructor(options: TraceRuleSchedulerOptions) {
    this.#options = options;
    this.#reader = new SpanReader(options.storage);
    this.#rules = new Map(options.rules.map((rule) => [rule.name, rule]));
    this.#toRecover = [...options.rules];
    // Short idle times (tests, chatty apps) need a finer clock than once a second.
    const shortestIdleMs = Math.min(...options.rules.map((rule) => rule.idleSeconds * 1_000));
    this.#tickMs = Math.max(100, Math.min(1_000, shortestIdleMs / 2));
  }

  /** Traces waiting to go idle. */
  get pendingTraces(): number {
    return this.#pending.size;
  }

  /** Starts the idle clock, and recovery of what an earlier run left pending. */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = setInterval(() => void this.#tick(), this.#tickMs);
    this.#timer.unref();
    // Not awaited by the caller, and not before the next turn of the loop: on a reload the
    // daemon hands new spans to this processor right after `start`, and every root the old
    // processor saw until then is in ClickHouse by the time this query runs.
    setImmediate(() => void this.#recover(RECOVERY_RETRY_MS));
  }

  /** Stops checking. Pending traces are dropped here and left to recovery at the next start. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#recoveryTimer);
  }

  /** Whether this replica decides the trace of this root span (it stored the root). */
  ownsRoot(root: SpanRow): boolean {
    return root.ResourceAttributes[INSTANCE_ATTRIBUTE] === this.#options.instanceId;
  }

  /** A root span this replica stored, selected by the rule: pending from now. False when full. */
  track(root: SpanRow, ruleName: string): boolean {
    const rule = this.#rules.get(ruleName);
    if (rule === undefined) throw new Error(`"${ruleName}" is not a trace rule of this scheduler`);
    let trace = this.#pending.get(root.TraceId);
    if (trace === undefined) {
      if (this.#pending.size >= this.#options.maxPendingTraces) return false;
      trace = { traceId: root.TraceId, rootSpanId: root.SpanId, rootStartNs: root.Timestamp, lastActivityMs: Date.now(), rules: new Map() };
      this.#pending.set(root.TraceId, trace);
    }
    trace.lastActivityMs = Date.now();
    if (!trace.rules.has(rule.name)) trace.rules.set(rule.name, { rule, notBeforeMs: 0, spansAtLastCheck: -1 });
    return true;
  }

  /** A span of the trace reached this replica: its idle clock starts over. O(1), for every stored span. */
  touch(traceId: string): void {
    const trace = this.#pending.get(traceId);
    if (trace !== undefined) trace.lastActivityMs = Date.now();
  }

  /**
   * Puts back the traces an earlier run left pending. Retried while ClickHouse cannot answer
   * (the daemon starts scoring before storage is reachable); a root that went idle and was
   * scored meanwhile is caught by the scores check before it is scored again.
   */
  async #recover(retryMs: number): Promise<void> {
    const { instanceId, recoveryHours, maxPendingTraces, logger } = this.#options;
    let recovered = 0;
    for (const rule of [...this.#toRecover]) {
      if (this.#stopped) return;
      try {
        const roots = await findUnscoredRoots(this.#reader, { instanceId, rule: rule.name, sinceHours: recoveryHours, limit: maxPendingTraces });
        this.#toRecover = this.#toRecover.filter((left) => left !== rule);
        for (const root of roots) {
          if (!rule.selects(root)) continue;
          if (!this.track(root, rule.name)) {
            logger.warn({ rule: rule.name, maxPendingTraces }, 'too many pending traces to recover them all; the rest stay unscored until a later start');
            break;
          }
          recovered++;
        }
      } catch (error) {
        // Storage closes after scoring at shutdown: a query cut short then is no news.
        if (this.#stopped) return;
        logger.warn({ err: error, rule: rule.name, retryInMs: retryMs }, 'could not recover the traces an earlier run left pending; trying again');
      }
    }
    if (recovered > 0) logger.info({ recovered }, 'trace rules: recovered pending traces');
    if (this.#toRecover.length > 0 && !this.#stopped) {
      this.#recoveryTimer = setTimeout(() => void this.#recover(Math.min(retryMs * 2, RECOVERY_RETRY_MAX_MS)), retryMs);
      this.#recoveryTimer.unref();
    }
  }

  async #tick(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      // Every check scores, drops or postpones what it was given, so this ends.
      for (let due = this.#dueBatch(Date.now()); due.length > 0 && !this.#stopped; due = this.#dueBatch(Date.now())) {
        await this.#check(due);
      }
    } catch (error) {
      this.#options.logger.error({ err: error }, 'checking idle traces failed');
    } finally {
      this.#checking = false;
    }
  }

  #dueBatch(now: number): PendingTrace[] {
    const due: PendingTrace[] = [];
    for (const trace of this.#pending.values()) {
      for (const pending of trace.rules.values()) {
        if (!this.#isDue(trace, pending, now)) continue;
        due.push(trace);
        break;
      }
      if (due.length === CHECK_BATCH) break;
    }
    return due;
  }

  #isDue(trace: PendingTrace, pending: PendingRule, now: number): boolean {
    return now >= trace.lastActivityMs + pending.rule.idleSeconds * 1_000 && now >= pending.notBeforeMs;
  }

  async #check(due: PendingTrace[]): Promise<void> {
    const traceIds = due.map((trace) => trace.traceId);
    const earliestRoot = due.reduce((min, trace) => (nanos(trace.rootStartNs) < min ? nanos(trace.rootStartNs) : min), nanos(due[0]!.rootStartNs));
    const fromNs = String(earliestRoot > CLOCK_SKEW_NS ? earliestRoot - CLOCK_SKEW_NS : 0n);
    const ruleNames = [...new Set(due.flatMap((trace) => [...trace.rules.keys()]))];
    let spansByTrace: Map<string, SpanRow[]>;
    let scored: Set<string>;
    try {
      [spansByTrace, scored] = await Promise.all([readTraces(this.#reader, traceIds, fromNs), scoredTraceRules(this.#options.storage, traceIds, ruleNames, fromNs)]);
    } catch (error) {
      if (this.#stopped) return;
      this.#options.logger.warn({ err: error, traces: traceIds.length }, 'could not read idle traces back from ClickHouse; trying again later');
      const retryAt = Date.now();
      for (const trace of due) for (const pending of trace.rules.values()) pending.notBeforeMs = retryAt + pending.rule.idleSeconds * 1_000;
      return;
    }
    if (this.#stopped) return;
    const now = Date.now();
    for (const trace of due) {
      this.#decide(trace, spansByTrace.get(trace.traceId) ?? [], scored, now);
      if (trace.rules.size === 0) this.#pending.delete(trace.traceId);
    }
  }

  #decide(trace: PendingTrace, spans: SpanRow[], scored: Set<string>, now: number): void {
    const root = spans.find((span) => span.SpanId === trace.rootSpanId);
    if (root === undefined) {
      // Stored before it was handed over, so only a TTL or a manual delete removes it.
      this.#options.logger.warn({ traceId: trace.traceId, rootSpanId: trace.rootSpanId }, 'the root span of an idle trace is not in ClickHouse; not scoring it');
      trace.rules.clear();
      return;
    }
    const latestMs = latestActivityMs(spans);
    let args: ScorerArgs | undefined;
    for (const [name, pending] of trace.rules) {
      // A span arrived here while the trace was being read: it is not idle after all.
      if (!this.#isDue(trace, pending, now)) continue;
      const idleMs = pending.rule.idleSeconds * 1_000;
      if (latestMs > now - idleMs && spans.length !== pending.spansAtLastCheck) {
        pending.spansAtLastCheck = spans.length;
        pending.notBeforeMs = Math.min(latestMs, now) + idleMs;
        continue;
      }
      trace.rules.delete(name);
      // Scored by an earlier processor of this instance (before a reload or a restart).
      if (scored.has(scoredKey(trace.traceId, name))) continue;
      try {
        args ??= this.#argsOf(root, spans);
      } catch (error) {
        this.#options.logger.warn({ err: error, traceId: trace.traceId, rule: name }, 'could not read scorer arguments from a trace');
        continue;
      }
      this.#options.onDue(name, root, args);
    }
  }

  #argsOf(root: SpanRow, spans: SpanRow[]): ScorerArgs {
    const { conventions } = this.#options;
    return { ...extractScorerArgs(root, conventions), trace: buildTraceTranscript(spans, conventions), thread: extractThread(spans, conventions) };
  }
}
