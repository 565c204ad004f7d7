import { SpanKind, type Span } from '@opentelemetry/api';
import type { Logger } from '../admin/logger.js';
import { selfTracer, setSpanError } from '../telemetry/self-tracer.js';
import { describeConnectionError, errorDetail, LlmCallError, type LlmCallFailure } from './llm-call-error.js';
import type { LlmRuntimeSpec } from './llm-scorer-spec.js';
import { normaliseBaseUrl } from './llm-endpoint-registry.js';
import type { RateLimiter } from './rate-limiter.js';
import { retryDelayMs } from './retry-policy.js';
import { estimateRequestTokens, readTokenUsage, type TokenUsage } from './token-usage.js';

export interface LlmTransportOptions {
  baseUrl: string;
  apiKey: string;
  limiter: RateLimiter;
  retry: LlmRuntimeSpec['retry'];
  attemptTimeoutMs: number;
  logger: Logger;
  /** For tests only; default global fetch. */
  fetch?: typeof fetch;
}

export interface LlmResponse {
  status: number;
  /** Parsed JSON. */
  body: unknown;
  usage: TokenUsage | undefined;
  attempts: number;
}

interface OutgoingRequest {
  url: URL;
  method: string;
  headers: Headers;
  body: string | undefined;
  estimatedTokens: number;
  model: string | undefined;
  signal: AbortSignal | undefined;
}

/** A complete answer, body already read (so it can be inspected, then handed on). */
interface Answer {
  status: number;
  statusText: string;
  headers: Headers;
  text: string;
}

type Exchange =
  | { ok: true; answer: Answer; json: unknown; usage: TokenUsage | undefined; attempts: number }
  | { ok: false; error: LlmCallError; answer: Answer | undefined };

/** Statuses whose Response cannot carry a body (the Response constructor throws otherwise). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * The one way spanscore talks to an LLM endpoint: host guard, rate limiter, retries with
 * backoff, per-attempt timeout, and errors that say what to fix. Both our own judges
 * (`postJson`) and the OpenAI SDK inside autoevals (`createFetch`) go through it, so neither
 * can bypass the limits or reach a host the config does not name.
 */
export class LlmTransport {
  private readonly base: URL;
  /** baseUrl's path without trailing slash; '' when baseUrl is a bare origin. */
  private readonly basePath: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: LlmTransportOptions) {
    this.base = new URL(normaliseBaseUrl(options.baseUrl));
    this.basePath = this.base.pathname.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? globalThis.fetch;
  }

  /** POSTs JSON to `${baseUrl}${path}`; resolves on 2xx with parsed JSON; throws LlmCallError otherwise. */
  async postJson(path: string, body: unknown, options: { estimatedTokens: number; signal?: AbortSignal }): Promise<LlmResponse> {
    const text = JSON.stringify(body);
    const outcome = await this.exchange({
      url: this.resolve(path),
      method: 'POST',
      headers: new Headers(),
      body: text,
      estimatedTokens: options.estimatedTokens,
      model: requestedModel(text),
      signal: options.signal,
    });
    if (!outcome.ok) throw outcome.error;
    return { status: outcome.answer.status, body: outcome.json, usage: outcome.usage, attempts: outcome.attempts };
  }

  /**
   * A fetch for the OpenAI SDK client (built with `maxRetries: 0`: retrying is ours). HTTP
   * failures resolve with the final Response so the SDK raises its usual typed error; only
   * failures without a response (host refused, connection errors after retries, abort) throw
   * the LlmCallError. `observe` hears once per logical call, with usage or failure.
   */
  createFetch(observe: (outcome: { usage?: TokenUsage; error?: LlmCallError; status?: number }) => void): typeof fetch {
    const guarded = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]): Promise<Response> => {
      let outcome: Exchange;
      try {
        const request = await this.fromFetchArguments(input, init);
        outcome = await this.exchange(request);
      } catch (error) {
        if (!(error instanceof LlmCallError)) throw error;
        outcome = { ok: false, error, answer: undefined };
      }
      if (outcome.ok) observe({ usage: outcome.usage, status: outcome.answer.status });
      else observe({ error: outcome.error, status: outcome.error.status });
      if (!outcome.ok && outcome.answer === undefined) throw outcome.error;
      const answer = outcome.ok ? outcome.answer : outcome.answer!;
      return toResponse(answer);
    };
    return guarded as typeof fetch;
  }

  private async fromFetchArguments(input: Parameters<typeof fetch>[0], init: Parameters<typeof fetch>[1]): Promise<OutgoingRequest> {
    const isRequest = typeof input === 'object' && input !== null && 'url' in input && !(input instanceof URL);
    const url = this.guard(isRequest ? (input as Request).url : String(input));
    const method = (init?.method ?? (isRequest ? (input as Request).method : 'GET')).toUpperCase();
    const headers = new Headers(init?.headers ?? (isRequest ? (input as Request).headers : undefined));
    // Retries resend the body, so it is read once into a string (the SDK sends strings anyway).
    let body: string | undefined;
    if (typeof init?.body === 'string') body = init.body;
    else if (init?.body != null) body = await new Response(init.body).text();
    else if (isRequest && (input as Request).body !== null) body = await (input as Request).text();
    return {
      url,
      method,
      headers,
      body,
      estimatedTokens: estimateRequestTokens(body),
      model: requestedModel(body),
      signal: init?.signal ?? (isRequest ? (input as Request).signal : undefined) ?? undefined,
    };
  }

  private resolve(path: string): URL {
    const suffix = path.startsWith('/') ? path : `/${path}`;
    return this.guard(`${this.base.origin}${this.basePath}${suffix}`);
  }

  /** Refuses, before any I/O, every URL not under baseUrl: the config names the only host we call. */
  private guard(raw: string): URL {
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    // The WHATWG parser has already resolved `..` and `%2e%2e`, so the prefix test cannot be walked around.
    const allowed =
      url !== undefined &&
      url.origin === this.base.origin &&
      url.username === '' &&
      url.password === '' &&
      (this.basePath === '' || url.pathname === this.basePath || url.pathname.startsWith(`${this.basePath}/`));
    if (!allowed) {
      const shown = url === undefined ? JSON.stringify(raw.slice(0, 200)) : `${url.origin}${url.pathname}`;
      throw new LlmCallError({
        failure: 'host_not_allowed',
        message: `refused to call ${this.redact(shown)}: only URLs under base_url ${this.baseText()} are allowed`,
        attempts: 0,
      });
    }
    return url!;
  }

  /** The call with its retries, under one self-telemetry span. */
  private async exchange(request: OutgoingRequest): Promise<Exchange> {
    const span = startLlmSpan(request);
    try {
      const outcome = await this.exchangeWithRetries(request);
      endLlmSpan(span, outcome);
      return outcome;
    } catch (error) {
      setSpanError(span, error);
      span.end();
      throw error;
    }
  }

  private async exchangeWithRetries(request: OutgoingRequest): Promise<Exchange> {
    const { retry, limiter, apiKey } = this.options;
    const headers = new Headers(request.headers);
    // The key is the transport's alone: whatever the caller (the SDK) put there is replaced.
    headers.delete('authorization');
    if (apiKey !== '') headers.set('authorization', `Bearer ${apiKey}`);
    if (!headers.has('content-type') && request.body !== undefined) headers.set('content-type', 'application/json');
    const where = this.redact(`${request.url.origin}${request.url.pathname}`);
    const maxAttempts = Math.max(0, Math.floor(retry.maxRetries)) + 1;

    let lastCause = '';
    let lastAnswer: Answer | undefined;
    let lastStatus: number | undefined;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      try {
        await limiter.acquire(request.estimatedTokens, request.signal);
      } catch (error) {
        return { ok: false, error: this.abortedError(request.signal, where, attempt - 1, error), answer: undefined };
      }

      const result = await this.attempt(request, headers);
      if (result.kind === 'aborted') {
        return { ok: false, error: this.abortedError(request.signal, where, attempt, result.error), answer: undefined };
      }

      let retryHeaders: Headers | undefined;
      if (result.kind === 'answer') {
        const answer = result.answer;
        const parsed = parseJson(answer.text);
        const usage = readTokenUsage(parsed.value);
        if (usage !== undefined) limiter.settle(request.estimatedTokens, usage.inputTokens + usage.outputTokens);
        // An error answer generated nothing: hand the reservation back so the retry does not also
        // wait for tokens never spent. (A timeout or hangup keeps it: the server may have worked.)
        else if (answer.status >= 300) limiter.settle(request.estimatedTokens, 0);
        if (answer.status >= 200 && answer.status < 300) {
          if (!parsed.ok) {
            const error = new LlmCallError({
              failure: 'bad_response',
              message: `HTTP ${answer.status} from ${where} is not JSON: ${this.redact(snippet(answer.text))}`,
              status: answer.status,
              attempts: attempt,
            });
            return { ok: false, error, answer };
          }
          return { ok: true, answer, json: parsed.value, usage, attempts: attempt };
        }
        const final = this.finalFailure(answer, parsed.value, where, request.model, attempt, usage);
        if (final !== undefined) return { ok: false, error: final, answer };
        lastCause = `HTTP ${answer.status} from ${where}: ${this.redact(errorDetail(parsed.value, answer.text).message)}`;
        lastAnswer = answer;
        lastStatus = answer.status;
        retryHeaders = answer.headers;
      } else {
        // The error describes the last attempt only: an older 5xx must not stand in for a hangup.
        lastAnswer = undefined;
        lastStatus = undefined;
        lastCause =
          result.kind === 'timeout'
            ? `no response from ${where} within ${this.options.attemptTimeoutMs} ms`
            : `connection to ${where} failed: ${this.redact(describeConnectionError(result.error))}`;
      }

      if (attempt === maxAttempts) break;
      const delayMs = retryDelayMs(retry, attempt, retryHeaders);
      // 429 is the endpoint working as designed under load: worth a trace, not an alert.
      const level = lastStatus === 429 && result.kind === 'answer' ? 'debug' : 'warn';
      this.options.logger[level](
        { url: where, status: result.kind === 'answer' ? result.answer.status : undefined, attempt, delayMs, cause: lastCause },
        `LLM call failed, retrying in ${delayMs} ms (${lastCause})`,
      );
      try {
        await sleep(delayMs, request.signal);
      } catch (error) {
        return { ok: false, error: this.abortedError(request.signal, where, attempt, error), answer: undefined };
      }
    }

    const plural = maxAttempts === 1 ? 'attempt' : 'attempts';
    const error = new LlmCallError({
      failure: 'retries_exhausted',
      message: `gave up after ${maxAttempts} ${plural}: ${lastCause}`,
      status: lastStatus,
      attempts: maxAttempts,
    });
    return { ok: false, error, answer: lastAnswer };
  }

  /** A failure no retry can fix, or undefined when the status is worth retrying. */
  private finalFailure(answer: Answer, json: unknown, where: string, model: string | undefined, attempts: number, usage: TokenUsage | undefined): LlmCallError | undefined {
    const { status } = answer;
    const detail = errorDetail(json, answer.text);
    const message = this.redact(detail.message);
    const fail = (failure: LlmCallFailure, text: string) => new LlmCallError({ failure, message: text, status, attempts, usage });
    if (status === 401 || status === 403) return fail('auth', `HTTP ${status} from ${where}: ${message} (check api_key)`);
    if (status === 404 || (status === 400 && detail.code === 'model_not_found')) {
      return model === undefined
        ? fail('not_found', `nothing found at ${where} (HTTP ${status}: ${message}; check base_url)`)
        : fail('not_found', `model ${JSON.stringify(this.redact(model))} not found at ${where} (HTTP ${status}: ${message})`);
    }
    if (status === 408 || status === 409 || status === 429 || status >= 500) return undefined;
    if (status >= 300 && status < 400) {
      // Redirects are not followed: they could lead to a host the config does not name.
      const location = answer.headers.get('location') ?? 'nowhere';
      return fail('bad_response', `HTTP ${status} from ${where}: redirect to ${this.redact(location)} not followed (check base_url)`);
    }
    if (status >= 400) return fail('client_error', `HTTP ${status} from ${where}: ${message}`);
    return fail('bad_response', `unexpected HTTP ${status} from ${where}`);
  }

  private async attempt(
    request: OutgoingRequest,
    headers: Headers,
  ): Promise<{ kind: 'answer'; answer: Answer } | { kind: 'timeout' } | { kind: 'connection'; error: unknown } | { kind: 'aborted'; error: unknown }> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.options.attemptTimeoutMs);
    const onAbort = () => controller.abort();
    request.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (request.signal?.aborted) return { kind: 'aborted', error: request.signal.reason };
      const response = await this.fetchImpl(request.url, {
        method: request.method,
        headers,
        body: request.body,
        signal: controller.signal,
        redirect: 'manual',
      });
      // The body is read under the same timeout: a server that stalls mid-body is as dead as a silent one.
      const text = await response.text();
      return { kind: 'answer', answer: { status: response.status, statusText: response.statusText, headers: response.headers, text } };
    } catch (error) {
      if (request.signal?.aborted) return { kind: 'aborted', error };
      if (timedOut) return { kind: 'timeout' };
      return { kind: 'connection', error };
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
    }
  }

  private abortedError(signal: AbortSignal | undefined, where: string, attempts: number, cause: unknown): LlmCallError {
    const reason: unknown = signal?.reason;
    const deadline = reason instanceof Error && reason.name === 'TimeoutError';
    return new LlmCallError({
      failure: deadline ? 'timeout' : 'aborted',
      message: deadline ? `call to ${where} timed out (caller's deadline)` : `call to ${where} aborted`,
      attempts,
      cause,
    });
  }

  private baseText(): string {
    return this.redact(`${this.base.origin}${this.basePath}`);
  }

  /** Servers echo keys back ("Incorrect API key provided: sk-..."); no message of ours may carry it. */
  private redact(text: string): string {
    const key = this.options.apiKey;
    return key === '' ? text : text.split(key).join('***');
  }
}

/** Self-telemetry: a CLIENT span per logical call (GenAI semantic conventions), retries included. */
function startLlmSpan(request: OutgoingRequest): Span {
  const operation = genAiOperation(request.url.pathname);
  const span = selfTracer.startSpan(request.model === undefined ? operation : `${operation} ${request.model}`, { kind: SpanKind.CLIENT });
  if (span.isRecording()) {
    span.setAttribute('gen_ai.operation.name', operation);
    if (request.model !== undefined) span.setAttribute('gen_ai.request.model', request.model);
    span.setAttribute('http.request.method', request.method);
    span.setAttribute('server.address', request.url.hostname);
    span.setAttribute('server.port', request.url.port !== '' ? Number(request.url.port) : request.url.protocol === 'https:' ? 443 : 80);
  }
  return span;
}

function endLlmSpan(span: Span, outcome: Exchange): void {
  if (span.isRecording()) {
    const status = outcome.ok ? outcome.answer.status : (outcome.error.status ?? outcome.answer?.status);
    const attempts = outcome.ok ? outcome.attempts : outcome.error.attempts;
    const usage = outcome.ok ? outcome.usage : outcome.error.usage;
    if (status !== undefined) span.setAttribute('http.response.status_code', status);
    span.setAttribute('spanscore.llm.attempts', attempts);
    span.setAttribute('spanscore.llm.retries', Math.max(0, attempts - 1));
    if (usage !== undefined) {
      span.setAttribute('gen_ai.usage.input_tokens', usage.inputTokens);
      span.setAttribute('gen_ai.usage.output_tokens', usage.outputTokens);
    }
    const model = outcome.ok ? (outcome.json as { model?: unknown } | null)?.model : undefined;
    if (typeof model === 'string') span.setAttribute('gen_ai.response.model', model);
    if (!outcome.ok) setSpanError(span, outcome.error, outcome.error.failure);
  }
  span.end();
}

/** The GenAI operation an OpenAI-style path names; the last path segment otherwise. */
function genAiOperation(path: string): string {
  if (path.endsWith('/chat/completions')) return 'chat';
  if (path.endsWith('/embeddings')) return 'embeddings';
  if (path.endsWith('/completions')) return 'text_completion';
  return path.split('/').filter((part) => part !== '').pop() ?? 'request';
}

function toResponse(answer: Answer): Response {
  const headers = new Headers(answer.headers);
  // The body was already decoded by fetch; these would describe bytes that no longer exist.
  headers.delete('content-encoding');
  headers.delete('content-length');
  headers.delete('transfer-encoding');
  const body = NULL_BODY_STATUSES.has(answer.status) ? null : answer.text;
  return new Response(body, { status: answer.status, statusText: answer.statusText, headers });
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; value: undefined } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, value: undefined };
  }
}

/** For the not-found message: which model the request asked for. */
function requestedModel(body: string | undefined): string | undefined {
  if (body === undefined) return undefined;
  const parsed = parseJson(body).value as { model?: unknown } | null | undefined;
  return typeof parsed === 'object' && parsed !== null && typeof parsed.model === 'string' ? parsed.model : undefined;
}

function snippet(text: string): string {
  const trimmed = text.trim().replace(/\s+/g, ' ');
  if (trimmed === '') return '(empty body)';
  return trimmed.length > 200 ? `${trimmed.slice(0, 200)}…` : trimmed;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
