import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/llm/rate-limiter.js';

/** Starts all acquires at once and records when each one was let through. */
async function grantTimes(limiter: RateLimiter, tokens: number[]): Promise<number[]> {
  const times: number[] = [];
  await Promise.all(tokens.map((t, i) => limiter.acquire(t).then(() => (times[i] = performance.now()))));
  return times;
}

// 600k tpm = 10 tokens per ms: waits in the tens of ms.
const tpm = 600_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('RateLimiter: requests per minute', () => {
  it('spaces requests evenly: 30 acquires at 1200 rpm measure within 10% of 1200 rpm', async () => {
    const limiter = new RateLimiter({ requestsPerMinute: 1200 });
    const times = await grantTimes(limiter, new Array<number>(30).fill(0));
    const sorted = [...times].sort((a, b) => a - b);
    const first = sorted[0]!;
    const last = sorted[sorted.length - 1]!;
    const measuredRpm = ((sorted.length - 1) / (last - first)) * 60_000;
    expect(measuredRpm).toBeGreaterThan(1200 * 0.9);
    expect(measuredRpm).toBeLessThan(1200 * 1.1);
    // Burst of 1: no two requests bunch together (50 ms interval; a late timer may shave a little).
    const gaps = sorted.slice(1).map((t, i) => t - sorted[i]!);
    expect(Math.min(...gaps)).toBeGreaterThan(35);
  });

  it('lets the first request through at once', async () => {
    const limiter = new RateLimiter({ requestsPerMinute: 60 });
    const start = performance.now();
    await limiter.acquire(0);
    expect(performance.now() - start).toBeLessThan(20);
  });

  it('is unlimited when no limit is set', async () => {
    const limiter = new RateLimiter({});
    const start = performance.now();
    await grantTimes(limiter, new Array<number>(1000).fill(1_000_000));
    expect(performance.now() - start).toBeLessThan(200);
  });
});

describe('RateLimiter: tokens per minute', () => {
  it('waits for the bucket to refill', async () => {
    const limiter = new RateLimiter({ tokensPerMinute: tpm });
    await limiter.acquire(tpm); // a full bucket goes at once and empties it
    const start = performance.now();
    await limiter.acquire(1_000); // 1000 tokens = 100 ms of refill
    const waited = performance.now() - start;
    expect(waited).toBeGreaterThanOrEqual(95);
    expect(waited).toBeLessThan(250);
  });

  it('settle refunds an overestimate, waking waiters at once', async () => {
    const limiter = new RateLimiter({ tokensPerMinute: tpm });
    await limiter.acquire(tpm);
    const start = performance.now();
    const waiting = limiter.acquire(300_000); // would take 30 s of refill
    await sleep(10);
    limiter.settle(tpm, 500); // the call actually used 500 tokens
    await waiting;
    expect(performance.now() - start).toBeLessThan(100);
  });

  it('settle charges an underestimate', async () => {
    const limiter = new RateLimiter({ tokensPerMinute: tpm });
    await limiter.acquire(0);
    limiter.settle(0, tpm); // used the whole bucket
    const start = performance.now();
    await limiter.acquire(1_000);
    expect(performance.now() - start).toBeGreaterThanOrEqual(95);
  });

  it('lets an estimate above the capacity go once the bucket is full (not never)', async () => {
    const limiter = new RateLimiter({ tokensPerMinute: 60_000 });
    const start = performance.now();
    await limiter.acquire(1_000_000);
    expect(performance.now() - start).toBeLessThan(20);
  });

  it('serves waiters first in, first out: a small request does not overtake a large one', async () => {
    const limiter = new RateLimiter({ tokensPerMinute: tpm });
    await limiter.acquire(tpm);
    const order: string[] = [];
    await Promise.all([
      limiter.acquire(2_000).then(() => order.push('large')), // ~200 ms
      limiter.acquire(10).then(() => order.push('small')), // ~1 ms if it could overtake
    ]);
    expect(order).toEqual(['large', 'small']);
  });
});

describe('RateLimiter: abort', () => {
  it('rejects a waiter whose signal aborts, with an AbortError', async () => {
    const limiter = new RateLimiter({ requestsPerMinute: 60 });
    await limiter.acquire(0);
    const controller = new AbortController();
    const waiting = limiter.acquire(0, controller.signal);
    setTimeout(() => controller.abort(), 20);
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('rejects at once when the signal is already aborted', async () => {
    const limiter = new RateLimiter({});
    await expect(limiter.acquire(0, AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('releases its place: the waiter behind an aborted one goes when it alone fits', async () => {
    const limiter = new RateLimiter({ tokensPerMinute: tpm });
    await limiter.acquire(tpm);
    const controller = new AbortController();
    const start = performance.now();
    const aborted = limiter.acquire(20_000, controller.signal).catch((error: Error) => error.name); // 2 s
    const behind = limiter.acquire(500); // 50 ms on its own
    setTimeout(() => controller.abort(), 10);
    await behind;
    expect(await aborted).toBe('AbortError');
    expect(performance.now() - start).toBeLessThan(300);
  });
});
