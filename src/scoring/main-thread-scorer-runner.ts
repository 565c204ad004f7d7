import { setMaxListeners } from 'node:events';
import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import { LlmCallError } from '../llm/llm-call-error.js';
import { LlmEndpointRegistry } from '../llm/llm-endpoint-registry.js';
import { costUsd, LlmJudge } from '../llm/llm-judge.js';
import type { LlmRuntimeSpec } from '../llm/llm-scorer-spec.js';
import { LlmTransport } from '../llm/llm-transport.js';
import { ScorerGovernor, type ScorerStatus } from '../llm/scorer-governor.js';
import type { TokenUsage } from '../llm/token-usage.js';
import { AutoevalsScorer } from './autoevals-scorer.js';
import type { MainThreadScorerSpec } from './rule-spec.js';
import type { ScoreOutcome, ScorerArgs } from './scorer-args.js';
import { shortRepr, type ScorerTask } from './scorer-worker.js';
import type { ScoringBatchRunner } from './scoring-queue.js';
import { epochNanos } from './epoch-clock.js';

export interface MainThreadScorerRunnerOptions {
  scorers: MainThreadScorerSpec[];
  metrics: Pick<DaemonMetrics, 'llmTokens' | 'llmCost' | 'llmCalls' | 'scorerState' | 'scorerSpentToday' | 'scorerSkipped'>;
  logger: Logger;
  /** Where `autoevals` is looked for: the config file's directory, then spanscore's own. */
  autoevalsResolveFrom: readonly string[];
}

interface Runnable {
  spec: MainThreadScorerSpec;
  governor: ScorerGovernor;
  transport: LlmTransport | undefined;
  judge: LlmJudge | undefined;
  autoevals: AutoevalsScorer | undefined;
}

const STATES = ['active', 'paused', 'over budget'] as const;

/**
 * Runs the I/O-bound scorers (native LLM judges, autoevals) on the main thread. An LLM call
 * is a few microseconds of CPU (render a prompt, parse a small JSON) around seconds of waiting;
 * a worker thread per call would only add copying, and the state every call must share (the
 * endpoint's rate limit, the day's spend, a pause after a 401) lives in one place here. The
 * CPU-bound kinds stay in the Piscina pool.
 *
 * Each scorer has its own ScoringQueue in front of this runner whose in-flight limit is the
 * scorer's `max_concurrency`, so a slow or rate-limited judge queues (and sheds) alone.
 */
export class MainThreadScorerRunner implements ScoringBatchRunner {
  readonly workers = 1;
  readonly #scorers = new Map<string, Runnable>();
  readonly #options: MainThreadScorerRunnerOptions;
  readonly #closing = new AbortController();

  constructor(options: MainThreadScorerRunnerOptions) {
    this.#options = options;
    // Every call in flight listens on it (and lets go when done): hundreds is normal, not a leak.
    setMaxListeners(0, this.#closing.signal);
    const endpoints = new LlmEndpointRegistry(options.scorers.flatMap((spec) => (spec.runtime ? [spec.runtime] : [])));
    for (const spec of options.scorers) {
      const runtime = spec.runtime;
      const transport = runtime && this.#transport(spec, runtime, endpoints);
      const governor = new ScorerGovernor({
        scorer: spec.name,
        ...(runtime?.budgetUsdPerDay !== undefined && { budgetUsdPerDay: runtime.budgetUsdPerDay }),
        logger: options.logger,
        onChange: (status) => this.#publish(spec.name, status),
      });
      const judge = spec.kind === 'llm' ? new LlmJudge(spec.judge, spec.runtime, transport!) : undefined;
      this.#scorers.set(spec.name, { spec, governor, transport, judge, autoevals: undefined });
      this.#publish(spec.name, governor.status);
    }
  }

  /** Imports the autoevals scorers; throws (AutoevalsUnavailableError) when one cannot be used. */
  async start(): Promise<void> {
    for (const scorer of this.#scorers.values()) {
      if (scorer.spec.kind === 'autoevals') scorer.autoevals = await AutoevalsScorer.load(scorer.spec, this.#options.autoevalsResolveFrom);
    }
  }

  /** Each scorer's state, for the admin API and logs. */
  statuses(): Record<string, ScorerStatus> {
    const statuses: Record<string, ScorerStatus> = {};
    for (const [name, scorer] of this.#scorers) statuses[name] = scorer.governor.status;
    return statuses;
  }

  /** Lifts pauses (a config reload: the key or model may be fixed now). */
  resume(): void {
    for (const scorer of this.#scorers.values()) scorer.governor.resume();
  }

  /** Adds spend recorded before a restart, so a crash loop cannot bypass a budget. */
  recordEarlierSpend(scorer: string, usd: number): void {
    this.#scorers.get(scorer)?.governor.recordSpend(usd);
  }

  /** Aborts calls in flight; they end as errors. */
  close(): void {
    this.#closing.abort();
  }

  /**
   * Outcomes by task id. A task of a paused or over-budget scorer gets no outcome (an empty
   * list): it is not run and not stored, only counted as skipped.
   */
  async runBatch(tasks: ScorerTask[]): Promise<Map<number, ScoreOutcome[]>> {
    const results = await Promise.all(tasks.map(async (task) => [task.id, await this.#run(task)] as const));
    return new Map(results);
  }

  async #run(task: ScorerTask): Promise<ScoreOutcome[]> {
    const scorer = this.#scorers.get(task.scorer);
    if (scorer === undefined) return [failure(task.scorer, `scorer "${task.scorer}" is not configured`, epochNanos(), 0, {})];
    const refusal = scorer.governor.refusal();
    if (refusal !== undefined) {
      this.#options.metrics.scorerSkipped.inc({ scorer: task.scorer, reason: refusal.state === 'paused' ? 'paused' : 'over_budget' });
      return [];
    }
    const startedAt = epochNanos();
    const start = process.hrtime.bigint();
    const elapsedNs = () => Number(process.hrtime.bigint() - start);
    const model = scorer.spec.runtime?.model ?? '';
    try {
      if (scorer.judge !== undefined) {
        const judgement = await scorer.judge.judge(task.args, this.#closing.signal);
        this.#account(scorer, model, judgement.usage, 'ok');
        const metadata = { choice: judgement.choice, rationale: judgement.reasons, model: judgement.model, ...usageDetails(judgement.usage, judgement.costUsd), attempts: judgement.attempts };
        return [{ scorer: task.scorer, score: judgement.score, error: '', metadata, durationNs: elapsedNs(), startedAt }];
      }
      return [await this.#runAutoevals(scorer, task.args, model, startedAt, elapsedNs)];
    } catch (error) {
      return [this.#failed(scorer, model, error, startedAt, elapsedNs())];
    }
  }

  async #runAutoevals(scorer: Runnable, args: ScorerArgs, model: string, startedAt: string, elapsedNs: () => number): Promise<ScoreOutcome> {
    const name = scorer.spec.name;
    if (scorer.autoevals === undefined) throw new Error(`scorer "${name}": autoevals is not loaded (the runner was not started)`);
    const { value, usage } = await scorer.autoevals.score(args, scorer.transport);
    const cost = this.#account(scorer, model, usage, 'ok');
    const result = value as { score?: unknown; metadata?: unknown } | null;
    const score = result?.score;
    if (typeof result !== 'object' || result === null || !(score === null || (typeof score === 'number' && score >= 0 && score <= 1))) {
      return failure(name, `scorer "${name}" (autoevals ${scorer.spec.kind === 'autoevals' ? scorer.spec.autoevals : ''}) returned ${shortRepr(value)}, not a score`, startedAt, elapsedNs(), {});
    }
    const metadata = { ...jsonObject(result.metadata), ...(model && { model }), ...usageDetails(usage, cost) };
    return { scorer: name, score: score as number | null, error: '', metadata, durationNs: elapsedNs(), startedAt };
  }

  /** Counts tokens, cost and the call; pauses the scorer on an auth or unknown-model error. */
  #account(scorer: Runnable, model: string, usage: TokenUsage | undefined, outcome: string): number | null {
    const { metrics } = this.#options;
    const labels = { scorer: scorer.spec.name, model: model || 'default' };
    metrics.llmCalls.inc({ ...labels, outcome });
    if (usage === undefined) return null;
    metrics.llmTokens.inc({ ...labels, type: 'input' }, usage.inputTokens);
    metrics.llmTokens.inc({ ...labels, type: 'output' }, usage.outputTokens);
    const cost = costUsd(scorer.spec.runtime?.price, usage);
    if (cost !== null) {
      metrics.llmCost.inc(labels, cost);
      scorer.governor.recordSpend(cost);
    }
    return cost;
  }

  #failed(scorer: Runnable, model: string, error: unknown, startedAt: string, durationNs: number): ScoreOutcome {
    const name = scorer.spec.name;
    if (!(error instanceof LlmCallError)) {
      this.#account(scorer, model, undefined, 'error');
      const text = error instanceof Error ? `${error.name}: ${error.message}` : shortRepr(error);
      return failure(name, `scorer "${name}" failed: ${text}`, startedAt, durationNs, {});
    }
    const cost = this.#account(scorer, model, error.usage, error.failure);
    if (error.pausesScorer) scorer.governor.pause(error.message);
    const details = { ...(model && { model }), attempts: error.attempts, ...(error.status !== undefined && { status: error.status }), ...usageDetails(error.usage, cost) };
    const paused = error.pausesScorer ? ' (scorer paused until the config is reloaded)' : '';
    return failure(name, `scorer "${name}": ${error.message}${paused}`, startedAt, durationNs, details);
  }

  #transport(spec: MainThreadScorerSpec, runtime: LlmRuntimeSpec, endpoints: LlmEndpointRegistry): LlmTransport {
    return new LlmTransport({
      baseUrl: runtime.baseUrl,
      apiKey: runtime.apiKey,
      limiter: endpoints.limiterFor(runtime),
      retry: runtime.retry,
      attemptTimeoutMs: spec.timeoutMs,
      logger: this.#options.logger.child({ scorer: spec.name }),
    });
  }

  #publish(scorer: string, status: ScorerStatus): void {
    for (const state of STATES) this.#options.metrics.scorerState.set({ scorer, state }, status.state === state ? 1 : 0);
    this.#options.metrics.scorerSpentToday.set({ scorer }, status.spentTodayUsd);
  }
}

function usageDetails(usage: TokenUsage | undefined, cost: number | null): Record<string, unknown> {
  if (usage === undefined) return {};
  return { tokens: { input: usage.inputTokens, output: usage.outputTokens }, cost_usd: cost };
}

function jsonObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  try {
    return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function failure(scorer: string, error: string, startedAt: string, durationNs: number, metadata: Record<string, unknown>): ScoreOutcome {
  return { scorer, score: null, error, metadata, durationNs, startedAt };
}
