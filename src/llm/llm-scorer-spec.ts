/**
 * What the config says about an LLM scorer, validated once at load (config-loader.ts) and
 * trusted inside. Durations are ms, prices USD.
 */

/** Where and how fast to call: one OpenAI-compatible endpoint. */
export interface LlmRuntimeSpec {
  /** e.g. `http://127.0.0.1:8080/v1`; requests go to `${baseUrl}/chat/completions`. No other host is ever called. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; empty = no header. Never logged. */
  apiKey: string;
  /** The model requested (and the key into the price table). */
  model: string;
  /** Calls of this scorer in flight at once. */
  maxConcurrency: number;
  /**
   * Limits of the endpoint (shared by every scorer with the same `baseUrl` and `apiKey`; when
   * they declare different limits, the smallest applies). undefined = unlimited.
   */
  rateLimit: { requestsPerMinute?: number; tokensPerMinute?: number };
  retry: { maxRetries: number; initialBackoffMs: number; maxBackoffMs: number };
  /** USD per UTC day; undefined = no budget. */
  budgetUsdPerDay?: number;
  /** USD per 1M tokens for `model`; undefined = cost not tracked (then no budget is allowed). */
  price?: { inputPer1M: number; outputPer1M: number };
}

/** The judge itself: prompt and choices. */
export interface LlmJudgeSpec {
  /** Mustache template: {{input}} {{output}} {{expected}} {{metadata}} {{span}} {{trace}}. */
  prompt: string;
  /** Choice label -> score in 0..1. */
  choiceScores: Record<string, number>;
  /** Ask for the reasons before the choice. */
  useCot: boolean;
  temperature?: number;
  maxTokens?: number;
  /** The ready-made judge it came from (`factuality`, ...), if any. */
  readyMade?: string;
}
