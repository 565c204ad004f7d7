import { describe, expect, it } from 'vitest';
import { LlmEndpointRegistry } from '../../src/llm/llm-endpoint-registry.js';
import type { LlmRuntimeSpec } from '../../src/llm/llm-scorer-spec.js';

function runtime(overrides: Partial<LlmRuntimeSpec>): LlmRuntimeSpec {
  return {
    baseUrl: 'http://127.0.0.1:9/v1',
    apiKey: 'k1',
    model: 'm',
    maxConcurrency: 1,
    rateLimit: {},
    retry: { maxRetries: 0, initialBackoffMs: 5, maxBackoffMs: 10 },
    ...overrides,
  };
}

/** Whether a second request is held back for at least ~100 ms (i.e. the limit is 60 rpm, not 60000). */
async function throttles(limiter: { acquire(tokens: number, signal?: AbortSignal): Promise<void> }): Promise<boolean> {
  await limiter.acquire(0);
  try {
    await limiter.acquire(0, AbortSignal.timeout(100));
    return false;
  } catch {
    return true;
  }
}

describe('LlmEndpointRegistry', () => {
  it('shares one limiter per baseUrl (trailing slash ignored) and apiKey', () => {
    const a = runtime({});
    const b = runtime({ baseUrl: 'http://127.0.0.1:9/v1/', model: 'other' });
    const otherKey = runtime({ apiKey: 'k2' });
    const otherUrl = runtime({ baseUrl: 'http://127.0.0.1:9/v2' });
    const registry = new LlmEndpointRegistry([a, b, otherKey, otherUrl]);
    expect(registry.limiterFor(a)).toBe(registry.limiterFor(b));
    expect(registry.limiterFor(a)).not.toBe(registry.limiterFor(otherKey));
    expect(registry.limiterFor(a)).not.toBe(registry.limiterFor(otherUrl));
  });

  it('applies the smallest limit any sharer declared, ignoring undefined', async () => {
    const loose = runtime({ rateLimit: { requestsPerMinute: 60_000 } });
    const tight = runtime({ baseUrl: 'http://127.0.0.1:9/v1/', rateLimit: { requestsPerMinute: 60 } });
    const silent = runtime({ rateLimit: {} });
    const registry = new LlmEndpointRegistry([loose, tight, silent]);
    expect(await throttles(registry.limiterFor(silent))).toBe(true);

    const alone = new LlmEndpointRegistry([loose, silent]);
    expect(await throttles(alone.limiterFor(loose))).toBe(false);
  });

  it('still gives a runtime not declared up front its own limiter', async () => {
    const registry = new LlmEndpointRegistry([]);
    const late = runtime({ rateLimit: { requestsPerMinute: 60 } });
    expect(registry.limiterFor(late)).toBe(registry.limiterFor(late));
    expect(await throttles(registry.limiterFor(late))).toBe(true);
  });
});
