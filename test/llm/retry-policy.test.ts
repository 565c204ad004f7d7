import { describe, expect, it } from 'vitest';
import { RETRY_AFTER_CAP_MS, retryDelayMs, serverRequestedDelayMs } from '../../src/llm/retry-policy.js';

const retry = { maxRetries: 5, initialBackoffMs: 100, maxBackoffMs: 1_000 };

describe('retryDelayMs', () => {
  it('backs off exponentially with equal jitter: between half and all of initial * 2^(n-1)', () => {
    expect(retryDelayMs(retry, 1, undefined, () => 0)).toBe(50);
    expect(retryDelayMs(retry, 1, undefined, () => 0.999999)).toBe(100);
    expect(retryDelayMs(retry, 2, undefined, () => 0)).toBe(100);
    expect(retryDelayMs(retry, 2, undefined, () => 0.999999)).toBe(200);
    expect(retryDelayMs(retry, 3, undefined, () => 0.5)).toBe(300);
  });

  it('caps the backoff at maxBackoffMs, even for absurd retry numbers', () => {
    expect(retryDelayMs(retry, 5, undefined, () => 0.999999)).toBe(1_000);
    expect(retryDelayMs(retry, 5, undefined, () => 0)).toBe(500);
    expect(retryDelayMs(retry, 10_000, undefined, () => 0.999999)).toBe(1_000);
  });

  it('stays within the jitter bounds with the real random source', () => {
    for (let n = 1; n <= 6; n++) {
      const ceiling = Math.min(100 * 2 ** (n - 1), 1_000);
      for (let i = 0; i < 200; i++) {
        const delay = retryDelayMs(retry, n);
        expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
        expect(delay).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  it('honours Retry-After in seconds exactly, above maxBackoffMs, without jitter', () => {
    expect(retryDelayMs(retry, 1, new Headers({ 'retry-after': '2' }), () => 0)).toBe(2_000);
    expect(retryDelayMs(retry, 1, new Headers({ 'retry-after': '0.5' }), () => 0.9)).toBe(500);
    expect(retryDelayMs(retry, 1, new Headers({ 'retry-after': '0' }))).toBe(0);
  });

  it('honours Retry-After as an HTTP date', () => {
    const date = new Date(Date.now() + 5_000).toUTCString(); // second resolution: 4-5 s away
    const delay = retryDelayMs(retry, 1, new Headers({ 'retry-after': date }));
    expect(delay).toBeGreaterThan(3_900);
    expect(delay).toBeLessThanOrEqual(5_000);
    expect(retryDelayMs(retry, 1, new Headers({ 'retry-after': new Date(Date.now() - 10_000).toUTCString() }))).toBe(0);
  });

  it('prefers retry-after-ms (OpenAI, milliseconds) over Retry-After', () => {
    expect(retryDelayMs(retry, 1, new Headers({ 'retry-after-ms': '1234', 'retry-after': '9' }))).toBe(1_234);
    expect(retryDelayMs(retry, 1, new Headers({ 'retry-after-ms': '12.5' }))).toBe(12.5);
  });

  it('caps server-requested waits at 60 s', () => {
    expect(RETRY_AFTER_CAP_MS).toBe(60_000);
    expect(retryDelayMs(retry, 1, new Headers({ 'retry-after': '3600' }))).toBe(60_000);
    expect(retryDelayMs(retry, 1, new Headers({ 'retry-after-ms': '999999' }))).toBe(60_000);
    expect(retryDelayMs(retry, 1, new Headers({ 'retry-after': new Date(Date.now() + 86_400_000).toUTCString() }))).toBe(60_000);
  });

  it('falls back to backoff when the header is unreadable', () => {
    for (const value of ['soon', '-5', '1e3', '']) {
      expect(retryDelayMs(retry, 1, new Headers({ 'retry-after': value }), () => 0)).toBe(50);
    }
    expect(retryDelayMs(retry, 1, new Headers({ 'retry-after-ms': 'x', 'retry-after': '1' }))).toBe(1_000);
    expect(serverRequestedDelayMs(new Headers())).toBeUndefined();
  });
});
