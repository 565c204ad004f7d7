import { describe, expect, it } from 'vitest';
import { estimateRequestTokens, readTokenUsage } from '../../src/llm/token-usage.js';

describe('readTokenUsage', () => {
  it('reads chat-completions usage', () => {
    expect(readTokenUsage({ usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } })).toEqual({ inputTokens: 12, outputTokens: 3 });
  });

  it('reads Responses-API usage', () => {
    expect(readTokenUsage({ usage: { input_tokens: 7, output_tokens: 9 } })).toEqual({ inputTokens: 7, outputTokens: 9 });
  });

  it('is undefined when absent or malformed', () => {
    for (const body of [
      undefined,
      null,
      'text',
      [],
      {},
      { usage: null },
      { usage: [] },
      { usage: { prompt_tokens: 1 } },
      { usage: { prompt_tokens: '1', completion_tokens: 2 } },
      { usage: { prompt_tokens: -1, completion_tokens: 2 } },
      { usage: { input_tokens: Number.NaN, output_tokens: 2 } },
    ]) {
      expect(readTokenUsage(body)).toBeUndefined();
    }
  });
});

describe('estimateRequestTokens', () => {
  it('counts about 4 characters per token plus the completion budget asked for', () => {
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(400) }], max_tokens: 50 });
    expect(estimateRequestTokens(body)).toBe(Math.ceil(body.length / 4) + 50);
    const newer = JSON.stringify({ max_completion_tokens: 30, max_tokens: 999 });
    expect(estimateRequestTokens(newer)).toBe(Math.ceil(newer.length / 4) + 30);
    expect(estimateRequestTokens('not json')).toBe(2);
    expect(estimateRequestTokens(undefined)).toBe(0);
  });
});
