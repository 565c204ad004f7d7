/** retry_on_failure, resolved (durations in ms). */
export interface RetrySettings {
  enabled: boolean;
  initialIntervalMs: number;
  maxIntervalMs: number;
  /** 0: retry without a time limit. */
  maxElapsedMs: number;
  multiplier: number;
  randomizationFactor: number;
}

/**
 * A delay asked for by the downstream (Retry-After, RetryInfo) is honoured up to this: a
 * misconfigured server answering "come back tomorrow" must not park a queue slot for a day
 * when max_elapsed_time is 0 (no limit).
 */
export const MAX_SERVER_DELAY_MS = 5 * 60_000;

/**
 * The Collector's backoff (cenkalti/backoff's ExponentialBackOff as exporterhelper configures
 * it), one per request: each delay is the current interval randomised by ±randomizationFactor,
 * the interval grows by `multiplier` up to `maxIntervalMs`, and retrying stops once the delay
 * would take the request past `maxElapsedMs` since its first attempt.
 */
export class ExponentialBackoff {
  private currentIntervalMs: number;
  private readonly startedAt: number;

  constructor(
    private readonly settings: RetrySettings,
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {
    this.currentIntervalMs = settings.initialIntervalMs;
    this.startedAt = now();
  }

  /**
   * The delay before the next attempt, or undefined when no retry is left. `serverDelayMs`
   * replaces the computed delay (the downstream knows when it will be back better than a
   * formula), capped at MAX_SERVER_DELAY_MS and raised to at least the initial interval (at
   * most 1 s), so `Retry-After: 0` on every answer cannot make a busy loop. The interval still
   * grows, as if the computed delay had been used, so a later failure without a server delay
   * backs off as usual.
   */
  next(serverDelayMs?: number): number | undefined {
    const computed = this.randomized(this.currentIntervalMs);
    this.grow();
    const floor = Math.min(this.settings.initialIntervalMs, 1000);
    const delay = serverDelayMs === undefined ? computed : Math.min(Math.max(floor, serverDelayMs), MAX_SERVER_DELAY_MS);
    const { maxElapsedMs } = this.settings;
    // Sleeping past the budget only to give up afterwards would hold the queue slot for nothing.
    if (maxElapsedMs > 0 && this.now() - this.startedAt + delay > maxElapsedMs) return undefined;
    return delay;
  }

  private randomized(intervalMs: number): number {
    const delta = this.settings.randomizationFactor * intervalMs;
    const min = intervalMs - delta;
    return Math.max(0, Math.round(min + this.random() * 2 * delta));
  }

  private grow(): void {
    const { multiplier, maxIntervalMs } = this.settings;
    // Compared before multiplying, as in cenkalti/backoff, so the interval never overshoots the max.
    this.currentIntervalMs = this.currentIntervalMs >= maxIntervalMs / multiplier ? maxIntervalMs : this.currentIntervalMs * multiplier;
  }
}
