/** Limits of one endpoint; undefined = unlimited. */
export interface RateLimits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

interface Waiter {
  tokens: number;
  resolve: () => void;
  reject: (error: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * Client-side pacing for one endpoint, so that a burst of spans turns into a steady stream the
 * provider accepts instead of a wall of 429s.
 *
 * Requests are spaced evenly, one every 60000/rpm ms with a burst of 1: a provider's per-minute
 * limit is often enforced over shorter windows, so "rpm requests at once, then nothing" would
 * still be refused. Tokens-per-minute is a token bucket of capacity tpm refilled continuously;
 * `acquire` reserves the caller's estimate and `settle` corrects it once the real usage is known.
 *
 * Waiters are served strictly in arrival order: a cheap request never overtakes an expensive
 * one, so a large prompt cannot be starved by a stream of small ones.
 */
export class RateLimiter {
  private readonly intervalMs: number | undefined;
  private readonly capacity: number | undefined;
  private readonly refillPerMs: number;
  /** Slack for timer lateness; see grant(). */
  private readonly toleranceMs: number;
  private readonly queue: Waiter[] = [];
  private nextRequestAt = Number.NEGATIVE_INFINITY;
  private tokens: number;
  private refilledAt: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    limits: RateLimits,
    private readonly now: () => number = () => performance.now(),
  ) {
    const rpm = positive(limits.requestsPerMinute);
    const tpm = positive(limits.tokensPerMinute);
    this.intervalMs = rpm === undefined ? undefined : 60_000 / rpm;
    this.capacity = tpm;
    this.refillPerMs = tpm === undefined ? 0 : tpm / 60_000;
    this.tokens = tpm ?? 0;
    this.refilledAt = this.now();
    this.toleranceMs = this.intervalMs === undefined ? 0 : Math.min(this.intervalMs / 4, 100);
  }

  /** Resolves when a request estimated at `estimatedTokens` may be sent; rejects (AbortError) when `signal` aborts first. */
  acquire(estimatedTokens: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const tokens = sanitize(estimatedTokens);
    if (this.queue.length === 0 && this.delayFor(tokens) <= 0) {
      this.grant(tokens, false);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { tokens, resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => this.abandon(waiter);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
      this.pump();
    });
  }

  /** Corrects a reservation: refunds an overestimate (waking waiters), charges an underestimate. */
  settle(estimatedTokens: number, actualTokens: number): void {
    if (this.capacity === undefined) return;
    this.refill();
    this.tokens = Math.min(this.capacity, this.tokens + sanitize(estimatedTokens) - sanitize(actualTokens));
    this.pump();
  }

  private pump(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    for (let head = this.queue[0]; head !== undefined; head = this.queue[0]) {
      const delay = this.delayFor(head.tokens);
      if (delay > 0) {
        // ceil: a timer firing a fraction of a ms early would only reschedule itself.
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, Math.max(1, Math.ceil(delay)));
        return;
      }
      this.queue.shift();
      this.detach(head);
      this.grant(head.tokens, true);
      head.resolve();
    }
  }

  /** ms until a request of `tokens` may go; <= 0 = now. */
  private delayFor(tokens: number): number {
    const now = this.now();
    let delay = 0;
    if (this.intervalMs !== undefined) delay = this.nextRequestAt - now;
    if (this.capacity !== undefined) {
      this.refill(now);
      // An estimate above the capacity could never fit: it waits for a full bucket instead.
      const needed = Math.min(tokens, this.capacity);
      if (this.tokens < needed) delay = Math.max(delay, (needed - this.tokens) / this.refillPerMs);
    }
    return delay;
  }

  private grant(tokens: number, fromQueue: boolean): void {
    const now = this.now();
    if (this.intervalMs !== undefined) {
      // A queued waiter's timer fires a little late; basing the next slot on its slot rather than
      // on the late grant keeps a backlog at exactly rpm instead of drifting slower. Only small
      // lateness counts as the timer's, so an idle limiter never banks time for a burst.
      const onSlot = fromQueue && now - this.nextRequestAt <= this.toleranceMs;
      this.nextRequestAt = (onSlot ? this.nextRequestAt : now) + this.intervalMs;
    }
    if (this.capacity !== undefined) {
      this.refill(now);
      // May go negative for an oversized estimate: later requests then wait for the debt.
      this.tokens -= tokens;
    }
  }

  private refill(now: number = this.now()): void {
    if (this.capacity === undefined) return;
    const elapsed = Math.max(0, now - this.refilledAt);
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.refillPerMs);
    this.refilledAt = now;
  }

  /** Nothing is reserved until a waiter is granted, so leaving the queue is all there is to release. */
  private abandon(waiter: Waiter): void {
    const index = this.queue.indexOf(waiter);
    if (index < 0) return;
    this.queue.splice(index, 1);
    this.detach(waiter);
    waiter.reject(abortError(waiter.signal));
    // The head may have left: whoever is next might be able to go now.
    if (index === 0) this.pump();
  }

  private detach(waiter: Waiter): void {
    if (waiter.signal !== undefined && waiter.onAbort !== undefined) waiter.signal.removeEventListener('abort', waiter.onAbort);
  }
}

function abortError(signal: AbortSignal | undefined): Error {
  const error = new Error('rate limiter wait aborted', { cause: signal?.reason });
  error.name = 'AbortError';
  return error;
}

function positive(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}

function sanitize(tokens: number): number {
  return Number.isFinite(tokens) && tokens > 0 ? tokens : 0;
}
