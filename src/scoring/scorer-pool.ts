import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { Logger } from '../admin/logger.js';
import type { WorkerScorerSpec as ScorerSpec } from './rule-spec.js';
import type { ScoreOutcome } from './scorer-args.js';
import { timedOutMessage, type ScorerBatch, type ScorerTask } from './scorer-worker.js';
import { epochNanos, toEpochNanos } from './epoch-clock.js';
import { CallProgress, newCallProgress, type ScorerBatchReply, type ScorerTaskResult } from './scorer-pool-protocol.js';
import { crashDescription, publishedFault, runningCall, workerResourceLimits, type Culprit, type PublishedFault } from './scorer-pool-faults.js';
import { ResultInbox } from './scorer-pool-inbox.js';

export type { ScorerTask } from './scorer-worker.js';

export interface ScorerPoolOptions {
  /** Worker threads. Default: `os.availableParallelism()`. */
  workers?: number;
  /** Per-call deadline for scorer specs that carry none (`timeoutMs` <= 0). Default 10,000 ms. */
  taskTimeoutMs?: number;
  scorers: ScorerSpec[];
  logger: Logger;
  /**
   * Time a worker call gets on top of its scorers' deadline before the backstop fires, for
   * what is not a scorer's fault: starting a replacement thread, importing user modules,
   * copying the batch. Default 1,000 ms.
   */
  dispatchGraceMs?: number;
  /**
   * Heap limit of each worker thread, MiB (config `scoring.worker_memory_mib`). A scorer that
   * allocates past it kills its thread only. Default 256.
   */
  workerMemoryMib?: number;
}

export const DEFAULT_TASK_TIMEOUT_MS = 10_000;
export const DEFAULT_DISPATCH_GRACE_MS = 1_000;
export const DEFAULT_WORKER_MEMORY_MIB = 256;
/**
 * Bounds the wait for streamed results: those of a finished call (already posted, so only a
 * stalled event loop here would make it matter), or those a dying thread posted, which are
 * all in once it has exited; in practice a few milliseconds.
 */
const RESULTS_AFTER_DEATH_MS = 1_000;
/** How often running calls are checked against their deadline: the timeout's precision. */
const WATCHDOG_INTERVAL_MS = 20;

type WorkerCall =
  | { ok: true; results: ScorerTaskResult[] }
  | {
      ok: false;
      /** What the call finished before it failed. */
      results: ScorerTaskResult[];
      reason: 'timeout' | 'crash' | 'closed';
      error: unknown;
      culprit?: Culprit;
      fault?: PublishedFault;
    };

/** A worker call the watchdog is watching. */
interface WatchedCall {
  progress: BigInt64Array;
  timeoutsNs: bigint[];
  deadline: AbortController;
  culprit?: Culprit;
}

/**
 * Runs batches of scorer calls on a Piscina worker pool and turns every scorer fault
 * (throw, bad value, hang, crashed thread) into an error outcome for that call only.
 *
 * A synchronous hang (`while (true) {}`) can only be stopped by terminating its thread, and a
 * terminated batch returns nothing. So the worker publishes, in shared memory, which call is
 * running and since when, and a watchdog here terminates the thread as soon as THAT call
 * passes ITS deadline: the culprit gets `timed out after N ms` and the rest of its batch is
 * run again (one worker call, watched the same way), so batch-mates still get real scores.
 * Piscina replaces terminated threads.
 *
 * A thread that dies (a throw in a callback, an unhandled rejection, `process.exit()`, heap
 * exhaustion past `workerMemoryMib`) is handled alike. The culprit is the call the dying
 * thread blamed in its last JavaScript (WorkerCall traces callbacks back to their call), else
 * the synchronous call it died in (out of memory), else the only call of its worker call.
 * Results the thread finished and posted before dying are kept, not run again (see
 * WorkerCall for what a crash can still lose).
 *
 * Faults that cannot be pinned on a call (a hang after an `await` or while importing a user
 * module, running out of memory in async code, a crash between calls) lead to re-running the
 * unfinished calls one per worker call, each with its own deadline, which isolates the culprit
 * at the price of running it twice. A hang is caught by the backstop: a deadline on the whole
 * worker call of the LONGEST deadline among its calls plus grace. The max rather than the sum:
 * a healthy batch takes about its slowest call, since async calls overlap in the worker and a
 * sync call cannot overrun its deadline without the watchdog noticing; the sum would let a
 * hang hold a thread for 64 deadlines while the queue sheds. Its only cost is a false alarm
 * when many slow synchronous calls add up past it, and the one-by-one re-run still yields the
 * true scores.
 *
 * Deadlines start when a call is handed to Piscina, so the pool never hands over more worker
 * calls than it has threads: a call queued inside Piscina behind a hang must not time out.
 */
export class ScorerPool {
  readonly workers: number;
  readonly #piscina: Piscina<ScorerBatch, ScorerBatchReply>;
  readonly #specs: Map<string, ScorerSpec>;
  readonly #graceMs: number;
  readonly #memoryMib: number;
  readonly #logger: Logger;
  readonly #slotWaiters: Array<() => void> = [];
  #freeSlots: number;
  readonly #watched = new Set<WatchedCall>();
  #watchdog: NodeJS.Timeout | undefined;
  readonly #inbox: ResultInbox;
  #closed = false;

  constructor(options: ScorerPoolOptions) {
    this.workers = Math.max(1, Math.floor(options.workers ?? availableParallelism()));
    const defaultTimeoutMs = options.taskTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS;
    this.#specs = new Map(
      options.scorers.map((spec) => [spec.name, { ...spec, timeoutMs: spec.timeoutMs > 0 ? spec.timeoutMs : defaultTimeoutMs }]),
    );
    this.#graceMs = options.dispatchGraceMs ?? DEFAULT_DISPATCH_GRACE_MS;
    this.#memoryMib = options.workerMemoryMib ?? DEFAULT_WORKER_MEMORY_MIB;
    this.#logger = options.logger;
    this.#freeSlots = this.workers;
    this.#piscina = new Piscina<ScorerBatch, ScorerBatchReply>({
      filename: scorerWorkerFilename(),
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: Infinity,
      // 'async' keeps the worker's event loop turning between batches, so a user scorer's
      // background work (keep-alive sockets, an abandoned timed-out call) cannot wedge it.
      atomics: 'async',
      resourceLimits: workerResourceLimits(this.#memoryMib),
    });
    this.#inbox = new ResultInbox(this.#piscina);
    // Piscina emits 'error' for a worker that fails while idle (a timer left behind by a
    // finished call); unhandled it would crash us. Piscina replaces the thread.
    this.#piscina.on('error', (error: unknown) => this.#logger.error({ err: error }, 'scorer worker failed between calls'));
  }

  /** Worker threads alive or starting now; Piscina keeps it at `workers`, replacing those that die. */
  get threads(): number {
    return this.#piscina.threads.length;
  }

  /** Outcomes by task id, one entry per task. Never rejects: faults become error outcomes. */
  async runBatch(tasks: ScorerTask[]): Promise<Map<number, ScoreOutcome[]>> {
    const outcomes = new Map<number, ScoreOutcome[]>();
    const runnable: ScorerTask[] = [];
    for (const task of tasks) {
      if (this.#specs.has(task.scorer)) runnable.push(task);
      else outcomes.set(task.id, [failedOutcome(task.scorer, `scorer "${task.scorer}" is not configured`, epochNanos(), 0)]);
    }
    if (runnable.length > 0) await this.#run(runnable, outcomes);
    return outcomes;
  }

  /** Stops the threads; calls still running end with a "pool closed" error outcome. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const wake of this.#slotWaiters.splice(0)) wake();
    this.#stopWatchdog();
    await this.#piscina.destroy();
  }

  /**
   * `trustForeign`: a crash the worker blamed on a call of an earlier batch clears this
   * batch, once; should its re-run fail the same way, the claim is not taken again.
   */
  async #run(tasks: ScorerTask[], into: Map<number, ScoreOutcome[]>, trustForeign = true): Promise<void> {
    const startedAt = epochNanos();
    const startedHr = process.hrtime.bigint();
    const call = await this.#callWorker(tasks);
    for (const result of call.results) into.set(result.id, result.outcomes);
    if (call.ok) {
      for (const task of tasks) {
        if (!into.has(task.id)) into.set(task.id, [failedOutcome(task.scorer, `scorer "${task.scorer}" produced no result (worker bug)`, epochNanos(), 0)]);
      }
      return;
    }
    const unfinished = tasks.filter((task) => !into.has(task.id));
    if (call.reason === 'closed') {
      for (const task of unfinished) into.set(task.id, [this.#closedOutcome(task, startedAt, startedHr)]);
      return;
    }
    const foreign = call.fault?.foreign === true && trustForeign;
    // Alone in its call, a task is its own culprit.
    const culprit = call.culprit ?? (tasks.length === 1 && !foreign ? { position: 0, startedHr } : undefined);
    if (culprit !== undefined) {
      const task = tasks[culprit.position]!;
      // Replaces a result it may have posted: what it scheduled killed the thread after all.
      into.set(task.id, [this.#faultOutcome(task, call, culprit.startedHr)]);
      const rest = unfinished.filter((other) => other !== task);
      if (rest.length > 0) await this.#run(rest, into);
      return;
    }
    if (unfinished.length === 0) return;
    const context = { reason: call.reason, err: call.error, tasks: unfinished.length, scorers: [...new Set(unfinished.map((task) => task.scorer))] };
    if (foreign) {
      this.#logger.warn(context, 'a scorer call of an earlier batch crashed its worker; re-running the batch it interrupted');
      await this.#run(unfinished, into, false);
      return;
    }
    this.#logger.warn(context, 'scorer batch failed without a culprit; re-running its unfinished calls one by one');
    await Promise.all(unfinished.map((task) => this.#run([task], into)));
  }

  async #callWorker(tasks: ScorerTask[]): Promise<WorkerCall> {
    await this.#acquireSlot();
    if (this.#closed) {
      this.#releaseSlot();
      return { ok: false, results: [], reason: 'closed', error: undefined };
    }
    const timeoutsMs = tasks.map((task) => this.#specs.get(task.scorer)!.timeoutMs);
    const watched: WatchedCall = {
      progress: newCallProgress(),
      timeoutsNs: timeoutsMs.map((ms) => BigInt(ms) * 1_000_000n),
      deadline: new AbortController(),
    };
    const callId = this.#inbox.open();
    const backstop = setTimeout(() => watched.deadline.abort(), Math.max(...timeoutsMs) + this.#graceMs);
    this.#watch(watched);
    let reply: ScorerBatchReply;
    try {
      reply = await this.#piscina.run(
        { scorers: this.#specsFor(tasks), tasks, progress: watched.progress, call: callId },
        { signal: watched.deadline.signal },
      );
    } catch (error) {
      // The thread is gone (or the pool closed): the slot is free before we wait for what it posted.
      this.#endCall(watched, backstop);
      const thread = Number(Atomics.load(watched.progress, CallProgress.THREAD));
      if (this.#closed) return { ok: false, results: await this.#inbox.collect(callId, { count: 0 }, 0), reason: 'closed', error };
      const results = await this.#inbox.collect(callId, { thread }, RESULTS_AFTER_DEATH_MS);
      if (watched.deadline.signal.aborted) return { ok: false, results, reason: 'timeout', error, culprit: watched.culprit };
      const fault = publishedFault(watched.progress);
      // The thread died: blamed on the call it named, else on the synchronous call it died in.
      return { ok: false, results, reason: 'crash', error, fault, culprit: fault?.culprit ?? runningCall(watched.progress) };
    }
    this.#endCall(watched, backstop);
    const streamed = await this.#inbox.collect(callId, { count: reply.streamed }, RESULTS_AFTER_DEATH_MS);
    return { ok: true, results: streamed.length > 0 ? [...streamed, ...reply.results] : reply.results };
  }

  #endCall(watched: WatchedCall, backstop: NodeJS.Timeout): void {
    clearTimeout(backstop);
    this.#unwatch(watched);
    this.#releaseSlot();
  }

  #watch(call: WatchedCall): void {
    this.#watched.add(call);
    if (this.#watchdog !== undefined) return;
    this.#watchdog = setInterval(() => this.#checkDeadlines(), WATCHDOG_INTERVAL_MS);
    this.#watchdog.unref();
  }

  #unwatch(call: WatchedCall): void {
    this.#watched.delete(call);
    if (this.#watched.size === 0) this.#stopWatchdog();
  }

  #stopWatchdog(): void {
    if (this.#watchdog === undefined) return;
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  #checkDeadlines(): void {
    const now = process.hrtime.bigint();
    for (const call of this.#watched) {
      const running = runningCall(call.progress);
      if (running === undefined || now - running.startedHr <= call.timeoutsNs[running.position]!) continue;
      call.culprit = running;
      this.#watched.delete(call);
      // Piscina terminates the thread running an aborted task and starts a new one.
      call.deadline.abort();
    }
  }

  #faultOutcome(task: ScorerTask, call: Extract<WorkerCall, { ok: false }>, startedHr: bigint): ScoreOutcome {
    const spec = this.#specs.get(task.scorer)!;
    const durationNs = Number(process.hrtime.bigint() - startedHr);
    const startedAt = toEpochNanos(startedHr);
    if (call.reason === 'timeout') return failedOutcome(spec.name, timedOutMessage(spec), startedAt, durationNs);
    const why = crashDescription(spec, call.error, call.fault, this.#memoryMib);
    return failedOutcome(spec.name, `scorer "${spec.name}" crashed its worker: ${why}`, startedAt, durationNs);
  }

  #specsFor(tasks: ScorerTask[]): ScorerSpec[] {
    const names = new Set(tasks.map((task) => task.scorer));
    return [...names].map((name) => this.#specs.get(name)!);
  }

  #closedOutcome(task: ScorerTask, startedAt: string, startedHr: bigint): ScoreOutcome {
    const durationNs = Number(process.hrtime.bigint() - startedHr);
    return failedOutcome(task.scorer, `scoring pool closed before scorer "${task.scorer}" finished`, startedAt, durationNs);
  }

  #acquireSlot(): Promise<void> {
    if (this.#freeSlots > 0 || this.#closed) {
      this.#freeSlots--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#slotWaiters.push(resolve));
  }

  #releaseSlot(): void {
    const next = this.#slotWaiters.shift();
    // The slot passes straight to the next waiter, so a freed thread is never raced for.
    if (next !== undefined) next();
    else this.#freeSlots++;
  }
}

/**
 * Where the compiled worker is. From `dist/scoring/scorer-pool.js` it sits alongside. When
 * this module runs as TypeScript source (vitest loads `src/scoring/scorer-pool.ts`), the
 * worker cannot: Node 20 worker threads do not load `.ts`, and vitest's transform does not
 * reach into them, so we use the compiled one in `dist/` (`npm test` builds it first).
 */
function scorerWorkerFilename(): string {
  const here = fileURLToPath(import.meta.url);
  const filename = here.endsWith('.ts')
    ? resolve(dirname(here), '../../dist/scoring/scorer-worker.js')
    : join(dirname(here), 'scorer-worker.js');
  if (!existsSync(filename)) {
    throw new Error(`scorer worker not found at ${filename}; run \`npm run build\` first`);
  }
  return filename;
}

function failedOutcome(scorer: string, error: string, startedAt: string, durationNs: number): ScoreOutcome {
  return { scorer, score: null, error, metadata: {}, durationNs, startedAt };
}
