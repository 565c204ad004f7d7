/**
 * The worker side of one worker call, beyond running scorers: what it tells the pool so that a
 * thread killed mid-batch costs only the call that killed it.
 *
 * - Which synchronous call runs, and since when (shared memory), for the pool's watchdog.
 * - Which call a crash came from. A throw in a timer, an unhandled rejection or a
 *   `process.exit()` in a callback happen when no synchronous call runs; an AsyncLocalStorage
 *   context entered around each scorer call follows everything that call schedules, and the
 *   thread's last JavaScript (an 'uncaughtExceptionMonitor' or 'exit' listener) publishes it.
 *   Monitors only: the thread still dies as it would have, since a scorer that threw in a
 *   callback may have left this thread's module state half-updated.
 * - The results finished so far, posted on the thread's port, so that the pool does not run them
 *   again after a crash. Posting each result would cost a message per score on the hot path;
 *   instead finished results wait and are posted when the event loop comes round (async
 *   scorers), before a synchronous call starts if they have waited STREAM_AFTER_NS (slow
 *   synchronous scorers), and from the crash monitors. What a crash can still lose is a few
 *   milliseconds of finished synchronous work, or the tail of a batch killed by the watchdog
 *   or by running out of memory, where no JavaScript runs to post it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { parentPort, threadId } from 'node:worker_threads';
import { CallProgress, FaultKind, FOREIGN_TASK, streamedResults, type ScorerBatchReply, type ScorerTaskResult } from './scorer-pool-protocol.js';

/** The scorer call whatever runs now descends from. */
interface TaskContext {
  call: WorkerCall;
  position: number;
  startedHr: bigint;
}

const STREAM_AFTER_NS = 5_000_000n;

const taskContext = new AsyncLocalStorage<TaskContext>();
/** The call this thread runs (Piscina gives a worker one call at a time). */
let current: WorkerCall | undefined;
let watching = false;

export class WorkerCall {
  readonly #progress: BigInt64Array | undefined;
  /** Undefined: nothing is streamed (no pool listening, or not in a worker thread). */
  readonly #call: number | undefined;
  #pending: ScorerTaskResult[] = [];
  #streamed = 0;
  #lastFlushHr = process.hrtime.bigint();
  #flushSoon: NodeJS.Immediate | undefined;
  #ended = false;
  #faulted = false;

  constructor(progress: BigInt64Array | undefined, call: number | undefined) {
    watchForFaults();
    this.#progress = progress;
    this.#call = parentPort === null ? undefined : call;
    if (progress !== undefined) Atomics.store(progress, CallProgress.THREAD, BigInt(threadId));
    current = this;
  }

  /**
   * Runs a scorer's synchronous part as task `position`, published as running, and, when
   * `traced`, inside the task's context so that what it schedules is traced back to it.
   * Built-ins are not traced: they are ours, and neither crash in callbacks nor exit, while
   * the first traced call makes every later promise of the thread pay for context tracking.
   */
  run<T>(position: number, startedHr: bigint, traced: boolean, scorer: () => T): T {
    if (this.#pending.length > 0 && startedHr - this.#lastFlushHr > STREAM_AFTER_NS) this.#flush();
    const progress = this.#progress;
    if (progress !== undefined) {
      Atomics.store(progress, CallProgress.STARTED, startedHr);
      Atomics.store(progress, CallProgress.RUNNING, BigInt(position + 1));
    }
    try {
      return traced ? taskContext.run({ call: this, position, startedHr }, scorer) : scorer();
    } finally {
      if (progress !== undefined) Atomics.store(progress, CallProgress.RUNNING, 0n);
    }
  }

  finished(result: ScorerTaskResult): void {
    // A call abandoned at its deadline may finish after its batch was answered.
    if (this.#ended) return;
    this.#pending.push(result);
    if (this.#call !== undefined && this.#flushSoon === undefined) this.#flushSoon = setImmediate(() => this.#flush());
  }

  end(): ScorerBatchReply {
    this.#ended = true;
    if (current === this) current = undefined;
    if (this.#flushSoon !== undefined) clearImmediate(this.#flushSoon);
    return { results: this.#pending, streamed: this.#streamed };
  }

  /** Called by the thread's last JavaScript before it dies. */
  fault(kind: bigint, code: number, context: TaskContext | undefined): void {
    if (this.#faulted || this.#ended) return;
    this.#faulted = true;
    const progress = this.#progress;
    if (progress !== undefined) {
      const ours = context !== undefined && context.call === this;
      if (ours) Atomics.store(progress, CallProgress.FAULT_STARTED, context.startedHr);
      Atomics.store(progress, CallProgress.FAULT_TASK, ours ? BigInt(context.position + 1) : context === undefined ? 0n : FOREIGN_TASK);
      Atomics.store(progress, CallProgress.FAULT_CODE, BigInt(code));
      Atomics.store(progress, CallProgress.FAULT_KIND, kind);
    }
    this.#flush();
  }

  #flush(): void {
    if (this.#flushSoon !== undefined) {
      clearImmediate(this.#flushSoon);
      this.#flushSoon = undefined;
    }
    this.#lastFlushHr = process.hrtime.bigint();
    if (this.#call === undefined || this.#pending.length === 0 || this.#ended) return;
    parentPort!.postMessage(streamedResults(this.#call, this.#pending));
    this.#streamed += this.#pending.length;
    this.#pending = [];
  }
}

/**
 * Installed on the first call, in the worker thread only (this module is imported by the main
 * thread too, for its types). An uncaught exception, an unhandled rejection (Node's default
 * mode raises it as one, with that origin) and `process.exit()` all end in these listeners,
 * synchronously and inside the context of the callback that caused them.
 */
function watchForFaults(): void {
  if (watching) return;
  watching = true;
  process.on('uncaughtExceptionMonitor', (_error, origin) => {
    const kind = origin === 'unhandledRejection' ? FaultKind.UNHANDLED_REJECTION : FaultKind.UNCAUGHT_EXCEPTION;
    current?.fault(kind, 1, taskContext.getStore());
  });
  process.on('exit', (code) => current?.fault(FaultKind.EXIT, code, taskContext.getStore()));
}
