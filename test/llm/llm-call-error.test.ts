import { describe, expect, it } from 'vitest';
import { describeConnectionError, errorDetail, LlmCallError, type LlmCallFailure } from '../../src/llm/llm-call-error.js';

describe('LlmCallError', () => {
  it('carries failure, status, attempts and usage; only auth and not_found pause the scorer', () => {
    const error = new LlmCallError({ failure: 'client_error', message: 'HTTP 400 from x: bad', status: 400, attempts: 1, usage: { inputTokens: 1, outputTokens: 2 } });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('LlmCallError');
    expect(error.message).toBe('HTTP 400 from x: bad');
    expect(error.status).toBe(400);
    expect(error.attempts).toBe(1);
    expect(error.usage).toEqual({ inputTokens: 1, outputTokens: 2 });
    const all: LlmCallFailure[] = ['auth', 'not_found', 'retries_exhausted', 'client_error', 'bad_response', 'host_not_allowed', 'timeout', 'aborted'];
    const pausing = all.filter((failure) => new LlmCallError({ failure, message: '', attempts: 0 }).pausesScorer);
    expect(pausing).toEqual(['auth', 'not_found']);
  });
});

describe('errorDetail', () => {
  it('reads the OpenAI error shape and its code', () => {
    expect(errorDetail({ error: { message: 'The model `x` does not exist', code: 'model_not_found' } }, '')).toEqual({
      message: 'The model `x` does not exist',
      code: 'model_not_found',
    });
  });

  it('falls back to other shapes, then to the raw text, shortened', () => {
    expect(errorDetail({ error: 'plain' }, '').message).toBe('plain');
    expect(errorDetail({ detail: 'fastapi style' }, '').message).toBe('fastapi style');
    expect(errorDetail(undefined, '<html>\n  <body>Bad gateway</body></html>').message).toBe('<html> <body>Bad gateway</body></html>');
    expect(errorDetail(undefined, '').message).toBe('(empty body)');
    expect(errorDetail(undefined, 'y'.repeat(1000)).message.length).toBeLessThan(310);
  });
});

describe('describeConnectionError', () => {
  it('shows the cause chain without the uninformative "fetch failed"', () => {
    const cause = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    expect(describeConnectionError(new TypeError('fetch failed', { cause }))).toBe('UND_ERR_SOCKET other side closed');
  });
});
