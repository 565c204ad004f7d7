import type { Gauge } from 'prom-client';
import { estimateRowsBytes, SERVER_SPAN_MEMORY } from '../pipeline/span-size.js';
import type { SpanRow } from '../pipeline/span-row.js';

/**
 * The memory scoring keeps alive for a span until its tasks are done: the stored row and the
 * scorer arguments built from it (a copy of its attributes for the span view, plus the parsed
 * fields), so about twice the row, estimated as the pipeline estimates rows in flight (the
 * JS side only: by then the embedded engine's copy of the insert is gone). O(size of the row).
 */
export function scoringSpanBytes(span: SpanRow): number {
  return 2 * estimateRowsBytes([span], SERVER_SPAN_MEMORY);
}

/**
 * What the scoring queues of one processor hold, in estimated bytes, against a budget
 * (`memory_limiter.scoring_limit_mib`). Shedding follows this, and the tasks' count against
 * `scoring.queue_size`, rather than the process's RSS: RSS stays high for long after a burst
 * (V8 keeps the heap it grew, the allocator its pages) while the queues are empty, and
 * scoring then shed for 20+ minutes with nothing queued. What scoring holds is known exactly
 * and goes down as soon as the tasks are done.
 */
export class ScoringMemory {
  readonly limitBytes: number;
  readonly #gauge: Gauge | undefined;
  #bytes = 0;

  constructor(limitBytes = Number.POSITIVE_INFINITY, gauge?: Gauge) {
    if (!(limitBytes > 0)) throw new RangeError(`scoring memory limit must be positive, got ${limitBytes}`);
    this.limitBytes = limitBytes;
    this.#gauge = gauge;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Whether a task of `bytes` may be queued now. Always when nothing is held: a span larger
   * than the whole budget is still scored, alone.
   */
  admits(bytes: number): boolean {
    return this.#bytes === 0 || this.#bytes + bytes <= this.limitBytes;
  }

  /** Past half the budget: optional work (recovery) waits, so that live tasks keep the rest. */
  get nearlyFull(): boolean {
    return this.#bytes > this.limitBytes / 2;
  }

  hold(bytes: number): void {
    this.#bytes += bytes;
    this.#gauge?.set(this.#bytes);
  }

  release(bytes: number): void {
    // Floating-point shares of a span may not add up to exactly zero.
    this.#bytes = Math.max(0, this.#bytes - bytes);
    if (this.#bytes < 1) this.#bytes = 0;
    this.#gauge?.set(this.#bytes);
  }
}
