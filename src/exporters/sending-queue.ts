import { ExponentialBackoff, type RetrySettings } from './exponential-backoff.js';
import type { FailureReason, SendOutcome } from './send-outcome.js';

export type { RetrySettings };

/** sending_queue, resolved. */
export interface QueueSettings {
  /** Off: no buffering beyond the requests being sent (capacity = numConsumers). */
  enabled: boolean;
  numConsumers: number;
  maxRequests: number;
  maxBytes: number;
}

/** How an accepted item ended; every accepted item ends exactly once. */
export type QueueResult =
  | { kind: 'sent'; rejectedSpans: number; rejectionMessage: string }
  | { kind: 'failed'; reason: FailureReason; message: string };

export interface SendingQueueOptions<T> {
  queue: QueueSettings;
  retry: RetrySettings;
  /** One attempt; should resolve soon after `signal` aborts (the shutdown deadline). */
  send(item: T, signal: AbortSignal): Promise<SendOutcome>;
  onDone(item: T, result: QueueResult): void;
  /** After every attempt, whatever it came to (the exporter tracks reachability with it). */
  onAttempt?(item: T, outcome: SendOutcome): void;
  /** Just before an item is sent again. */
  onRetry?(item: T): void;
  /** Whenever the held requests or bytes change. */
  onSizeChange?(requests: number, bytes: number): void;
  random?: () => number;
}

interface Sleep {
  timer: NodeJS.Timeout;
  until: number;
  /** `completed` false: cut short by the shutdown. */
  wake(completed: boolean): void;
}

interface Entry<T> {
  item: T;
  bytes: number;
  settled: boolean;
  /** Set while an attempt is under way. */
  abort?: AbortController;
}

/**
 * exporterhelper's sending queue and retry sender: offers never wait; `numConsumers` senders
 * take items in order, and a consumer keeps its item through the backoff sleeps (as the
 * Collector's consumer goroutine does), so a down downstream sees at most `numConsumers`
 * requests at a time and the queue fills, then sheds, instead of every item being tried.
 * An item counts against the bounds from offer until it is done, retries included.
 */
export class SendingQueue<T> {
  readonly capacity: number;
  private readonly maxBytes: number;
  private readonly numConsumers: number;
  private readonly pending: Entry<T>[] = [];
  /** Every accepted, not yet settled entry: pending, being sent, or sleeping before a retry. */
  private readonly live = new Set<Entry<T>>();
  private heldBytes = 0;
  private activeConsumers = 0;
  private readonly sleeps = new Set<Sleep>();
  private closing = false;
  /** The shutdown deadline passed: everything left was given up. */
  private stopped = false;
  private deadlineAt = Infinity;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private drained: (() => void) | undefined;
  private shutdownPromise: Promise<void> | undefined;

  constructor(private readonly options: SendingQueueOptions<T>) {
    const { queue } = options;
    this.numConsumers = Math.max(1, Math.floor(queue.numConsumers));
    // Disabled, the Collector sends from the caller's goroutine; offers never wait here, so
    // "no queue" means room for exactly the requests being sent.
    this.capacity = queue.enabled ? Math.max(1, Math.floor(queue.maxRequests)) : this.numConsumers;
    this.maxBytes = queue.enabled ? queue.maxBytes : Infinity;
  }

  get requests(): number {
    return this.live.size;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /** False once shutdown has begun. */
  get accepting(): boolean {
    return !this.closing;
  }

  hasRoom(bytes: number): boolean {
    return !this.closing && this.live.size < this.capacity && this.heldBytes + bytes <= this.maxBytes;
  }

  /** Never waits. False (nothing queued) when full or shutting down. */
  offer(item: T, bytes: number): boolean {
    if (!this.hasRoom(bytes)) return false;
    const entry: Entry<T> = { item, bytes, settled: false };
    this.live.add(entry);
    this.heldBytes += bytes;
    this.pending.push(entry);
    this.sizeChanged();
    if (this.activeConsumers < this.numConsumers) {
      this.activeConsumers += 1;
      void this.consume();
    }
    return true;
  }

  /**
   * Stops accepting, lets the consumers send what is held until `deadlineMs` from now (a retry
   * that would wake after it is given up at once), then gives up on the rest: each is reported
   * failed with reason `shutdown`, attempts under way are aborted. Resolves when nothing is
   * held, by the deadline at the latest; no timer of the queue is left behind.
   */
  shutdown(deadlineMs: number): Promise<void> {
    this.shutdownPromise ??= new Promise<void>((resolve) => {
      this.closing = true;
      this.deadlineAt = Date.now() + Math.max(0, deadlineMs);
      this.drained = resolve;
      this.deadlineTimer = setTimeout(() => this.giveUp(), Math.max(0, deadlineMs));
      // Items sleeping before a retry that would now come after the deadline are given up early.
      for (const sleep of [...this.sleeps]) if (sleep.until >= this.deadlineAt) sleep.wake(false);
      this.checkDrained();
    });
    return this.shutdownPromise;
  }

  /** Consumers exist only while there is work: an idle exporter holds no pending promise. */
  private async consume(): Promise<void> {
    try {
      for (let entry = this.pending.shift(); entry !== undefined && !this.stopped; entry = this.pending.shift()) {
        await this.deliver(entry);
      }
    } finally {
      this.activeConsumers -= 1;
      this.checkDrained();
    }
  }

  private async deliver(entry: Entry<T>): Promise<void> {
    const backoff = new ExponentialBackoff(this.options.retry, this.options.random);
    for (let attempt = 0; ; attempt++) {
      if (entry.settled) return;
      if (attempt > 0) this.options.onRetry?.(entry.item);
      const outcome = await this.attempt(entry);
      // The deadline passed during the attempt: the entry was already reported.
      if (entry.settled) return;
      this.options.onAttempt?.(entry.item, outcome);
      if (outcome.kind === 'success') {
        this.settle(entry, { kind: 'sent', rejectedSpans: outcome.rejectedSpans, rejectionMessage: outcome.rejectionMessage });
        return;
      }
      if (outcome.kind === 'permanent') {
        this.settle(entry, { kind: 'failed', reason: 'permanent', message: outcome.message });
        return;
      }
      if (!this.options.retry.enabled) {
        this.settle(entry, { kind: 'failed', reason: 'retries_exhausted', message: `${outcome.message} (retry_on_failure is disabled)` });
        return;
      }
      const delay = backoff.next(outcome.retryAfterMs);
      if (delay === undefined) {
        this.settle(entry, { kind: 'failed', reason: 'retries_exhausted', message: `${outcome.message} (no retry left within max_elapsed_time)` });
        return;
      }
      if (Date.now() + delay >= this.deadlineAt || !(await this.sleep(delay))) {
        this.settle(entry, { kind: 'failed', reason: 'shutdown', message: `${outcome.message} (the next retry would come after the shutdown deadline)` });
        return;
      }
    }
  }

  private async attempt(entry: Entry<T>): Promise<SendOutcome> {
    const abort = new AbortController();
    entry.abort = abort;
    try {
      return await this.options.send(entry.item, abort.signal);
    } catch (error) {
      // Senders are written not to throw; one that does has a bug, and retrying will not fix it.
      return { kind: 'permanent', message: `the send failed unexpectedly: ${error instanceof Error ? error.message : String(error)}` };
    } finally {
      entry.abort = undefined;
    }
  }

  /** True when the delay passed; false when the shutdown cut it short. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const sleep: Sleep = {
        timer: setTimeout(() => sleep.wake(true), ms),
        until: Date.now() + ms,
        wake: (completed) => {
          clearTimeout(sleep.timer);
          this.sleeps.delete(sleep);
          resolve(completed);
        },
      };
      this.sleeps.add(sleep);
    });
  }

  private settle(entry: Entry<T>, result: QueueResult): void {
    if (entry.settled) return;
    entry.settled = true;
    this.live.delete(entry);
    this.heldBytes -= entry.bytes;
    this.sizeChanged();
    this.options.onDone(entry.item, result);
    this.checkDrained();
  }

  /** The deadline passed: report everything still held and stop every timer and attempt. */
  private giveUp(): void {
    this.deadlineTimer = undefined;
    this.stopped = true;
    this.pending.length = 0;
    for (const entry of [...this.live]) {
      entry.abort?.abort(new Error('shutdown deadline passed'));
      this.settle(entry, { kind: 'failed', reason: 'shutdown', message: 'still queued when the shutdown deadline passed' });
    }
    for (const sleep of [...this.sleeps]) sleep.wake(false);
    this.checkDrained();
  }

  private checkDrained(): void {
    if (!this.closing || this.drained === undefined || this.live.size > 0) return;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    const resolve = this.drained;
    this.drained = undefined;
    resolve();
  }

  private sizeChanged(): void {
    this.options.onSizeChange?.(this.live.size, this.heldBytes);
  }
}
