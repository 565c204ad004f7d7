import type { TokenUsage } from './token-usage.js';

/**
 * Why an LLM call failed, coarse enough for a scorer to act on:
 * - `auth`, `not_found`: the config is wrong; retrying cannot help, the scorer pauses.
 * - `client_error`: this one request was refused (4xx); other calls may still work.
 * - `retries_exhausted`: transient failures (429, 5xx, connection, per-attempt timeout) outlasted the retries.
 * - `bad_response`: the endpoint answered, but not with something we can read.
 * - `host_not_allowed`: a URL outside `base_url` was refused before any network I/O.
 * - `timeout`, `aborted`: the caller's own signal ended the call (a deadline, or shutdown).
 */
export type LlmCallFailure =
  | 'auth'
  | 'not_found'
  | 'retries_exhausted'
  | 'client_error'
  | 'bad_response'
  | 'host_not_allowed'
  | 'timeout'
  | 'aborted';

export interface LlmCallErrorOptions {
  failure: LlmCallFailure;
  /** Already free of secrets: the error is logged and shown as is. */
  message: string;
  /** HTTP status of the last response, if one came. */
  status?: number;
  /** Requests actually sent (0 when refused before sending). */
  attempts: number;
  usage?: TokenUsage;
  cause?: unknown;
}

/** An LLM call that did not produce a usable answer; the message says what to fix where it can. */
export class LlmCallError extends Error {
  readonly failure: LlmCallFailure;
  readonly status: number | undefined;
  readonly attempts: number;
  readonly usage: TokenUsage | undefined;

  constructor(options: LlmCallErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LlmCallError';
    this.failure = options.failure;
    this.status = options.status;
    this.attempts = options.attempts;
    this.usage = options.usage;
  }

  /** A wrong key or model fails every call the same way: stop calling until the config changes. */
  get pausesScorer(): boolean {
    return this.failure === 'auth' || this.failure === 'not_found';
  }
}

/**
 * The server's own explanation from an error body: OpenAI's `{error: {message, code}}`, or the
 * shapes other compatible servers use, or the start of the raw text (an HTML page from a proxy).
 */
export function errorDetail(json: unknown, text: string): { message: string; code: string | undefined } {
  const body = asRecord(json);
  const nested = asRecord(body?.error);
  const code = typeof nested?.code === 'string' ? nested.code : undefined;
  const candidates = [nested?.message, body?.error, body?.message, body?.detail];
  const found = candidates.find((value): value is string => typeof value === 'string' && value.trim() !== '');
  return { message: shorten(found ?? text), code };
}

/** undici hides the useful part ("ECONNRESET other side closed") in `cause`. */
export function describeConnectionError(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    const text = typeof code === 'string' ? `${code} ${current.message}` : current.message;
    // "fetch failed" says nothing the caller does not already know when a cause follows.
    if (!(current.message === 'fetch failed' && current.cause instanceof Error)) parts.push(text);
  }
  return parts.length === 0 ? String(error) : parts.join(': ');
}

function shorten(text: string): string {
  const flat = text.trim().replace(/\s+/g, ' ');
  if (flat === '') return '(empty body)';
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
