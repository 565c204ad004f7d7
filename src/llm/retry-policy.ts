import type { LlmRuntimeSpec } from './llm-scorer-spec.js';

/**
 * The longest server-requested wait we honour. A server asking for minutes is better treated as
 * a failure of this call than as a reason to hold a scorer slot (and the span behind it) that long;
 * 60 s is also where the OpenAI SDK stops trusting the header.
 */
export const RETRY_AFTER_CAP_MS = 60_000;

/**
 * How long to wait before retry number `retryNumber` (1 = the first retry).
 *
 * When the response says when to come back (`retry-after-ms`, OpenAI's millisecond header, or
 * the standard `Retry-After` in seconds or as an HTTP date) that wins, without jitter and even
 * above `maxBackoffMs`: the server knows its own rate-limit window, and retrying earlier only
 * earns another 429. It is capped at {@link RETRY_AFTER_CAP_MS}.
 *
 * Otherwise exponential backoff `initialBackoffMs * 2^(n-1)`, capped at `maxBackoffMs`, with
 * *equal* jitter (half fixed, half random). Full jitter would spread retries slightly better,
 * but it may pick ~0 ms, hammering an endpoint that just said it is overloaded; equal jitter
 * still de-synchronises scorers that failed together while guaranteeing at least half the
 * backoff.
 */
export function retryDelayMs(
  retry: LlmRuntimeSpec['retry'],
  retryNumber: number,
  headers?: Headers,
  random: () => number = Math.random,
): number {
  const requested = headers === undefined ? undefined : serverRequestedDelayMs(headers);
  if (requested !== undefined) return Math.min(requested, RETRY_AFTER_CAP_MS);

  const n = Math.max(1, Math.floor(retryNumber));
  // 2^30 already exceeds any sane maxBackoffMs; the clamp keeps the arithmetic finite.
  const exponential = retry.initialBackoffMs * 2 ** Math.min(n - 1, 30);
  const ceiling = Math.max(0, Math.min(exponential, retry.maxBackoffMs));
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}

/** The wait the server asked for, in ms; undefined when it did not ask (or asked unreadably). */
export function serverRequestedDelayMs(headers: Headers, now: number = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null) {
    const value = parseNonNegativeNumber(ms);
    if (value !== undefined) return value;
  }
  const after = headers.get('retry-after');
  if (after === null) return undefined;
  const seconds = parseNonNegativeNumber(after);
  if (seconds !== undefined) return seconds * 1000;
  // V8's Date.parse reads almost anything ("-5" is a year); only HTTP-date shapes count.
  if (!HTTP_DATE_SHAPE.test(after)) return undefined;
  const date = Date.parse(after);
  if (Number.isNaN(date)) return undefined;
  // A date in the past (clock skew) means "now", not "ignore the header".
  return Math.max(0, date - now);
}

/** A month name and an hh:mm:ss time, as all three RFC 9110 date formats have. */
const HTTP_DATE_SHAPE = /\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b.*\b\d{2}:\d{2}:\d{2}\b/;

function parseNonNegativeNumber(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^\d+(\.\d+)?$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}
