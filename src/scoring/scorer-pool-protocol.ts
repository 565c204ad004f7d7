/**
 * What the scorer pool (main thread) and its worker share about one worker call besides the
 * batch itself: a progress array in shared memory, readable after the thread died, and the
 * reply. Kept apart from both so neither drags the other's code into its thread.
 */
import type { ScoreOutcome } from './scorer-args.js';

/**
 * Slots of `ScorerBatch.progress`, a BigInt64Array over a SharedArrayBuffer. Shared memory
 * rather than messages, because the pool must be able to read it while the worker spins in a
 * synchronous loop or after the thread has died.
 *
 * RUNNING: position in `tasks` plus one of the synchronous call running now (0 = none).
 * STARTED: its `process.hrtime.bigint()` start, the same monotonic clock in every thread.
 *   STARTED is written before RUNNING and read after it, so a reader never pairs a call with
 *   an older start.
 * FAULT_TASK: which task the worker blamed for killing it: position plus one, FOREIGN_TASK for
 *   a call of an earlier batch still running in the background, 0 when it could not tell.
 * FAULT_KIND: a `FaultKind`; written last, so a reader that sees it sees the rest.
 * FAULT_CODE: the exit code, for FaultKind.EXIT.
 * FAULT_STARTED: when the blamed task's call started (hrtime ns).
 * THREAD: the `threadId` of the worker running the call, written when it starts.
 */
export const CallProgress = {
  RUNNING: 0,
  STARTED: 1,
  FAULT_TASK: 2,
  FAULT_KIND: 3,
  FAULT_CODE: 4,
  FAULT_STARTED: 5,
  THREAD: 6,
  SLOTS: 7,
} as const;

export const FOREIGN_TASK = -1n;

/** How a worker thread died, as far as its own JavaScript could still see. */
export const FaultKind = {
  NONE: 0n,
  /** A throw nobody caught, in a timer or event callback. */
  UNCAUGHT_EXCEPTION: 1n,
  /** A rejected promise nobody handled (Node's default mode turns it into a crash). */
  UNHANDLED_REJECTION: 2n,
  /** `process.exit()`, which in a worker ends the thread. */
  EXIT: 3n,
} as const;

export interface ScorerTaskResult {
  id: number;
  outcomes: ScoreOutcome[];
}

/**
 * What a worker call resolves with. Results already streamed while the call ran are not
 * repeated here; `streamed` says how many there were, so the pool knows to wait for them
 * (they travel on another port, with no ordering against the reply).
 */
export interface ScorerBatchReply {
  results: ScorerTaskResult[];
  streamed: number;
}

export function newCallProgress(): BigInt64Array {
  return new BigInt64Array(new SharedArrayBuffer(CallProgress.SLOTS * BigInt64Array.BYTES_PER_ELEMENT));
}

/** Results a worker posts on its `parentPort` while call `call` (`ScorerBatch.call`) runs. */
export interface StreamedResults {
  type: typeof STREAMED_RESULTS;
  call: number;
  results: ScorerTaskResult[];
}

const STREAMED_RESULTS = 'spanscore.scorer-results';

export function streamedResults(call: number, results: ScorerTaskResult[]): StreamedResults {
  return { type: STREAMED_RESULTS, call, results };
}

export function isStreamedResults(message: unknown): message is StreamedResults {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === STREAMED_RESULTS;
}
