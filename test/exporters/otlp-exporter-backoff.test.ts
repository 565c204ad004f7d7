import { describe, expect, it } from 'vitest';
import { ExponentialBackoff, MAX_SERVER_DELAY_MS, type RetrySettings } from '../../src/exporters/exponential-backoff.js';
import { encodeRetryInfoStatus, parsePartialSuccess, parseRetryAfter, retryInfoDelayMs, rpcStatusMessage } from '../../src/exporters/export-response.js';
import { encodeExportResponse, encodeRpcStatus } from '../../src/receivers/otlp-responses.js';

/** The retry arithmetic and the reading of downstream answers, without sockets. */

const settings: RetrySettings = { enabled: true, initialIntervalMs: 5_000, maxIntervalMs: 30_000, maxElapsedMs: 300_000, multiplier: 1.5, randomizationFactor: 0.5 };

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('ExponentialBackoff (the Collector defaults)', () => {
  it('grows by the multiplier up to the max interval, without randomisation at random() = 0.5', () => {
    const c = clock();
    const backoff = new ExponentialBackoff(settings, () => 0.5, c.now);
    const delays = Array.from({ length: 7 }, () => backoff.next());
    expect(delays).toEqual([5_000, 7_500, 11_250, 16_875, 25_313, 30_000, 30_000]);
  });

  it('randomises within ±randomization_factor of the interval', () => {
    const c = clock();
    expect(new ExponentialBackoff(settings, () => 0, c.now).next()).toBe(2_500);
    expect(new ExponentialBackoff(settings, () => 0.999999, c.now).next()).toBe(7_500);
  });

  it('stops once the next delay would pass max_elapsed_time', () => {
    const c = clock();
    const backoff = new ExponentialBackoff({ ...settings, maxElapsedMs: 20_000 }, () => 0.5, c.now);
    expect(backoff.next()).toBe(5_000);
    c.advance(5_000);
    expect(backoff.next()).toBe(7_500);
    c.advance(7_500);
    // 12.5 s elapsed + 11.25 s > 20 s.
    expect(backoff.next()).toBeUndefined();
  });

  it('never stops with max_elapsed_time 0', () => {
    const c = clock();
    const backoff = new ExponentialBackoff({ ...settings, maxElapsedMs: 0 }, () => 0.5, c.now);
    c.advance(10 * 86_400_000);
    expect(backoff.next()).toBe(5_000);
  });

  it('lets a server delay replace the computed one, within bounds', () => {
    const c = clock();
    const backoff = new ExponentialBackoff({ ...settings, maxElapsedMs: 0 }, () => 0.5, c.now);
    expect(backoff.next(2_000)).toBe(2_000);
    expect(backoff.next(0)).toBe(1_000);
    expect(backoff.next(86_400_000)).toBe(MAX_SERVER_DELAY_MS);
    // The interval kept growing underneath.
    expect(backoff.next()).toBe(16_875);
  });

  it('gives up rather than sleep on a server delay past max_elapsed_time', () => {
    const c = clock();
    expect(new ExponentialBackoff({ ...settings, maxElapsedMs: 60_000 }, () => 0.5, c.now).next(90_000)).toBeUndefined();
  });
});

describe('reading answers', () => {
  it('parses Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('reads RetryInfo from grpc-status-details-bin', () => {
    expect(retryInfoDelayMs(encodeRetryInfoStatus(14, 'busy', 2_500))).toBe(2_500);
    expect(retryInfoDelayMs(encodeRpcStatus('protobuf', 14, 'no details'))).toBeUndefined();
    expect(retryInfoDelayMs(Buffer.from([0xff, 0xff]))).toBeUndefined();
  });

  it.each(['protobuf', 'json'] as const)('reads partial_success and Status in %s', (encoding) => {
    expect(parsePartialSuccess(encodeExportResponse(encoding, 3, 'too old'), encoding)).toEqual({ rejectedSpans: 3, errorMessage: 'too old' });
    expect(parsePartialSuccess(encodeExportResponse(encoding, 0, ''), encoding)).toBeUndefined();
    expect(parsePartialSuccess(Buffer.alloc(0), encoding)).toBeUndefined();
    expect(rpcStatusMessage(encodeRpcStatus(encoding, 3, 'bad span'), encoding)).toBe('bad span');
  });
});
