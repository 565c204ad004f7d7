import { fileURLToPath } from 'node:url';
import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import type { SpanRow } from '../pipeline/span-row.js';
import type { TraceStorage } from '../storage/trace-storage.js';
import { runsInWorkers, type MainThreadScorerSpec, type RuleSpec, type ScorerSpec } from './rule-spec.js';
import { MainThreadScorerRunner } from './main-thread-scorer-runner.js';
import type { ScorerStatus } from '../llm/scorer-governor.js';
import type { ScoreOutcome, ScorerArgs } from './scorer-args.js';
import { ScoreRecorder, type ScoreRecord, type ScoreRecorderOptions } from './score-recorder.js';
import type { StoredSpanConsumer } from '../pipeline/span-consumer.js';
import { ScorerPool } from './scorer-pool.js';
import { ScoringQueue, type ScoringTask } from './scoring-queue.js';
import { extractScorerArgs, type FieldConventions } from './span-fields.js';
import { activeRules, emptyCounters, selects, type ActiveRule, type RuleCounters } from './active-rule.js';
import { ScoringMemory, scoringSpanBytes } from './scoring-memory.js';
import { TraceRuleScheduler } from './trace-rules/trace-rule-scheduler.js';
import { createProcessorRecovery } from './recovery/processor-recovery.js';
import type { RecoveryConfig } from './recovery/recovery-types.js';
import type { ScoringRecovery } from './recovery/scoring-recovery.js';

export type { RuleCounters } from './active-rule.js';

export interface ScoringProcessorOptions {
  rules: RuleSpec[];
  /**
   * Declared scorers by name. A rule may also name a built-in directly (`ExactMatch`);
   * such names missing here become built-in specs with default options and deadline.
   */
  scorers: Map<string, ScorerSpec>;
  conventions: FieldConventions;
  /** `query` (optional) reads back today's LLM spend at start, so a restart cannot bypass a budget; recovery needs it. */
  storage: Pick<TraceStorage, 'insertSpans' | 'insertScores'> & Partial<Pick<TraceStorage, 'query' | 'ping'>>;
  /** `registry` (optional) gets spanscore_scoring_recovered_total. */
  metrics: Pick<
    DaemonMetrics,
    'scores' | 'scoringShed' | 'scoringQueueDepth' | 'scoreWriteFailures' | 'llmTokens' | 'llmCost' | 'llmCalls' | 'scorerState' | 'scorerSpentToday' | 'scorerSkipped'
  > &
    Partial<Pick<DaemonMetrics, 'registry' | 'scoringHeldBytes' | 'scoringRecoveryBacklog' | 'scoringRecoveredSpans' | 'scoringRecoverySkipped'>>;
  /** Counters to continue from, by rule name (a reload carries those of unchanged rules). */
  initialCounters?: Record<string, RuleCounters>;
  /** Where `autoevals` is looked for (autoevals scorers). Default: the working directory, then spanscore's own. */
  autoevalsResolveFrom?: readonly string[];
  logger: Logger;
  /** Worker threads. Default: `os.availableParallelism()`. */
  workers?: number;
  /** Deadline for scorers whose spec has none. Default 10,000 ms (ScorerPool). */
  taskTimeoutMs?: number;
  /** True while memory is short (the memory limiter, above its soft limit): new scoring tasks are shed. */
  shouldShed?: () => boolean;
  /**
   * Estimated bytes the queued and running tasks may hold (their spans and arguments, see
   * ScoringMemory), all queues together; past it new tasks are shed. Default: unbounded (the
   * queues' task count only).
   */
  maxHeldBytes?: number;
  /**
   * This processor is the first of its process (not one a config reload made): recovery then
   * scores at once the spans this instance stored before it started (see ScoringRecovery).
   */
  startsProcess?: boolean;
  /** Heap limit of each worker thread, MiB (`scoring.worker_memory_mib`). Default 256 (ScorerPool). */
  workerMemoryMib?: number;
  /** Extra time per worker call for thread start and module imports. Default 1,000 ms. */
  dispatchGraceMs?: number;
  /** Scorer tasks held before shedding. Default 10,000. */
  queueCapacity?: number;
  /** Scorer tasks per worker call. Default 64. */
  maxBatchSize?: number;
  /** How long a partial batch waits. Default 5 ms. */
  lingerMs?: number;
  /** Batches handed to the pool at once. Default `workers * 2`. */
  maxInFlightBatches?: number;
  /** Write batching and retries of scores (ScoreRecorder defaults: 300 ms / 5,000 rows, 5 tries over ~30 s). */
  recorder?: Omit<ScoreRecorderOptions, 'storage' | 'metrics' | 'logger' | 'onLost'>;
  /** `scoring.recovery`: span rules' missing scores found in ClickHouse and scored (ScoringRecovery). Absent: off. */
  recovery?: RecoveryConfig;
  /**
   * This replica's `service.instance_id`, which the receivers stamp on every stored span as the
   * resource attribute `spanscore.instance`: trace rules score only the traces whose root span
   * this instance stored. Required (with `storage.query`) when any `scope: trace` rule is enabled.
   */
  instanceId?: string;
  /** How far back `start` looks for traces an earlier run left pending. Default 24 hours. */
  recoveryHours?: number;
  /** Traces held pending (trace rules) at most; roots beyond are shed. Default 100,000. */
  maxPendingTraces?: number;
}

export const DEFAULT_RECOVERY_HOURS = 24;
export const DEFAULT_MAX_PENDING_TRACES = 100_000;

/**
 * The pipeline stage after storage (an OpenTelemetry SpanProcessor's `onEnd`): picks the stored
 * spans each enabled rule applies to, keeps the sampled traces, and queues one scorer task per
 * (span, rule, scorer); outcomes are written back by the ScoreRecorder. Trace rules select root
 * spans instead and queue their tasks once the whole trace has gone idle (TraceRuleScheduler).
 *
 * `onStored` runs on the ingestion path after the spans are acknowledged-to-be, so it never
 * throws and never waits: a full queue sheds instead of slowing ingestion.
 */
export class ScoringProcessor implements StoredSpanConsumer {
  readonly #options: ScoringProcessorOptions;
  readonly #logger: Logger;
  readonly #rules: ActiveRule[];
  readonly #spanRules: ActiveRule[];
  readonly #traceRules: ActiveRule[];
  readonly #traces: TraceRuleScheduler | undefined;
  readonly #counters = new Map<string, RuleCounters>();
  readonly #scorerSpecs: ScorerSpec[];
  readonly #recorder: ScoreRecorder;
  readonly #recovery: ScoringRecovery | undefined;
  readonly #memory: ScoringMemory;
  #pool: ScorerPool | undefined;
  #mainThread: MainThreadScorerRunner | undefined;
  /** The queue in front of each scorer: the pool's shared one, or the scorer's own. */
  readonly #queues = new Map<string, ScoringQueue>();
  #state: 'new' | 'running' | 'stopped' = 'new';

  constructor(options: ScoringProcessorOptions) {
    this.#options = options;
    this.#logger = options.logger;
    for (const rule of options.rules) this.#counters.set(rule.name, { ...emptyCounters(), ...options.initialCounters?.[rule.name] });
    this.#rules = activeRules(options.rules, options.conventions, this.#counters);
    this.#memory = new ScoringMemory(options.maxHeldBytes, options.metrics.scoringHeldBytes);
    this.#spanRules = this.#rules.filter((rule) => rule.scope !== 'trace');
    this.#traceRules = this.#rules.filter((rule) => rule.scope === 'trace');
    this.#traces = this.#traceRules.length > 0 ? this.#createTraceScheduler(options, this.#traceRules) : undefined;
    this.#scorerSpecs = this.#specsUsedBy(this.#rules, options.scorers);
    const onLost = (records: readonly ScoreRecord[]) => this.#recovery?.scoresLost(records.map((record) => record.score.Timestamp));
    this.#recorder = new ScoreRecorder({ ...options.recorder, storage: options.storage, metrics: options.metrics, logger: options.logger, onLost });
    this.#recovery = createProcessorRecovery({
      ...options,
      config: options.recovery,
      spanRules: this.#spanRules.map((rule) => ({ name: rule.name, scorers: rule.scorers, selects: (span: SpanRow) => selects(rule, span) })),
      queues: this.#queues,
      recorder: this.#recorder,
      registry: options.metrics.registry,
      scorerStatuses: () => this.scorerStatuses,
      offer: (task) => this.#state === 'running' && this.#offer(task),
      busy: () => this.#memory.nearlyFull || options.shouldShed?.() === true,
      taskBytes: scoringSpanBytes,
      ...(options.startsProcess === true && options.instanceId !== undefined && { ownInstanceId: options.instanceId }),
    });
  }

  /**
   * Starts the worker threads and loads the main-thread scorers. Spans stored before this are
   * not scored by span rules; trace rules recover, in the background, the traces an earlier
   * processor of this instance left pending. Rejects when an autoevals scorer cannot be loaded.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'running';
    if (this.#rules.length === 0) {
      this.#logger.info('no enabled scoring rules; scoring is idle');
      return;
    }
    const options = this.#options;
    const workerSpecs = this.#scorerSpecs.filter(runsInWorkers);
    const mainSpecs = this.#scorerSpecs.filter((spec): spec is MainThreadScorerSpec => !runsInWorkers(spec));
    const onShed = (task: ScoringTask) => (this.#recovery?.taskDone(task, false), this.#counters.get(task.rule)!.shed++);
    const common = {
      metrics: options.metrics,
      logger: this.#logger,
      onScored: (task: ScoringTask, outcomes: ScoreOutcome[]) => this.#onScored(task, outcomes),
      onShed,
      memory: this.#memory,
      ...(options.shouldShed && { shouldShed: options.shouldShed }),
    };
    if (mainSpecs.length > 0) {
      const runner = new MainThreadScorerRunner({ scorers: mainSpecs, metrics: options.metrics, logger: this.#logger, autoevalsResolveFrom: options.autoevalsResolveFrom ?? [process.cwd(), fileURLToPath(import.meta.url)] });
      this.#mainThread = runner;
      await runner.start();
      await this.#restoreSpentToday(runner, mainSpecs);
      for (const spec of mainSpecs) {
        // One task per call: a batch would make fast answers wait for the slowest of it.
        const queue = new ScoringQueue({ ...common, name: `llm:${spec.name}`, runner, capacity: options.queueCapacity, maxBatchSize: 1, lingerMs: 0, maxInFlightBatches: spec.runtime?.maxConcurrency ?? 4 });
        this.#queues.set(spec.name, queue);
      }
    }
    if (workerSpecs.length > 0) {
      const pool = new ScorerPool({ workers: options.workers, taskTimeoutMs: options.taskTimeoutMs, dispatchGraceMs: options.dispatchGraceMs, workerMemoryMib: options.workerMemoryMib, scorers: workerSpecs, logger: this.#logger });
      this.#pool = pool;
      const queue = new ScoringQueue({ ...common, runner: pool, capacity: options.queueCapacity, maxBatchSize: options.maxBatchSize, lingerMs: options.lingerMs, maxInFlightBatches: options.maxInFlightBatches });
      for (const spec of workerSpecs) this.#queues.set(spec.name, queue);
    }
    this.#traces?.start();
    this.#recovery?.start();
    this.#logger.info(
      { rules: this.#rules.map((rule) => rule.name), scorers: this.#scorerSpecs.map((spec) => spec.name), workers: this.#pool?.workers ?? 0 },
      'scoring started',
    );
  }

  /** Traces waiting to go idle for a trace rule. */
  get pendingTraces(): number {
    return this.#traces?.pendingTraces ?? 0;
  }

  /** The state of every LLM / autoevals scorer (active, paused, over budget), by name. */
  get scorerStatuses(): Record<string, ScorerStatus> {
    return this.#mainThread?.statuses() ?? {};
  }

  /** Lifts pauses of LLM scorers (called on config reload). */
  resumeScorers(): void {
    this.#mainThread?.resume();
  }

  /** A snapshot of every configured rule's counters, by rule name. */
  get ruleCounters(): Record<string, RuleCounters> {
    const snapshot: Record<string, RuleCounters> = {};
    for (const [name, counters] of this.#counters) snapshot[name] = { ...counters };
    return snapshot;
  }

  /** Queues scoring for freshly stored spans. Never throws, never waits. */
  onStored(spans: SpanRow[]): void {
    if (this.#queues.size === 0 || this.#state !== 'running') return;
    try {
      for (const span of spans) {
        this.#select(span);
        if (this.#traces) this.#selectTrace(this.#traces, span);
      }
    } catch (error) {
      this.#logger.error({ err: error }, 'selecting spans for scoring failed');
    }
  }

  /**
   * Stops taking spans, lets queued and running scorer calls finish, writes their scores, and
   * stops the threads, all within `timeoutMs`. Scoring that misses it is counted as shed,
   * writes that miss it as write failures. Traces not idle yet are not scored early: the next
   * processor of this instance recovers them from storage.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#traces?.stop();
    // What it queued drains below; what is left unscored is found again by the next start's sweep.
    this.#recovery?.stop();
    const deadline = Date.now() + Math.max(0, timeoutMs);
    // Scores are worthless unwritten: keep part of the budget for the last insert.
    const writeReserveMs = Math.min(1_000, timeoutMs / 4);
    try {
      const queues = [...new Set(this.#queues.values())];
      await Promise.all(queues.map((queue) => queue.drain(Math.max(0, deadline - writeReserveMs - Date.now()))));
      this.#mainThread?.close();
      await this.#pool?.close();
    } finally {
      await this.#recorder.shutdown(Math.max(0, deadline - Date.now()));
    }
  }

  async #restoreSpentToday(runner: MainThreadScorerRunner, specs: MainThreadScorerSpec[]): Promise<void> {
    const budgeted = specs.filter((spec) => spec.runtime?.budgetUsdPerDay !== undefined).map((spec) => spec.name);
    const query = this.#options.storage.query;
    if (budgeted.length === 0 || query === undefined) return;
    try {
      const rows = await query.call(
        this.#options.storage,
        `SELECT Scorer, sum(JSONExtractFloat(Details, 'cost_usd')) AS spent FROM scores FINAL
         WHERE ScoredAt >= toStartOfDay(now('UTC')) AND Scorer IN {scorers:Array(String)} GROUP BY Scorer`,
        { scorers: budgeted },
      );
      for (const row of rows as Array<{ Scorer: string; spent: number }>) runner.recordEarlierSpend(row.Scorer, Number(row.spent));
    } catch (error) {
      // Better to score with a fresh budget than not at all; say so.
      this.#logger.warn({ err: error }, "could not read today's LLM spend back from ClickHouse; budgets count from now");
    }
  }

  #select(span: SpanRow): void {
    // Built at most once per span, however many rules select it: it is the costly part
    // (attribute JSON parsing), and sharing the object lets a batch clone it once.
    let taking: ActiveRule[] | undefined;
    for (const rule of this.#spanRules) {
      if (selects(rule, span, rule.counters)) (taking ??= []).push(rule);
    }
    if (taking === undefined) return;
    let args: ScorerArgs;
    try {
      args = extractScorerArgs(span, this.#options.conventions);
    } catch (error) {
      this.#logger.warn({ err: error, traceId: span.TraceId, spanId: span.SpanId }, 'could not read scorer arguments from span');
      return;
    }
    // The span and its arguments stay in memory until its last task is done: each task holds a share.
    const bytes = scoringSpanBytes(span) / taking.reduce((sum, rule) => sum + rule.scorers.length, 0);
    for (const rule of taking) {
      // A refused task is counted through the queue's onShed.
      for (const scorer of rule.scorers) this.#offer({ span, rule: rule.name, scorer, args, bytes });
    }
  }

  /** Trace rules look at root spans only; any other span of a pending trace restarts its idle clock. */
  #selectTrace(traces: TraceRuleScheduler, span: SpanRow): void {
    traces.touch(span.TraceId);
    // Another replica stored this root: the trace is its to score, however the spans were spread.
    if (span.ParentSpanId !== '' || !traces.ownsRoot(span)) return;
    for (const rule of this.#traceRules) {
      if (!selects(rule, span, rule.counters)) continue;
      if (!traces.track(span, rule.name)) rule.counters.shed += rule.scorers.length;
    }
  }

  #createTraceScheduler(options: ScoringProcessorOptions, rules: ActiveRule[]): TraceRuleScheduler {
    const { instanceId, storage } = options;
    if (instanceId === undefined || instanceId === '' || storage.query === undefined) {
      throw new Error(`trace rules (${rules.map((rule) => rule.name).join(', ')}) need the processor's instanceId and a storage that can query`);
    }
    return new TraceRuleScheduler({
      rules: rules.map((rule) => ({ name: rule.name, idleSeconds: rule.idleSeconds, selects: (root: SpanRow) => selects(rule, root) })),
      instanceId,
      storage: { query: storage.query.bind(storage) },
      conventions: options.conventions,
      logger: this.#logger,
      recoveryHours: options.recoveryHours ?? DEFAULT_RECOVERY_HOURS,
      maxPendingTraces: options.maxPendingTraces ?? DEFAULT_MAX_PENDING_TRACES,
      onDue: (rule, root, args) => this.#enqueueTrace(rule, root, args),
    });
  }

  #enqueueTrace(ruleName: string, root: SpanRow, args: ScorerArgs): void {
    // A check that finished during shutdown: leave the trace to recovery rather than shed it.
    if (this.#state !== 'running') return;
    const rule = this.#traceRules.find((candidate) => candidate.name === ruleName)!;
    const bytes = scoringSpanBytes(root) / rule.scorers.length;
    for (const scorer of rule.scorers) this.#offer({ span: root, rule: rule.name, scorer, args, bytes });
  }

  #offer(task: ScoringTask): boolean {
    if (!this.#queues.get(task.scorer)!.offer(task)) return false;
    this.#counters.get(task.rule)!.enqueued++;
    this.#recovery?.taskQueued(task);
    return true;
  }

  #onScored(task: ScoringTask, outcomes: ScoreOutcome[]): void {
    const counters = this.#counters.get(task.rule)!;
    const recovered = this.#recovery?.taskDone(task, true) ?? false;
    if (outcomes.length === 0) counters.skipped++;
    for (const outcome of outcomes) {
      const failed = outcome.error !== '';
      if (failed) counters.errored++;
      else counters.scored++;
      this.#options.metrics.scores.inc({ scorer: outcome.scorer, outcome: failed ? 'error' : 'ok' });
      this.#recorder.record(task.span, task.rule, outcome, 'online', recovered);
    }
  }

  #specsUsedBy(rules: ActiveRule[], declared: Map<string, ScorerSpec>): ScorerSpec[] {
    const specs = new Map<string, ScorerSpec>();
    for (const rule of rules) {
      for (const name of rule.scorers) {
        if (specs.has(name)) continue;
        // timeoutMs 0 = "none given": the pool applies its default deadline.
        specs.set(name, declared.get(name) ?? { name, kind: 'builtin', builtin: name, options: {}, timeoutMs: 0 });
      }
    }
    return [...specs.values()];
  }
}
