/** Tokens one LLM call consumed, as the endpoint reported them. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

/**
 * The usage an OpenAI-compatible response reports: chat-completions `usage.prompt_tokens` /
 * `usage.completion_tokens`, or the Responses API's `usage.input_tokens` / `usage.output_tokens`.
 * undefined when absent or malformed: spend and rate accounting must not trust a half-read
 * number, so the callers fall back to their estimate instead.
 */
export function readTokenUsage(body: unknown): TokenUsage | undefined {
  if (!isRecord(body)) return undefined;
  const usage = body.usage;
  if (!isRecord(usage)) return undefined;
  return pair(usage.prompt_tokens, usage.completion_tokens) ?? pair(usage.input_tokens, usage.output_tokens);
}

function pair(input: unknown, output: unknown): TokenUsage | undefined {
  if (!isCount(input) || !isCount(output)) return undefined;
  return { inputTokens: input, outputTokens: output };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A pre-call guess of a request's tokens for the rate limiter: about 4 characters per token of
 * the JSON body, plus the completion budget it asks for. Deliberately rough; `settle` corrects
 * it once the real usage is known.
 */
export function estimateRequestTokens(body: string | undefined): number {
  if (body === undefined) return 0;
  let completion = 0;
  try {
    const parsed: unknown = JSON.parse(body);
    if (isRecord(parsed)) {
      const limit = parsed.max_completion_tokens ?? parsed.max_tokens;
      if (isCount(limit)) completion = limit;
    }
  } catch {
    // not JSON: the characters are all there is to go on
  }
  return Math.ceil(body.length / 4) + completion;
}
