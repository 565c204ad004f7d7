import type { Worker } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { isStreamedResults, type ScorerTaskResult } from './scorer-pool-protocol.js';

/** How long a dead thread's entry is kept for the call that may still ask about it. */
const FORGET_DEAD_THREAD_MS = 60_000;

interface OpenCall {
  received: ScorerTaskResult[];
  /** Set while `collect` waits for `expected` results. */
  wake?: () => void;
  expected: number;
}

/**
 * Collects the results worker calls stream while they run (see WorkerCall), which workers post
 * on their `parentPort` tagged with the call's id. Their own port rather than a channel per
 * call, which would cost more than the rest of the pool's overhead on a batch of cheap
 * scorers.
 *
 * The catch: Piscina answers on another port, with no ordering against this one, and rejects a
 * call as soon as its thread reports an error, maybe before the thread's last results arrived.
 * Node delivers everything a thread posted before its Worker emits 'exit', however it ended,
 * so a failed call waits for that, found by the thread id the call published.
 */
export class ResultInbox {
  readonly #calls = new Map<number, OpenCall>();
  /** Exit of each thread by id: dead ones are kept a while for the failed call asking. */
  readonly #exits = new Map<number, Promise<void>>();
  #nextCall = 1;

  constructor(piscina: Piscina) {
    // Emitted for every thread before it is given work, starting ones and replacements alike.
    piscina.on('workerCreate', () => {
      for (const worker of piscina.threads) this.#track(worker);
    });
  }

  /** A new call id, whose results are kept from now until `collect`. */
  open(): number {
    const id = this.#nextCall++;
    this.#calls.set(id, { received: [], expected: 0 });
    return id;
  }

  /**
   * What call `id` streamed, once `count` results arrived, or (the call failed) once its
   * thread is gone, or at the timeout. Forgets the call.
   */
  async collect(id: number, until: { count: number } | { thread: number }, timeoutMs: number): Promise<ScorerTaskResult[]> {
    const call = this.#calls.get(id)!;
    let arrived: Promise<void> | undefined;
    if ('thread' in until) arrived = this.#exits.get(until.thread);
    else if (call.received.length < until.count) {
      call.expected = until.count;
      arrived = new Promise((resolve) => (call.wake = resolve));
    }
    if (arrived !== undefined && timeoutMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([arrived, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    }
    this.#calls.delete(id);
    return call.received;
  }

  #track(worker: Worker): void {
    const threadId = worker.threadId;
    if (this.#exits.has(threadId)) return;
    worker.on('message', (message: unknown) => {
      if (!isStreamedResults(message)) return;
      const call = this.#calls.get(message.call);
      if (call === undefined) return;
      for (const result of message.results) call.received.push(result);
      if (call.wake !== undefined && call.received.length >= call.expected) call.wake();
    });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.#exits.set(threadId, exited);
    void exited.then(() => setTimeout(() => this.#exits.delete(threadId), FORGET_DEAD_THREAD_MS).unref());
  }
}
