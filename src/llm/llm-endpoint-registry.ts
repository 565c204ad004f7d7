import type { LlmRuntimeSpec } from './llm-scorer-spec.js';
import { RateLimiter, type RateLimits } from './rate-limiter.js';

/**
 * One RateLimiter per endpoint account. A provider's limits belong to the key, not to the scorer,
 * so every scorer calling the same `baseUrl` with the same `apiKey` must draw from one budget;
 * separate limiters would each pace to the full limit and together overshoot it.
 */
export class LlmEndpointRegistry {
  private readonly limiters = new Map<string, RateLimiter>();

  /** All runtimes up front, so that a shared limiter starts with the smallest limit any of them declared. */
  constructor(runtimes: LlmRuntimeSpec[]) {
    const limits = new Map<string, RateLimits>();
    for (const runtime of runtimes) {
      const key = endpointKey(runtime);
      limits.set(key, tightest(limits.get(key), runtime.rateLimit));
    }
    for (const [key, merged] of limits) this.limiters.set(key, new RateLimiter(merged));
  }

  limiterFor(runtime: LlmRuntimeSpec): RateLimiter {
    const key = endpointKey(runtime);
    let limiter = this.limiters.get(key);
    if (limiter === undefined) {
      // Not declared up front (should not happen): pace it on its own limits rather than fail the scorer.
      limiter = new RateLimiter(runtime.rateLimit);
      this.limiters.set(key, limiter);
    }
    return limiter;
  }
}

/** `http://h:1/v1/` and `http://H:1/v1` are the same endpoint. */
export function normaliseBaseUrl(baseUrl: string): string {
  try {
    const url = new URL(baseUrl);
    return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  } catch {
    return baseUrl.replace(/\/+$/, '');
  }
}

function endpointKey(runtime: LlmRuntimeSpec): string {
  // NUL cannot occur in a URL, so no (url, key) pair can collide with another.
  return `${normaliseBaseUrl(runtime.baseUrl)}\u0000${runtime.apiKey}`;
}

function tightest(a: RateLimits | undefined, b: RateLimits): RateLimits {
  return {
    requestsPerMinute: smaller(a?.requestsPerMinute, b.requestsPerMinute),
    tokensPerMinute: smaller(a?.tokensPerMinute, b.tokensPerMinute),
  };
}

function smaller(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
