import type { ScoringTask } from '../scoring-queue.js';

/** A span recovery queued tasks for: what reading it cost, and how many of its tasks are left. */
export interface RecoveredSpan {
  rule: string;
  /** Its size as the page it came in counted it (MissingScores.bytes). */
  bytes: number;
  tasksLeft: number;
  /** At least one of its tasks was scored (not shed). */
  scored: boolean;
  /** Its bytes have moved from its page's reservation to the tasks (see `adopt`). */
  adopted?: boolean;
}

/** A page's bytes, held from before it is read until its spans are adopted or let go. */
export interface Reservation {
  bytes: number;
}

/**
 * What recovery must know of the processor's tasks:
 * - every task of the processor in the queues or scorers, live and recovered, by key, so that
 *   a sweep never queues a second task for a (span, scorer, rule) already on its way;
 * - the bytes recovery holds: pages being read or queued (`reserve`), then the spans whose
 *   tasks are still queued or running (`adopt`), so that a page is read only once it fits
 *   and pages never pile up in memory;
 * - the keys of tasks that finish while a page is being checked (`noteFinished`).
 */
export class RecoveryLedger {
  /** Every task of this processor in the queues or scorers (live and recovered), by taskKey. */
  readonly #inFlight = new Map<string, number>();
  /** The tasks counted in #inFlight: one shed as it is offered never was. */
  readonly #counted = new WeakSet<ScoringTask>();
  readonly #outstanding = new Map<ScoringTask, RecoveredSpan>();
  #heldBytes = 0;
  /** Pages read, or being read, whose spans have not all been adopted or let go yet. */
  #reservedBytes = 0;
  readonly #noting = new Set<Set<string>>();
  #waiters: Array<{ reservation: Reservation; limit: number; wake: () => void }> = [];
  readonly #onSpanDone: (span: RecoveredSpan) => void;

  /** `onSpanDone`: every task of a recovered span has left the queues. */
  constructor(onSpanDone: (span: RecoveredSpan) => void) {
    this.#onSpanDone = onSpanDone;
  }

  /** Recovery's tasks not yet scored or shed. */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  /** Bytes recovery holds: its outstanding tasks' spans, and the pages it reads or queues. */
  get heldBytes(): number {
    return this.#heldBytes + this.#reservedBytes;
  }

  has(key: string): boolean {
    return this.#inFlight.has(key);
  }

  /** A task (live or recovered) entered a queue. Called for every task: O(1). */
  taskQueued(task: ScoringTask): void {
    const key = taskKey(task.span.TraceId, task.span.SpanId, task.scorer, task.rule);
    this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1);
    this.#counted.add(task);
  }

  /**
   * Recovery is about to offer `task` for `span` of the page `from`; call before offering (a
   * refusal reports back from within). The span's bytes move from its page to its tasks.
   */
  adopt(task: ScoringTask, span: RecoveredSpan, from: Reservation): void {
    if (!span.adopted) {
      span.adopted = true;
      const moved = Math.min(span.bytes, from.bytes);
      from.bytes -= moved;
      this.#reservedBytes = Math.max(0, this.#reservedBytes - moved);
    }
    if (span.tasksLeft === 0) this.#heldBytes += span.bytes;
    span.tasksLeft++;
    this.#outstanding.set(task, span);
  }

  /** A task left the queues, scored or shed; true when recovery had queued it. */
  taskDone(task: ScoringTask, scored: boolean): boolean {
    if (this.#counted.delete(task)) {
      const key = taskKey(task.span.TraceId, task.span.SpanId, task.scorer, task.rule);
      const count = this.#inFlight.get(key) ?? 0;
      if (count <= 1) this.#inFlight.delete(key);
      else this.#inFlight.set(key, count - 1);
      for (const finished of this.#noting) finished.add(key);
    }
    const span = this.#outstanding.get(task);
    if (span === undefined) return false;
    this.#outstanding.delete(task);
    span.scored ||= scored;
    if (--span.tasksLeft === 0) {
      this.#heldBytes -= span.bytes;
      this.#onSpanDone(span);
    }
    this.#wake();
    return true;
  }

  /** From now until `stopNoting` of the set returned, the keys of tasks that finish are collected in it. */
  noteFinished(): Set<string> {
    const finished = new Set<string>();
    this.#noting.add(finished);
    return finished;
  }

  stopNoting(finished: Set<string>): void {
    this.#noting.delete(finished);
  }

  /**
   * Resolves once a page of `bytes` fits: what recovery holds, plus it, is at most `limit`
   * (or recovery holds nothing, so that a page always gets in); the page then counts as held
   * until its spans are adopted or it is `unreserve`d. Also resolves at `release()`.
   */
  reserve(bytes: number, limit: number): Promise<Reservation> {
    const reservation: Reservation = { bytes };
    if (this.#fits(bytes, limit)) {
      this.#reservedBytes += bytes;
      return Promise.resolve(reservation);
    }
    return new Promise((wake) => this.#waiters.push({ reservation, limit, wake: () => wake(reservation) }));
  }

  /** Lets go of what is left of a page: its spans that were not queued. */
  unreserve(reservation: Reservation): void {
    this.#reservedBytes = Math.max(0, this.#reservedBytes - reservation.bytes);
    reservation.bytes = 0;
    this.#wake();
  }

  /** Wakes every waiter (recovery stops); their reservations hold nothing. */
  release(): void {
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reservation.bytes = 0;
      waiter.wake();
    }
  }

  #fits(bytes: number, limit: number): boolean {
    const held = this.#heldBytes + this.#reservedBytes;
    return held === 0 || held + bytes <= limit;
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) {
      if (this.#fits(waiter.reservation.bytes, waiter.limit)) {
        this.#reservedBytes += waiter.reservation.bytes;
        waiter.wake();
      } else {
        this.#waiters.push(waiter);
      }
    }
  }
}

export function taskKey(traceId: string, spanId: string, scorer: string, rule: string): string {
  return `${traceId}/${spanId}/${scorer}/${rule}`;
}
