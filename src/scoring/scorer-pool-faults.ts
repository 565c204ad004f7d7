/**
 * The main-thread side of a worker that died: which call it died of, as the worker published
 * it in shared memory, and how to say why in the culprit's error row.
 */
import type { ResourceLimits } from 'node:worker_threads';
import type { WorkerScorerSpec as ScorerSpec } from './rule-spec.js';
import { CallProgress, FaultKind, FOREIGN_TASK } from './scorer-pool-protocol.js';
import { shortRepr, thrownText } from './scorer-worker.js';

/** The call pinned as the reason a worker call failed. */
export interface Culprit {
  position: number;
  /** hrtime (ns) when it started. */
  startedHr: bigint;
}

/** What a dying worker published about its death (see `CallProgress`). */
export interface PublishedFault {
  kind: bigint;
  code: number;
  /** Set when the fault came from a call of this batch. */
  culprit?: Culprit;
  /** The fault came from a call of an earlier batch, still running in the background. */
  foreign: boolean;
}

/** The synchronous call a worker has published as running, if any. */
export function runningCall(progress: BigInt64Array): Culprit | undefined {
  const running = Atomics.load(progress, CallProgress.RUNNING);
  if (running === 0n) return undefined;
  return { position: Number(running) - 1, startedHr: Atomics.load(progress, CallProgress.STARTED) };
}

export function publishedFault(progress: BigInt64Array): PublishedFault | undefined {
  const kind = Atomics.load(progress, CallProgress.FAULT_KIND);
  if (kind === FaultKind.NONE) return undefined;
  const task = Atomics.load(progress, CallProgress.FAULT_TASK);
  return {
    kind,
    code: Number(Atomics.load(progress, CallProgress.FAULT_CODE)),
    culprit: task > 0n ? { position: Number(task) - 1, startedHr: Atomics.load(progress, CallProgress.FAULT_STARTED) } : undefined,
    foreign: task === FOREIGN_TASK,
  };
}

/**
 * Worker heap limits for a memory budget: V8 kills a thread past them with
 * ERR_WORKER_OUT_OF_MEMORY instead of taking the process down, or swapping it to a halt. The
 * young generation gets a small share (it is scratch space, where big allocations do not stay
 * long), the old generation the rest, so the budget bounds the whole heap.
 */
export function workerResourceLimits(memoryMib: number): ResourceLimits {
  const young = Math.max(2, Math.min(16, Math.floor(memoryMib / 16)));
  return { maxOldGenerationSizeMb: Math.max(memoryMib - young, 8), maxYoungGenerationSizeMb: young };
}

export function isOutOfMemory(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
}

/** Why the culprit's worker died, for `scorer "x" crashed its worker: <this>`. */
export function crashDescription(spec: ScorerSpec, error: unknown, fault: PublishedFault | undefined, memoryMib: number): string {
  if (isOutOfMemory(error)) return `out of memory (heap limit ${memoryMib} MiB)`;
  switch (fault?.kind) {
    case FaultKind.EXIT:
      return `called process.exit(${fault.code})`;
    case FaultKind.UNCAUGHT_EXCEPTION:
      return `threw in a callback: ${thrownText(spec, error)}`;
    case FaultKind.UNHANDLED_REJECTION:
      return `left a promise rejection unhandled: ${rejectionText(spec, error)}`;
    default:
      return error instanceof Error ? error.message : shortRepr(error);
  }
}

/**
 * Node wraps a rejection with a non-Error reason in ERR_UNHANDLED_REJECTION, whose message is
 * a paragraph of advice ending with the reason; the reason is what the user wants to see.
 */
function rejectionText(spec: ScorerSpec, error: unknown): string {
  if ((error as { code?: unknown } | null)?.code !== 'ERR_UNHANDLED_REJECTION') return thrownText(spec, error);
  const reason = /rejected with the reason "(.*)"\.$/s.exec((error as Error).message)?.[1];
  return reason ?? thrownText(spec, error);
}
