import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkPromptTemplate } from '../llm/prompt-template.js';
import { READY_MADE_JUDGES } from '../llm/ready-made-judges.js';
import type { LlmRuntimeSpec } from '../llm/llm-scorer-spec.js';
import { builtinScorers } from '../scoring/builtins/index.js';
import type { ScorerSpec } from '../scoring/rule-spec.js';
import type { RawConfig } from './config-schema.js';
import type { RawScorer } from './scorer-schema.js';

/** LLM calls take seconds; the CPU scorers' 10 s default would cut slow models off. */
export const DEFAULT_LLM_TIMEOUT_MS = 60_000;
export const DEFAULT_LLM_MAX_CONCURRENCY = 4;
const DEFAULT_RETRY = { maxRetries: 4, initialBackoffMs: 500, maxBackoffMs: 30_000 };

type Problem = (path: PropertyKey[], message: string) => void;

/**
 * The `scorers:` section as specs, every problem reported through `problem` (built-in options
 * are built once here, so bad options fail the load, not the first span). What needs I/O
 * (importing user modules and autoevals) is checked afterwards by scorer-checks.ts.
 */
export function resolveScorers(raw: RawConfig, problem: Problem): Map<string, ScorerSpec> {
  const scorers = new Map<string, ScorerSpec>();
  for (const [name, spec] of Object.entries(raw.scorers)) {
    const at = (...rest: PropertyKey[]) => ['scorers', name, ...rest];
    const resolved = resolveScorer(name, spec, raw, (path, message) => problem(at(...path), message));
    if (resolved) scorers.set(name, resolved);
  }
  return scorers;
}

function resolveScorer(name: string, spec: RawScorer, raw: RawConfig, problem: Problem): ScorerSpec | undefined {
  if (spec.builtin !== undefined) {
    const timeoutMs = spec.timeout ?? raw.scoring.task_timeout;
    if (!(spec.builtin in builtinScorers)) {
      problem(['builtin'], `unknown built-in scorer "${spec.builtin}" (built-ins: ${Object.keys(builtinScorers).join(', ')})`);
      return undefined;
    }
    try {
      builtinScorers[spec.builtin]!(spec.options ?? {});
    } catch (error) {
      problem(['options'], `invalid options for ${spec.builtin}: ${(error as Error).message}`);
      return undefined;
    }
    return { name, timeoutMs, kind: 'builtin', builtin: spec.builtin, options: spec.options ?? {} };
  }
  if (spec.module !== undefined) {
    const modulePath = resolve(spec.module);
    if (!existsSync(modulePath)) problem(['module'], `module file not found: ${modulePath}`);
    const timeoutMs = spec.timeout ?? raw.scoring.task_timeout;
    return { name, timeoutMs, kind: 'module', module: modulePath, exportName: spec.export ?? 'default' };
  }
  const timeoutMs = spec.timeout ?? DEFAULT_LLM_TIMEOUT_MS;
  if (spec.autoevals !== undefined) {
    const runtime = spec.base_url === undefined ? undefined : llmRuntime(spec, raw, problem);
    return { name, timeoutMs, kind: 'autoevals', autoevals: spec.autoevals, options: spec.options ?? {}, runtime };
  }
  const readyMade = spec.judge === undefined ? undefined : READY_MADE_JUDGES[spec.judge];
  if (spec.judge !== undefined && (readyMade === undefined || !Object.hasOwn(READY_MADE_JUDGES, spec.judge))) {
    problem(['judge'], `unknown ready-made judge "${spec.judge}" (known: ${Object.keys(READY_MADE_JUDGES).join(', ')})`);
    return undefined;
  }
  const prompt = spec.prompt ?? readyMade!.prompt;
  for (const message of checkPromptTemplate(prompt)) problem(['prompt'], message);
  const choiceScores = spec.choice_scores ?? readyMade!.choiceScores;
  if (Object.keys(choiceScores).length === 0) problem(['choice_scores'], 'give at least one choice');
  const runtime = llmRuntime(spec, raw, problem);
  return {
    name,
    timeoutMs,
    kind: 'llm',
    judge: {
      prompt,
      choiceScores,
      useCot: spec.use_cot ?? readyMade?.useCot ?? true,
      ...(spec.temperature !== undefined && { temperature: spec.temperature }),
      ...(spec.max_tokens !== undefined && { maxTokens: spec.max_tokens }),
      ...(readyMade && { readyMade: spec.judge }),
    },
    runtime,
  };
}

function llmRuntime(spec: RawScorer, raw: RawConfig, problem: Problem): LlmRuntimeSpec {
  const model = spec.model ?? '';
  const price = model === '' ? undefined : raw.scoring.llm_prices[model];
  if (spec.budget !== undefined && price === undefined) {
    problem(['budget'], `a budget needs the price of model "${model || '(default)'}": add it under scoring.llm_prices`);
  }
  const retry = spec.retry;
  if (retry && retry.initial_backoff > retry.max_backoff) problem(['retry', 'initial_backoff'], 'must not exceed `max_backoff`');
  return {
    baseUrl: spec.base_url!.replace(/\/+$/, ''),
    apiKey: spec.api_key ?? '',
    model,
    maxConcurrency: spec.max_concurrency ?? DEFAULT_LLM_MAX_CONCURRENCY,
    rateLimit: {
      ...(spec.rate_limit?.requests_per_minute !== undefined && { requestsPerMinute: spec.rate_limit.requests_per_minute }),
      ...(spec.rate_limit?.tokens_per_minute !== undefined && { tokensPerMinute: spec.rate_limit.tokens_per_minute }),
    },
    retry: retry ? { maxRetries: retry.max_retries, initialBackoffMs: retry.initial_backoff, maxBackoffMs: retry.max_backoff } : { ...DEFAULT_RETRY },
    ...(spec.budget !== undefined && { budgetUsdPerDay: spec.budget }),
    ...(price && { price: { inputPer1M: price.input, outputPer1M: price.output } }),
  };
}
