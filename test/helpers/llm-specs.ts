import type { LlmRuntimeSpec } from '../../src/llm/llm-scorer-spec.js';
import type { ScorerSpec } from '../../src/scoring/rule-spec.js';

/** An LLM endpoint spec for tests: the local OpenAI-compatible server, fast retries, a price. */
export function testRuntime(baseUrl: string, overrides: Partial<LlmRuntimeSpec> = {}): LlmRuntimeSpec {
  return {
    baseUrl,
    apiKey: 'sk-test',
    model: 'gpt-test',
    maxConcurrency: 2,
    rateLimit: {},
    retry: { maxRetries: 0, initialBackoffMs: 5, maxBackoffMs: 20 },
    price: { inputPer1M: 2, outputPer1M: 10 },
    ...overrides,
  };
}

/** A Y/N judge (Y = 1) over `{{input}}` and `{{output}}` against `baseUrl`. */
export function testJudge(name: string, baseUrl: string, overrides: Partial<LlmRuntimeSpec> = {}, timeoutMs = 5_000): Extract<ScorerSpec, { kind: 'llm' }> {
  return {
    name,
    timeoutMs,
    kind: 'llm',
    judge: { prompt: 'Question: {{input}}\nAnswer: {{output}}\nIs the answer right?', choiceScores: { Y: 1, N: 0 }, useCot: true },
    runtime: testRuntime(baseUrl, overrides),
  };
}
