import type { Span } from '@opentelemetry/api';
import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import type { SpanRow } from '../pipeline/span-row.js';
import { selfTracer, setSpanError } from '../telemetry/self-tracer.js';
import type { ScoreOutcome, ScorerArgs } from './scorer-args.js';
import type { ScoringMemory } from './scoring-memory.js';
import type { ScorerTask } from './scorer-worker.js';

/** One scorer call waiting to run: (span, rule, scorer). */
export interface ScoringTask {
  /** The scored span, for the recorder; not sent to the worker. */
  span: SpanRow;
  rule: string;
  scorer: string;
  /** Shared by every task of the same span (built once), and cloned once per batch. */
  args: ScorerArgs;
  /** Its share of the memory its span and arguments hold (scoringSpanBytes), counted against the queues' budget. Absent: 0. */
  bytes?: number;
}

/** What the queue drains into (ScorerPool). */
export interface ScoringBatchRunner {
  readonly workers: number;
  runBatch(tasks: ScorerTask[]): Promise<Map<number, ScoreOutcome[]>>;
}

export interface ScoringQueueOptions {
  runner: ScoringBatchRunner;
  /** Called once per task with its outcomes. Must not throw (errors are logged). */
  onScored: (task: ScoringTask, outcomes: ScoreOutcome[]) => void;
  /** Called for every task dropped (queue full, closed, memory short, or left at the drain deadline). */
  onShed?: (task: ScoringTask) => void;
  metrics: Pick<DaemonMetrics, 'scoringQueueDepth' | 'scoringShed'>;
  logger: Logger;
  /** Names the queue in `/metrics` (`spanscore_scoring_queue_depth{queue}`). Default `workers`. */
  name?: string;
  /** Tasks held before new ones are shed. Default 10,000. */
  capacity?: number;
  /** Tasks per worker call. Default 64. */
  maxBatchSize?: number;
  /** How long a partial batch waits for company. Default 5 ms. */
  lingerMs?: number;
  /** Batches handed to the runner at once. Default `runner.workers * 2`: one running, one ready. */
  maxInFlightBatches?: number;
  /**
   * Asked on every offer; true sheds the task as if the queue were full (the memory limiter,
   * above its soft limit). Must be cheap.
   */
  shouldShed?: () => boolean;
  /**
   * The memory budget of the tasks queued and in flight, shared by the processor's queues: a
   * task that would take it past its limit is shed as if the queue were full.
   */
  memory?: ScoringMemory;
}

export const DEFAULT_QUEUE_CAPACITY = 10_000;
export const DEFAULT_MAX_BATCH_SIZE = 64;
export const DEFAULT_LINGER_MS = 5;

/**
 * A bounded FIFO between ingestion and the scorer pool. Ingestion must never wait for
 * scoring, so `offer` is O(1) and synchronous, and when the queue is full the new task is shed
 * (counted per rule) instead of applying back-pressure. A dispatcher drains it in batches:
 * a full batch goes at once, a partial one after `lingerMs`, with a bounded number of batches
 * in flight so that a slow scorer fills this queue (and sheds) instead of Piscina's.
 */
export class ScoringQueue {
  readonly capacity: number;
  readonly name: string;
  readonly #ring: Array<ScoringTask | undefined>;
  #head = 0;
  #size = 0;
  readonly #runner: ScoringBatchRunner;
  readonly #onScored: ScoringQueueOptions['onScored'];
  readonly #onShed: NonNullable<ScoringQueueOptions['onShed']>;
  readonly #metrics: ScoringQueueOptions['metrics'];
  readonly #logger: Logger;
  readonly #maxBatchSize: number;
  readonly #lingerMs: number;
  readonly #maxInFlight: number;
  readonly #shouldShed: (() => boolean) | undefined;
  readonly #memory: ScoringMemory | undefined;
  /** Batches handed to the runner and not yet delivered; removed when abandoned at drain. */
  readonly #inFlight = new Set<ScoringTask[]>();
  #lingerTimer: NodeJS.Timeout | undefined;
  /** A partial batch has waited long enough (or we are draining): send it. */
  #flushDue = false;
  #flushScheduled = false;
  #accepting = true;
  #idleWaiters: Array<() => void> = [];

  constructor(options: ScoringQueueOptions) {
    this.name = options.name ?? 'workers';
    this.capacity = positiveInteger(options.capacity ?? DEFAULT_QUEUE_CAPACITY, 'capacity');
    this.#maxBatchSize = positiveInteger(options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE, 'maxBatchSize');
    this.#lingerMs = Math.max(0, options.lingerMs ?? DEFAULT_LINGER_MS);
    this.#maxInFlight = positiveInteger(options.maxInFlightBatches ?? options.runner.workers * 2, 'maxInFlightBatches');
    this.#ring = new Array<ScoringTask | undefined>(this.capacity);
    this.#runner = options.runner;
    this.#onScored = options.onScored;
    this.#onShed = options.onShed ?? (() => {});
    this.#shouldShed = options.shouldShed;
    this.#memory = options.memory;
    this.#metrics = options.metrics;
    this.#metrics.scoringQueueDepth.set({ queue: this.name }, 0);
    this.#logger = options.logger;
  }

  /** Tasks waiting (not yet handed to the runner). */
  get depth(): number {
    return this.#size;
  }

  /** Batches handed to the runner and not finished. */
  get inFlightBatches(): number {
    return this.#inFlight.size;
  }

  /**
   * Enqueues a task; false when it was shed (queue full in tasks or in memory, draining, or
   * memory short). Never blocks.
   */
  offer(task: ScoringTask): boolean {
    const bytes = task.bytes ?? 0;
    if (!this.#accepting || this.#size === this.capacity || this.#memory?.admits(bytes) === false || this.#shouldShed?.() === true) {
      this.#shed(task);
      return false;
    }
    this.#memory?.hold(bytes);
    this.#ring[(this.#head + this.#size) % this.capacity] = task;
    this.#size++;
    this.#metrics.scoringQueueDepth.set({ queue: this.name }, this.#size);
    if (this.#size >= this.#maxBatchSize) {
      // Dispatching copies the batch to a worker: do it off the caller's stack.
      this.#cancelLinger();
      this.#flushSoon();
    } else {
      this.#armLinger();
    }
    return true;
  }

  /**
   * Stops accepting tasks and runs what is queued or in flight, for at most `timeoutMs`.
   * Whatever has not been scored by then is shed (counted and logged); its late results,
   * if any, are ignored.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.#accepting = false;
    this.#flushDue = true;
    this.#cancelLinger();
    this.#pump();
    if (this.#isIdle()) return;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.#idleWaiters.push(() => resolve(true)));
    const expired = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs))));
    const finished = await Promise.race([idle, expired]);
    clearTimeout(timer);
    if (finished) return;
    this.#abandonRemaining();
  }

  #abandonRemaining(): void {
    const left: ScoringTask[] = [];
    while (this.#size > 0) left.push(this.#shift());
    for (const batch of this.#inFlight) left.push(...batch);
    this.#inFlight.clear();
    this.#metrics.scoringQueueDepth.set({ queue: this.name }, 0);
    for (const task of left) {
      this.#memory?.release(task.bytes ?? 0);
      this.#shed(task);
    }
    if (left.length > 0) {
      const byRule: Record<string, number> = {};
      for (const task of left) byRule[task.rule] = (byRule[task.rule] ?? 0) + 1;
      this.#logger.warn({ shed: left.length, byRule }, 'scoring queue drain deadline passed; unscored tasks shed');
    }
    this.#wakeIdleWaiters();
  }

  #pump(): void {
    while (this.#size > 0 && this.#inFlight.size < this.#maxInFlight && (this.#size >= this.#maxBatchSize || this.#flushDue)) {
      this.#dispatch(this.#takeBatch());
    }
    if (this.#size === 0) {
      if (this.#accepting) this.#flushDue = false;
    } else if (!this.#flushDue) {
      this.#armLinger();
    }
    // Otherwise the in-flight limit stopped us; the next completion pumps again.
  }

  #takeBatch(): ScoringTask[] {
    const batch: ScoringTask[] = [];
    const count = Math.min(this.#size, this.#maxBatchSize);
    for (let index = 0; index < count; index++) batch.push(this.#shift());
    this.#metrics.scoringQueueDepth.set({ queue: this.name }, this.#size);
    return batch;
  }

  #dispatch(batch: ScoringTask[]): void {
    this.#inFlight.add(batch);
    const span = startBatchSpan(this.name, batch);
    const tasks: ScorerTask[] = batch.map((task, id) => ({ id, scorer: task.scorer, args: task.args }));
    this.#runner
      .runBatch(tasks)
      .catch((error: unknown) => {
        // The pool turns scorer faults into outcomes; getting here is a bug, not a bad scorer.
        this.#logger.error({ err: error }, 'scorer pool failed a batch');
        setSpanError(span, error);
        return new Map<number, ScoreOutcome[]>();
      })
      .then((outcomes) => {
        const abandoned = !this.#inFlight.has(batch);
        this.#deliver(batch, outcomes);
        endBatchSpan(span, batch, outcomes, abandoned);
      });
  }

  #deliver(batch: ScoringTask[], outcomes: Map<number, ScoreOutcome[]>): void {
    // Abandoned at the drain deadline: already counted as shed.
    if (!this.#inFlight.delete(batch)) return;
    batch.forEach((task, id) => {
      this.#memory?.release(task.bytes ?? 0);
      const taskOutcomes = outcomes.get(id) ?? [
        {
          scorer: task.scorer,
          score: null,
          error: `scorer "${task.scorer}" produced no result (scoring pool failure)`,
          metadata: {},
          durationNs: 0,
          startedAt: (BigInt(Date.now()) * 1_000_000n).toString(),
        },
      ];
      try {
        this.#onScored(task, taskOutcomes);
      } catch (error) {
        this.#logger.error({ err: error, rule: task.rule, scorer: task.scorer }, 'handling a score failed');
      }
    });
    this.#pump();
    if (this.#isIdle()) this.#wakeIdleWaiters();
  }

  #shift(): ScoringTask {
    const task = this.#ring[this.#head]!;
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#size--;
    return task;
  }

  #shed(task: ScoringTask): void {
    this.#metrics.scoringShed.inc({ rule: task.rule });
    try {
      this.#onShed(task);
    } catch (error) {
      this.#logger.error({ err: error }, 'handling a shed task failed');
    }
  }

  #armLinger(): void {
    if (this.#lingerTimer !== undefined) return;
    this.#lingerTimer = setTimeout(() => {
      this.#lingerTimer = undefined;
      this.#flushDue = true;
      this.#pump();
    }, this.#lingerMs);
    this.#lingerTimer.unref();
  }

  #cancelLinger(): void {
    if (this.#lingerTimer === undefined) return;
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
  }

  #flushSoon(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#pump();
    });
  }

  #isIdle(): boolean {
    return this.#size === 0 && this.#inFlight.size === 0;
  }

  #wakeIdleWaiters(): void {
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }
}

/** Self-telemetry: one INTERNAL span per batch handed to the runner, from hand-over to outcomes. */
function startBatchSpan(queue: string, batch: ScoringTask[]): Span {
  const span = selfTracer.startSpan('scoring batch');
  if (span.isRecording()) {
    span.setAttribute('spanscore.scoring.queue', queue);
    span.setAttribute('spanscore.scoring.rules', [...new Set(batch.map((task) => task.rule))]);
    span.setAttribute('spanscore.scoring.scorers', [...new Set(batch.map((task) => task.scorer))]);
    span.setAttribute('spanscore.scoring.task_count', batch.length);
  }
  return span;
}

/** Failures: error outcomes, and tasks left without any (the pool failed). */
function endBatchSpan(span: Span, batch: ScoringTask[], outcomes: Map<number, ScoreOutcome[]>, abandoned: boolean): void {
  if (span.isRecording()) {
    let failures = 0;
    for (let id = 0; id < batch.length; id++) {
      const taskOutcomes = outcomes.get(id);
      if (taskOutcomes === undefined) failures++;
      else for (const outcome of taskOutcomes) if (outcome.error !== '') failures++;
    }
    span.setAttribute('spanscore.scoring.failure_count', failures);
    if (abandoned) setSpanError(span, 'the drain deadline passed before the batch was scored', 'shed');
  }
  span.end();
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`scoring queue ${name} must be a positive integer, got ${value}`);
  return value;
}
