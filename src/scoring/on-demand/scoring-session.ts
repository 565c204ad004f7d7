import { fileURLToPath } from 'node:url';
import type { DaemonMetrics } from '../../admin/daemon-metrics.js';
import type { Logger } from '../../admin/logger.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import type { TraceStorage } from '../../storage/trace-storage.js';
import { epochNanos } from '../epoch-clock.js';
import type { FieldConventions } from '../field-conventions.js';
import { MainThreadScorerRunner } from '../main-thread-scorer-runner.js';
import { runsInWorkers, type MainThreadScorerSpec, type RuleSpec, type ScorerSpec, type WorkerScorerSpec } from '../rule-spec.js';
import type { ScoreOutcome, ScorerArgs } from '../scorer-args.js';
import type { ScorerTask } from '../scorer-worker.js';
import { extractScorerArgs } from '../span-fields.js';
import type { PoolLease, WorkerPoolHolder } from './worker-pool-holder.js';

/** What a session made of one span. */
export interface SpanScores {
  span: SpanRow;
  /** Outcomes to store, errors included: a scorer that ran and failed is a score too. */
  outcomes: ScoreOutcome[];
  /** Scorers that did not run (paused, over budget, unreadable span): shown, never stored. */
  notRun: ScoreOutcome[];
}

export interface ScoringSessionOptions {
  specs: ScorerSpec[];
  conventions: FieldConventions;
  pools: WorkerPoolHolder;
  storage: Pick<TraceStorage, 'query'>;
  metrics: DaemonMetrics;
  logger: Logger;
}

/** Tasks per worker call, as the live queue batches them. */
const WORKER_BATCH = 64;
/** LLM calls in flight per scorer when its runtime says nothing. */
const DEFAULT_LLM_CONCURRENCY = 4;

/**
 * The specs of a rule's scorers, as ScoringProcessor resolves them: a name that is not
 * declared is a built-in with default options (timeout 0 = the pool's default).
 */
export function resolveScorerSpecs(rule: RuleSpec, declared: Map<string, ScorerSpec>): ScorerSpec[] {
  const specs = new Map<string, ScorerSpec>();
  for (const name of rule.scorers) {
    if (!specs.has(name)) specs.set(name, declared.get(name) ?? { name, kind: 'builtin', builtin: name, options: {}, timeoutMs: 0 });
  }
  return [...specs.values()];
}

/**
 * Runs one request's scorers (a test, a hand-picked set, a backfill job) over spans, without
 * storing anything. Built-ins and modules go to the shared on-demand ScorerPool; LLM judges
 * and autoevals get a MainThreadScorerRunner of their own, so a request never competes with
 * the live pipeline's queues or trips its pauses, while the day's spend stored in `scores` still
 * counts against the scorer's budget.
 */
export class ScoringSession {
  readonly #options: ScoringSessionOptions;
  readonly #workerSpecs: WorkerScorerSpec[];
  readonly #mainSpecs: MainThreadScorerSpec[];
  #lease: PoolLease | undefined;
  #runner: MainThreadScorerRunner | undefined;
  #closed = false;

  private constructor(options: ScoringSessionOptions) {
    this.#options = options;
    this.#workerSpecs = options.specs.filter(runsInWorkers);
    this.#mainSpecs = options.specs.filter((spec): spec is MainThreadScorerSpec => !runsInWorkers(spec));
  }

  /** Rejects when a scorer cannot be used (autoevals missing, worker file not built). */
  static async open(options: ScoringSessionOptions): Promise<ScoringSession> {
    const session = new ScoringSession(options);
    try {
      await session.#start();
    } catch (error) {
      session.close();
      throw error;
    }
    return session;
  }

  async #start(): Promise<void> {
    if (this.#workerSpecs.length > 0) this.#lease = this.#options.pools.acquire(this.#workerSpecs);
    if (this.#mainSpecs.length === 0) return;
    const { metrics, logger } = this.#options;
    this.#runner = new MainThreadScorerRunner({ scorers: this.#mainSpecs, metrics, logger, autoevalsResolveFrom: [process.cwd(), fileURLToPath(import.meta.url)] });
    await this.#runner.start();
    await this.#restoreSpentToday(this.#runner);
  }

  /** Every scorer on every span; results in span order. Never rejects for a scorer's fault. */
  async score(spans: SpanRow[]): Promise<SpanScores[]> {
    if (this.#closed) throw new Error('the scoring session is closed');
    const results: SpanScores[] = spans.map((span) => ({ span, outcomes: [], notRun: [] }));
    const workerTasks: ScorerTask[] = [];
    const mainTasks = new Map<string, ScorerTask[]>(this.#mainSpecs.map((spec) => [spec.name, []]));
    const owners = new Map<number, { result: SpanScores; scorer: string }>();
    let nextId = 0;
    for (const result of results) {
      let args: ScorerArgs;
      try {
        args = extractScorerArgs(result.span, this.#options.conventions);
      } catch (error) {
        const reason = `could not read scorer arguments from the span: ${error instanceof Error ? error.message : String(error)}`;
        for (const spec of this.#options.specs) result.notRun.push(notRunOutcome(spec.name, reason));
        continue;
      }
      for (const spec of this.#options.specs) {
        const task: ScorerTask = { id: nextId++, scorer: spec.name, args };
        owners.set(task.id, { result, scorer: spec.name });
        if (runsInWorkers(spec)) workerTasks.push(task);
        else mainTasks.get(spec.name)!.push(task);
      }
    }
    const outcomes = new Map<number, ScoreOutcome[]>();
    await Promise.all([this.#runInWorkers(workerTasks, outcomes), ...this.#mainSpecs.map((spec) => this.#runOnMainThread(spec, mainTasks.get(spec.name)!, outcomes))]);
    // Task order is span order then spec order, so each span lists its scorers in rule order.
    for (const [id, { result, scorer }] of owners) {
      const produced = outcomes.get(id) ?? [];
      if (produced.length > 0) result.outcomes.push(...produced);
      else result.notRun.push(notRunOutcome(scorer, `scorer "${scorer}" was not run: it is paused or over its daily budget`));
    }
    return results;
  }

  /** Aborts LLM calls in flight (they end as errors) and lets go of the pool. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#runner?.close();
    this.#lease?.release();
  }

  async #runInWorkers(tasks: ScorerTask[], into: Map<number, ScoreOutcome[]>): Promise<void> {
    if (tasks.length === 0) return;
    const pool = this.#lease!.pool;
    const batches: ScorerTask[][] = [];
    for (let start = 0; start < tasks.length; start += WORKER_BATCH) batches.push(tasks.slice(start, start + WORKER_BATCH));
    // The pool hands out no more calls than it has threads; the rest wait there.
    const results = await Promise.all(batches.map((batch) => pool.runBatch(batch)));
    for (const result of results) for (const [id, outcomes] of result) into.set(id, outcomes);
  }

  async #runOnMainThread(spec: MainThreadScorerSpec, tasks: ScorerTask[], into: Map<number, ScoreOutcome[]>): Promise<void> {
    const runner = this.#runner!;
    const limit = Math.max(1, spec.runtime?.maxConcurrency ?? DEFAULT_LLM_CONCURRENCY);
    let next = 0;
    // The runner itself runs a whole batch at once; a judge's max_concurrency holds here too.
    const lane = async () => {
      while (next < tasks.length) {
        const task = tasks[next++]!;
        const result = await runner.runBatch([task]);
        into.set(task.id, result.get(task.id) ?? []);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
  }

  async #restoreSpentToday(runner: MainThreadScorerRunner): Promise<void> {
    const budgeted = this.#mainSpecs.filter((spec) => spec.runtime?.budgetUsdPerDay !== undefined).map((spec) => spec.name);
    if (budgeted.length === 0) return;
    try {
      const rows = await this.#options.storage.query<{ Scorer: string; spent: number }>(
        `SELECT Scorer, sum(JSONExtractFloat(Details, 'cost_usd')) AS spent FROM scores FINAL
         WHERE ScoredAt >= toStartOfDay(now('UTC')) AND Scorer IN {scorers:Array(String)} GROUP BY Scorer`,
        { scorers: budgeted },
        { readonly: true },
      );
      for (const row of rows) runner.recordEarlierSpend(row.Scorer, Number(row.spent));
    } catch (error) {
      // As in the live pipeline: better a fresh budget than no scoring, and say so.
      this.#options.logger.warn({ err: error }, "could not read today's LLM spend back from ClickHouse; this request's budget counts from now");
    }
  }
}

function notRunOutcome(scorer: string, error: string): ScoreOutcome {
  return { scorer, score: null, error, metadata: {}, durationNs: 0, startedAt: epochNanos() };
}
