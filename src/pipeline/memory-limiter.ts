import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';

/** Ordered: each state implies the restrictions of the ones before it. */
export const MEMORY_STATES = ['ok', 'soft', 'hard'] as const;
export type MemoryState = (typeof MEMORY_STATES)[number];

export interface MemoryLimiterOptions {
  /** How often RSS is sampled in the background. */
  checkIntervalMs: number;
  /** Hard limit: above it ingestion is refused and clients are told to stay away longer. */
  limitBytes: number;
  /** Soft limit (limit - spike): above it ingestion is refused and new scoring tasks are shed. */
  softLimitBytes: number;
  metrics: Pick<DaemonMetrics, 'memoryLimiterRss' | 'memoryLimiterState'>;
  logger: Logger;
  /** Resident set size in bytes. Default `process.memoryUsage.rss()` (one read of /proc/self/stat). */
  rss?: () => number;
  /** Clock for the rate limits below (ms). Default `performance.now()`. */
  now?: () => number;
  /**
   * `refuseIngest` samples RSS again when the last sample is older than this: a burst of large
   * requests can add hundreds of MiB between two background checks. Default 5 ms.
   */
  ingestResampleMs?: number;
  /**
   * A drop to a lower state is logged only once it has lasted this long, so that the expected
   * oscillation around a limit under sustained overload does not flood the log. Default
   * max(5 s, 2 check intervals).
   */
  quietPeriodMs?: number;
  /**
   * Runs a full garbage collection of the main thread's heap; undefined when it cannot. Default:
   * V8's `gc`, exposed at run time (see `exposeGc`).
   */
  gc?: (() => void) | undefined;
  /** Least time between two forced collections above the soft limit. Default 1,000 ms. */
  minGcIntervalSoftMs?: number;
  /** Least time between two forced collections above the hard limit. Default 250 ms. */
  minGcIntervalHardMs?: number;
}

/** Seconds a refused client is asked to wait: soft recovers within a GC or an insert, hard needs longer. */
export const SOFT_RETRY_AFTER_SECONDS = [1, 2] as const;
export const HARD_RETRY_AFTER_SECONDS = [3, 5] as const;

/**
 * The Collector's memory_limiter for a Node process: RSS rather than the Go heap, because the
 * daemon's memory is also the embedded ClickHouse's and the scorer threads', which no JS heap
 * figure sees. Above the soft limit receivers refuse data with a retryable status so that
 * exporters keep it and retry (back-pressure instead of an OOM kill that loses every
 * unacknowledged request), and new scoring tasks are shed (see `shedScoring`).
 *
 * No RSS threshold below the soft limit sheds scoring: RSS is a poor signal of what scoring
 * holds. After a burst it settles well above the working set (V8 keeps the heap it grew, the
 * allocator its pages, the embedded ClickHouse its caches) and stays there while the queues
 * are empty; such a threshold kept scoring shed for 20+ minutes with nothing queued. Scoring
 * sheds on what it actually holds instead: its queues' tasks and their estimated bytes
 * (ScoringMemory, `memory_limiter.scoring_limit_mib`). heapUsed after a forced collection
 * would see through V8's retained heap, but not the scorer threads' or the embedded engine's
 * memory, and a full collection per decision costs a pause of its own.
 *
 * As the Collector does, it forces a garbage collection above the soft limit (rate-limited),
 * and it also bounds what is admitted but not yet stored (see `refuseIngest`): with an
 * embedded ClickHouse most of an insert's memory appears after the check that let it in.
 */
export class MemoryLimiter {
  readonly #limitBytes: number;
  readonly #softLimitBytes: number;
  readonly #checkIntervalMs: number;
  readonly #metrics: MemoryLimiterOptions['metrics'];
  readonly #logger: Logger;
  readonly #rss: () => number;
  readonly #now: () => number;
  readonly #ingestResampleMs: number;
  readonly #quietPeriodMs: number;
  readonly #gc: (() => void) | undefined;
  readonly #minGcIntervalSoftMs: number;
  readonly #minGcIntervalHardMs: number;
  #gcAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #rssBytes = 0;
  #state: MemoryState = 'ok';
  #sampledAt = Number.NEGATIVE_INFINITY;
  /** The state the log last reported; differs from #state while an oscillation is not logged. */
  #loggedState: MemoryState = 'ok';
  /** When #state first dropped below #loggedState (undefined while it has not). */
  #belowLoggedSince: number | undefined;
  /** Peak RSS and refusals since the last warning, for the all-clear line. */
  #episodePeakBytes = 0;
  #episodeRefusedSpans = 0;

  constructor(options: MemoryLimiterOptions) {
    const { limitBytes, softLimitBytes, checkIntervalMs } = options;
    if (!(limitBytes > 0)) throw new RangeError(`memory limiter limitBytes must be positive, got ${limitBytes}`);
    if (!(softLimitBytes > 0 && softLimitBytes <= limitBytes)) {
      throw new RangeError(`memory limiter softLimitBytes must be in (0, limitBytes], got ${softLimitBytes}`);
    }
    if (!(checkIntervalMs > 0)) throw new RangeError(`memory limiter checkIntervalMs must be positive, got ${checkIntervalMs}`);
    this.#limitBytes = limitBytes;
    this.#softLimitBytes = softLimitBytes;
    this.#checkIntervalMs = checkIntervalMs;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#rss = options.rss ?? (() => process.memoryUsage.rss());
    this.#now = options.now ?? (() => performance.now());
    this.#ingestResampleMs = options.ingestResampleMs ?? 5;
    this.#quietPeriodMs = options.quietPeriodMs ?? Math.max(5000, 2 * checkIntervalMs);
    this.#gc = 'gc' in options ? options.gc : exposeGc();
    this.#minGcIntervalSoftMs = options.minGcIntervalSoftMs ?? 1000;
    this.#minGcIntervalHardMs = options.minGcIntervalHardMs ?? 250;
    this.#publishState();
    this.check();
  }

  /** Starts the background checks (idempotent). The timer does not keep the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.check(), this.#checkIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  get state(): MemoryState {
    return this.#state;
  }

  /** RSS at the last check, in bytes. */
  get rssBytes(): number {
    return this.#rssBytes;
  }

  /**
   * Samples RSS now and updates the state, metrics and log. Above the soft limit it first
   * collects garbage (at most every minGcInterval*): V8 sizes its heap against a limit set
   * from the machine's memory, not ours, and would otherwise let the garbage of refused
   * requests pile up, keeping RSS above the limit after the load is gone.
   */
  check(): MemoryState {
    let rss = this.#rss();
    let next = this.#classify(rss);
    const now = this.#now();
    if (this.#gc !== undefined && (next === 'soft' || next === 'hard')) {
      if (now - this.#gcAt >= (next === 'hard' ? this.#minGcIntervalHardMs : this.#minGcIntervalSoftMs)) {
        this.#gcAt = now;
        this.#gc();
        const before = rss;
        rss = this.#rss();
        next = this.#classify(rss);
        this.#logger.debug({ rssMiB: mib(rss), freedMiB: mib(before - rss) }, 'memory limiter forced a garbage collection');
      }
    }
    this.#rssBytes = rss;
    this.#sampledAt = now;
    this.#metrics.memoryLimiterRss.set(rss);
    if (next !== this.#state) {
      this.#state = next;
      this.#publishState();
    }
    if (next !== 'ok') this.#episodePeakBytes = Math.max(this.#episodePeakBytes, rss);
    this.#logTransition();
    return next;
  }

  /**
   * Why new data must be refused now, or undefined to accept it. Samples again when the last
   * sample is more than a few ms old (a cheap read), so a burst is seen before it piles up.
   *
   * `incomingBytes` and `inFlightBytes` are estimates of what this request and those admitted
   * but not yet stored will cost. Their memory shows in RSS only while they are inserted and
   * scored, after the check that let them in, so RSS alone would let a burst of requests
   * through below the soft limit and past the hard one. In flight at once: at most the spike
   * allowance (limit - soft), and at most a third of the room left under the hard limit: the
   * estimate can be short by 2x (a cold embedded ClickHouse costs more per span), and the rest
   * is for what grows on its own meanwhile (the embedded ClickHouse's merges, scorer threads,
   * garbage). No more than the spike even with plenty of room, for the same reason.
   * Never refused on that ground when nothing else is in flight, or a request larger than the
   * allowance could never get in.
   */
  refuseIngest(incomingBytes = 0, inFlightBytes = 0): string | undefined {
    if (this.#now() - this.#sampledAt >= this.#ingestResampleMs) this.check();
    if (this.#state === 'hard') {
      return `memory limit exceeded: RSS ${mib(this.#rssBytes)} MiB is above the hard limit of ${mib(this.#limitBytes)} MiB (memory_limiter.limit_mib)`;
    }
    if (this.#state === 'soft') {
      return `memory is running short: RSS ${mib(this.#rssBytes)} MiB is above the soft limit of ${mib(this.#softLimitBytes)} MiB (memory_limiter.limit_mib - spike_limit_mib)`;
    }
    const allowedBytes = Math.min(this.#limitBytes - this.#softLimitBytes, (this.#limitBytes - this.#rssBytes) / 3);
    if (inFlightBytes > 0 && inFlightBytes + incomingBytes > allowedBytes) {
      return `too much in flight: ~${mib(inFlightBytes)} MiB of spans are being stored, and this request would pass the ${mib(allowedBytes)} MiB allowed now (the least of memory_limiter.spike_limit_mib and a third of the room left under limit_mib)`;
    }
    return undefined;
  }

  /** Seconds to put in Retry-After for a refusal now, jittered so that refused clients do not all come back at once. */
  retryAfterSeconds(): number {
    const [low, high] = this.#state === 'hard' ? HARD_RETRY_AFTER_SECONDS : SOFT_RETRY_AFTER_SECONDS;
    return low + Math.floor(Math.random() * (high - low + 1));
  }

  /**
   * Whether new scoring tasks should be shed: above the soft limit, where RSS stays even after
   * the forced collection `check` runs there, so memory is short indeed. Ingestion is refused
   * then too, so the only new tasks are those of spans admitted just before; holding them
   * would add to what the refusal is trying to free (and recovery finds them later). Below the
   * soft limit scoring sheds on its own queues only (ScoringMemory). Reads the last sample
   * only: it is asked once per task.
   */
  shedScoring(): boolean {
    return this.#state !== 'ok';
  }

  /** Counts refused spans for the all-clear log line (the metric is the pipeline's). */
  noteRefused(spans: number): void {
    this.#episodeRefusedSpans += spans;
  }

  #classify(rss: number): MemoryState {
    if (rss > this.#limitBytes) return 'hard';
    if (rss > this.#softLimitBytes) return 'soft';
    return 'ok';
  }

  #publishState(): void {
    for (const state of MEMORY_STATES) this.#metrics.memoryLimiterState.set({ state }, state === this.#state ? 1 : 0);
  }

  #logTransition(): void {
    const level = MEMORY_STATES.indexOf(this.#state);
    const loggedLevel = MEMORY_STATES.indexOf(this.#loggedState);
    if (level > loggedLevel) {
      this.#belowLoggedSince = undefined;
      this.#loggedState = this.#state;
      this.#logger.warn(
        { state: this.#state, rssMiB: mib(this.#rssBytes), ...this.#limitsMiB() },
        `memory above the ${this.#state} limit: refusing new spans with a retryable status and shedding new scoring tasks`,
      );
      return;
    }
    if (level === loggedLevel) {
      this.#belowLoggedSince = undefined;
      return;
    }
    const now = this.#now();
    this.#belowLoggedSince ??= now;
    if (now - this.#belowLoggedSince < this.#quietPeriodMs) return;
    this.#belowLoggedSince = undefined;
    this.#loggedState = this.#state;
    const episode = { rssMiB: mib(this.#rssBytes), peakRssMiB: mib(this.#episodePeakBytes), refusedSpans: this.#episodeRefusedSpans };
    if (this.#state === 'ok') {
      this.#episodePeakBytes = 0;
      this.#episodeRefusedSpans = 0;
      this.#logger.info({ state: this.#state, ...episode }, 'memory back below the limits: accepting spans and scoring them');
    } else {
      this.#logger.info({ state: this.#state, ...episode }, 'memory back below the hard limit (still above the soft limit)');
    }
  }

  #limitsMiB() {
    return { limitMiB: mib(this.#limitBytes), softLimitMiB: mib(this.#softLimitBytes) };
  }
}

/**
 * V8's full collection without starting node with --expose-gc: the flag set at run time is
 * seen by contexts created afterwards (as jest-leak-detector does). Undefined if that fails.
 */
export function exposeGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / (1024 * 1024));
}
