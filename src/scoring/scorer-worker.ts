/**
 * The Piscina worker: runs one batch of scorer calls and returns validated outcomes.
 *
 * Runs in a worker thread, so a CPU-heavy or hanging scorer cannot stall ingestion; the pool
 * (scorer-pool.ts) stops synchronous hangs by terminating the thread, watching the progress
 * this worker publishes, and pins crashes on the call they came from (WorkerCall). Here we
 * only enforce what can be enforced without killing the thread: async scorers race their
 * deadline, and a synchronous call that overran it but returned before the watchdog noticed
 * is reported as timed out all the same.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { builtinScorers } from './builtins/index.js';
import type { ScoreOutcome, ScorerArgs } from './scorer-args.js';
import type { ScorerFunction } from './scorer-function.js';
import type { WorkerScorerSpec as ScorerSpec } from './rule-spec.js';
import { epochNanos } from './epoch-clock.js';
import type { ScorerBatchReply, ScorerTaskResult } from './scorer-pool-protocol.js';
import { WorkerCall } from './scorer-pool-worker-call.js';

export type { ScorerTaskResult } from './scorer-pool-protocol.js';

/** One scorer call. `id` is unique within its batch and echoed in the result. */
export interface ScorerTask {
  id: number;
  /** A scorer name; its spec travels in `ScorerBatch.scorers`. */
  scorer: string;
  args: ScorerArgs;
}

export interface ScorerBatch {
  /** The specs of the scorers this batch uses (only those), with `timeoutMs` resolved. */
  scorers: ScorerSpec[];
  tasks: ScorerTask[];
  /**
   * Shared with the pool (a SharedArrayBuffer): which synchronous call is running and since
   * when, so that a hang is caught at its own deadline and pinned on its own task, and which
   * task a crash came from. Layout: `CallProgress`.
   */
  progress?: BigInt64Array;
  /** Tags the results streamed while the batch runs; none streamed without it. */
  call?: number;
}

/** The text every "bad return value" error shares, so users can grep for it. */
export const NOT_A_SCORE = 'not a score (a number in 0..1, a boolean, null, {score}, or [{name, score}])';

/**
 * Scorer functions, resolved once per worker: a user module is imported (and a built-in
 * built, with its option validation) on first use only. Keyed by the whole spec, so a config
 * reload that changes a scorer under the same name gets a fresh function. A failed resolution
 * is cached too: every task of a broken scorer fails fast with the same message.
 */
const resolvedScorers = new Map<string, Promise<ScorerFunction>>();

export default async function runScorerBatch(batch: ScorerBatch): Promise<ScorerBatchReply> {
  const call = new WorkerCall(batch.progress, batch.call);
  const scorers = new Map(batch.scorers.map((spec) => [spec.name, { spec, resolved: resolveScorer(spec) }]));
  try {
    // Calls start in order and async ones overlap: a batch of LLM judges waits for the slowest
    // call, not for the sum. Synchronous scorers run to completion one after the other anyway.
    await Promise.all(
      batch.tasks.map(async (task, position): Promise<void> => {
        // Handed over the moment they exist, not an await later: synchronous calls run back to
        // back, and what finished before a hang must be there to stream when it starts.
        const done = (outcomes: ScoreOutcome[]) => call.finished({ id: task.id, outcomes } satisfies ScorerTaskResult);
        const scorer = scorers.get(task.scorer);
        if (scorer === undefined) done([failure(task.scorer, `scorer "${task.scorer}" is not configured`, epochNanos(), 0)]);
        else await runTask(scorer.spec, scorer.resolved, task.args, position, call, done);
      }),
    );
  } catch (error) {
    // A worker bug; still end the call, or it would take the blame for later crashes.
    call.end();
    throw error;
  }
  return call.end();
}

async function runTask(
  spec: ScorerSpec,
  resolved: Promise<ScorerFunction>,
  args: ScorerArgs,
  position: number,
  call: WorkerCall,
  done: (outcomes: ScoreOutcome[]) => void,
): Promise<void> {
  let scorer: ScorerFunction;
  try {
    scorer = await resolved;
  } catch (error) {
    return done([failure(spec.name, `scorer "${spec.name}" could not be loaded: ${messageOf(error)}`, epochNanos(), 0)]);
  }

  const startedAt = epochNanos();
  const start = process.hrtime.bigint();
  const elapsedNs = () => Number(process.hrtime.bigint() - start);
  let returned: unknown;
  try {
    returned = call.run(position, start, spec.kind === 'module', () => scorer(args));
    if (isThenable(returned)) returned = await withDeadline(returned, spec.timeoutMs);
  } catch (error) {
    const message = error === TIMED_OUT ? timedOutMessage(spec) : threwMessage(spec, error);
    return done([failure(spec.name, message, startedAt, elapsedNs())]);
  }
  const durationNs = elapsedNs();
  if (durationNs > spec.timeoutMs * 1e6) return done([failure(spec.name, timedOutMessage(spec), startedAt, durationNs)]);
  done(toOutcomes(spec, returned, startedAt, durationNs));
}

function resolveScorer(spec: ScorerSpec): Promise<ScorerFunction> {
  const key = JSON.stringify(spec);
  let resolved = resolvedScorers.get(key);
  if (resolved === undefined) {
    resolved = loadScorer(spec);
    // The rejection is handled by every awaiting task; this keeps an unawaited one quiet.
    resolved.catch(() => {});
    resolvedScorers.set(key, resolved);
  }
  return resolved;
}

async function loadScorer(spec: ScorerSpec): Promise<ScorerFunction> {
  if (spec.kind === 'builtin') {
    const factory = Object.hasOwn(builtinScorers, spec.builtin) ? builtinScorers[spec.builtin] : undefined;
    if (factory === undefined) {
      throw new Error(`unknown built-in "${spec.builtin}" (known: ${Object.keys(builtinScorers).join(', ')})`);
    }
    return factory(spec.options);
  }
  const exportName = spec.exportName || 'default';
  const module = (await import(pathToFileURL(spec.module).href)) as Record<string, unknown>;
  const exported = module[exportName];
  if (typeof exported !== 'function') {
    throw new Error(`export "${exportName}" of ${spec.module} is ${shortRepr(exported)}, not a function`);
  }
  return exported as ScorerFunction;
}

/** Turns whatever the scorer returned into outcomes, or one error outcome naming the value. */
function toOutcomes(spec: ScorerSpec, returned: unknown, startedAt: string, durationNs: number): ScoreOutcome[] {
  const invalid = () => [failure(spec.name, `scorer "${spec.name}" returned ${shortRepr(returned)}, ${NOT_A_SCORE}`, startedAt, durationNs)];
  const value = withBooleanScores(returned);
  if (value === null || isScoreNumber(value)) {
    return [{ scorer: spec.name, score: value, error: '', metadata: {}, durationNs, startedAt }];
  }
  if (Array.isArray(value)) {
    // An empty array would leave no trace of the call; a module with nothing to say returns null.
    if (value.length === 0 || !value.every(isNamedScore)) return invalid();
    const outcomes: ScoreOutcome[] = [];
    for (const element of value) {
      const metadata = jsonMetadata(element.metadata);
      if (metadata === undefined) return invalid();
      // Prefixed with the configured name: two modules of one rule may both return
      // "accuracy", and scores are replaced per (trace, span, rule, scorer).
      outcomes.push({ scorer: `${spec.name}.${element.name}`, score: element.score, error: '', metadata, durationNs, startedAt });
    }
    return outcomes;
  }
  if (isScoreObject(value)) {
    const metadata = jsonMetadata(value.metadata);
    if (metadata === undefined) return invalid();
    // A single score is stored under the configured scorer name, whatever `name` says
    // (built-ins answer with their class name, e.g. "ExactMatch"), so rules and rows agree.
    return [{ scorer: spec.name, score: value.score, error: '', metadata, durationNs, startedAt }];
  }
  return invalid();
}

/**
 * true / false count as 1 / 0, as in Braintrust, whether returned alone, as `{score}` or in a
 * list of named scores: a pass/fail check need not be written as a number.
 */
function withBooleanScores(value: unknown): unknown {
  const asNumber = (score: unknown): unknown => (typeof score === 'boolean' ? Number(score) : score);
  const inObject = (element: unknown): unknown =>
    typeof element === 'object' && element !== null && !Array.isArray(element) && typeof (element as { score?: unknown }).score === 'boolean'
      ? { ...element, score: asNumber((element as { score: boolean }).score) }
      : element;
  if (Array.isArray(value)) return value.map(inObject);
  return inObject(asNumber(value));
}

function isScoreNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1;
}

function isScoreObject(value: unknown): value is { score: number | null; metadata?: unknown } {
  if (typeof value !== 'object' || value === null || !('score' in value)) return false;
  const { score } = value as { score: unknown };
  return score === null || isScoreNumber(score);
}

function isNamedScore(value: unknown): value is { name: string; score: number | null; metadata?: unknown } {
  if (!isScoreObject(value)) return false;
  const { name } = value as { name?: unknown };
  return typeof name === 'string' && name !== '';
}

/**
 * Metadata ends up as JSON text in `scores.Details`, and must survive the trip back to the
 * main thread; a JSON round trip gives both (and drops functions, undefined, ...).
 * undefined = not acceptable (not an object, or not serializable).
 */
function jsonMetadata(metadata: unknown): Record<string, unknown> | undefined {
  if (metadata === undefined || metadata === null) return {};
  if (typeof metadata !== 'object' || Array.isArray(metadata)) return undefined;
  try {
    return JSON.parse(JSON.stringify(metadata)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const TIMED_OUT = Symbol('timed out');

function withDeadline<T>(promise: PromiseLike<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(TIMED_OUT), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** The same wording the pool uses when it has to terminate a hung worker. */
export function timedOutMessage(spec: Pick<ScorerSpec, 'name' | 'timeoutMs'>): string {
  return `scorer "${spec.name}" timed out after ${spec.timeoutMs} ms`;
}

function threwMessage(spec: ScorerSpec, error: unknown): string {
  return `scorer "${spec.name}" threw ${thrownText(spec, error)}`;
}

/** `Name: message (at file:line:col)` of what a scorer threw; the pool uses it for crashes too. */
export function thrownText(spec: ScorerSpec, error: unknown): string {
  if (!(error instanceof Error)) return shortRepr(error);
  const location = spec.kind === 'module' ? throwingFrameIn(error, spec.module) : undefined;
  return `${error.name}: ${error.message}${location === undefined ? '' : ` (at ${location})`}`;
}

/**
 * `path:line:column` of the topmost stack frame inside the user's module, so the message
 * points at the user's code rather than at ours. ESM frames name the file as a file: URL.
 */
function throwingFrameIn(error: Error, modulePath: string): string | undefined {
  const stack = typeof error.stack === 'string' ? error.stack : '';
  const moduleUrl = pathToFileURL(modulePath).href;
  for (const line of stack.split('\n')) {
    const frame = /(file:\/\/\/?[^\s()]+|\/[^\s()]+):(\d+):(\d+)\)?\s*$/.exec(line);
    if (frame === null) continue;
    const [, file, lineNo, column] = frame;
    const path = file.startsWith('file:') ? safeFileUrlToPath(file) : file;
    if (file === moduleUrl || path === modulePath) return `${modulePath}:${lineNo}:${column}`;
  }
  return undefined;
}

function safeFileUrlToPath(url: string): string | undefined {
  try {
    return fileURLToPath(url);
  } catch {
    return undefined;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : shortRepr(error);
}

/** A one-line, bounded rendering of any value for error messages. */
export function shortRepr(value: unknown): string {
  const text =
    typeof value === 'string'
      ? JSON.stringify(value)
      : inspect(value, { depth: 1, breakLength: Infinity, maxArrayLength: 5, maxStringLength: 60, compact: true });
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}

function failure(scorer: string, error: string, startedAt: string, durationNs: number): ScoreOutcome {
  return { scorer, score: null, error, metadata: {}, durationNs, startedAt };
}
