import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LlmCallError } from '../../src/llm/llm-call-error.js';
import { LlmTransport, type LlmTransportOptions } from '../../src/llm/llm-transport.js';
import { RateLimiter } from '../../src/llm/rate-limiter.js';
import type { TokenUsage } from '../../src/llm/token-usage.js';
import { startOpenAiServer, type OpenAiServer } from '../helpers/openai-server.js';

const KEY = 'sk-test-0123456789abcdef';
const chatBody = { model: 'gpt-judge', messages: [{ role: 'user', content: 'Is 2+2=4?' }], max_tokens: 20 };

let server: OpenAiServer;
let logText: string;

beforeEach(async () => {
  server = await startOpenAiServer();
  logText = '';
});
afterEach(async () => {
  await server.close();
});

function transport(overrides: Partial<LlmTransportOptions> = {}): LlmTransport {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logText += chunk.toString('utf8');
      done();
    },
  });
  return new LlmTransport({
    baseUrl: server.baseUrl,
    apiKey: KEY,
    limiter: new RateLimiter({}),
    retry: { maxRetries: 3, initialBackoffMs: 5, maxBackoffMs: 20 },
    attemptTimeoutMs: 2_000,
    logger: pino({ level: 'debug' }, stream),
    ...overrides,
  });
}

/** The LlmCallError a call rejects with; fails the test when it resolves or throws something else. */
async function failureOf(call: Promise<unknown>): Promise<LlmCallError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LlmCallError);
  const failure = error as LlmCallError;
  expect(failure.message).not.toContain(KEY);
  expect(logText).not.toContain(KEY);
  return failure;
}

const post = (t: LlmTransport, signal?: AbortSignal) => t.postJson('/chat/completions', chatBody, { estimatedTokens: 100, signal });
const url = () => `${server.baseUrl}/chat/completions`;

describe('LlmTransport.postJson', () => {
  it('posts JSON with the bearer key and returns the parsed body and usage', async () => {
    server.enqueue({ kind: 'choice', choice: 'Y', usage: { prompt_tokens: 42, completion_tokens: 7 } });
    const response = await post(transport());
    expect(response.status).toBe(200);
    expect(response.attempts).toBe(1);
    expect(response.usage).toEqual({ inputTokens: 42, outputTokens: 7 });
    expect((response.body as { object: string }).object).toBe('chat.completion');
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe('/v1/chat/completions');
    expect(request!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.body).toEqual(chatBody);
  });

  it('sends no authorization header when the api key is empty', async () => {
    await post(transport({ apiKey: '' }));
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('retries a 429 after the Retry-After the server asked for, then succeeds', async () => {
    server.enqueue({ kind: 'error', status: 429, message: 'Rate limit reached', retryAfter: '1' });
    const response = await post(transport());
    expect(response.attempts).toBe(2);
    expect(server.requests).toHaveLength(2);
    const gap = server.requests[1]!.at - server.requests[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(990); // honours 1 s, far above maxBackoffMs = 20
    expect(gap).toBeLessThan(1_500);
  });

  it('honours retry-after-ms', async () => {
    server.enqueue({ kind: 'error', status: 429, retryAfterMs: '250' });
    await post(transport());
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(245);
  });

  it('gives up on repeated 500s with retries_exhausted, the attempt count and the last cause', async () => {
    server.setDefault(() => ({ kind: 'error', status: 500, message: 'upstream exploded' }));
    const error = await failureOf(post(transport()));
    expect(error.failure).toBe('retries_exhausted');
    expect(error.attempts).toBe(4);
    expect(error.status).toBe(500);
    expect(error.pausesScorer).toBe(false);
    expect(error.message).toBe(`gave up after 4 attempts: HTTP 500 from ${url()}: upstream exploded`);
    expect(server.requests).toHaveLength(4);
    expect(logText).toContain('retrying');
  });

  it('retries 408 and 409 too', async () => {
    server.enqueue({ kind: 'error', status: 408 }, { kind: 'error', status: 409 });
    expect((await post(transport())).attempts).toBe(3);
  });

  it('fails 401 as auth, without retrying, and never shows the key the server echoed', async () => {
    server.enqueue({ kind: 'error', status: 401, message: `Incorrect API key provided: ${KEY}.` });
    const error = await failureOf(post(transport()));
    expect(error.failure).toBe('auth');
    expect(error.pausesScorer).toBe(true);
    expect(error.status).toBe(401);
    expect(error.attempts).toBe(1);
    expect(error.message).toBe(`HTTP 401 from ${url()}: Incorrect API key provided: ***. (check api_key)`);
    expect(server.requests).toHaveLength(1);
  });

  it('fails 403 as auth', async () => {
    server.enqueue({ kind: 'error', status: 403, message: 'forbidden' });
    expect((await failureOf(post(transport()))).failure).toBe('auth');
  });

  it('fails 404 as not_found, naming the model', async () => {
    server.enqueue({ kind: 'error', status: 404, message: 'The model `gpt-judge` does not exist' });
    const error = await failureOf(post(transport()));
    expect(error.failure).toBe('not_found');
    expect(error.pausesScorer).toBe(true);
    expect(error.message).toBe(`model "gpt-judge" not found at ${url()} (HTTP 404: The model \`gpt-judge\` does not exist)`);
    expect(server.requests).toHaveLength(1);
  });

  it('fails 400 with code model_not_found as not_found', async () => {
    server.enqueue({ kind: 'error', status: 400, message: 'no such model', code: 'model_not_found' });
    const error = await failureOf(post(transport()));
    expect(error.failure).toBe('not_found');
    expect(error.status).toBe(400);
  });

  it('fails other 4xx as client_error without retrying', async () => {
    server.enqueue({ kind: 'error', status: 400, message: "'messages' is required" });
    const error = await failureOf(post(transport()));
    expect(error.failure).toBe('client_error');
    expect(error.pausesScorer).toBe(false);
    expect(error.message).toBe(`HTTP 400 from ${url()}: 'messages' is required`);
    expect(server.requests).toHaveLength(1);
  });

  it('retries a connection hangup', async () => {
    server.enqueue({ kind: 'hangup' }, { kind: 'hangup' });
    const response = await post(transport());
    expect(response.attempts).toBe(3);
    expect(server.requests).toHaveLength(3);
  });

  it('reports hangups that outlast the retries as a connection failure', async () => {
    server.setDefault(() => ({ kind: 'hangup' }));
    const error = await failureOf(post(transport({ retry: { maxRetries: 1, initialBackoffMs: 5, maxBackoffMs: 5 } })));
    expect(error.failure).toBe('retries_exhausted');
    expect(error.status).toBeUndefined();
    expect(error.message).toMatch(new RegExp(`^gave up after 2 attempts: connection to ${url()} failed: `));
  });

  it('retries per-attempt timeouts, then gives up with retries_exhausted', async () => {
    server.setDefault(() => ({ kind: 'choice', choice: 'Y', delayMs: 400 }));
    const start = performance.now();
    const error = await failureOf(post(transport({ attemptTimeoutMs: 80, retry: { maxRetries: 2, initialBackoffMs: 5, maxBackoffMs: 5 } })));
    expect(error.failure).toBe('retries_exhausted');
    expect(error.attempts).toBe(3);
    expect(error.message).toBe(`gave up after 3 attempts: no response from ${url()} within 80 ms`);
    expect(server.requests).toHaveLength(3);
    expect(performance.now() - start).toBeLessThan(380);
  });

  it('succeeds when a retry answers within the per-attempt timeout', async () => {
    server.enqueue({ kind: 'choice', choice: 'Y', delayMs: 400 });
    const response = await post(transport({ attemptTimeoutMs: 80 }));
    expect(response.attempts).toBe(2);
  });

  it('stops waiting between retries when the caller aborts', async () => {
    server.setDefault(() => ({ kind: 'error', status: 503 }));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await failureOf(post(transport({ retry: { maxRetries: 5, initialBackoffMs: 10_000, maxBackoffMs: 10_000 } }), controller.signal));
    expect(error.failure).toBe('aborted');
    expect(server.requests).toHaveLength(1);
  });

  it('stops an in-flight attempt on the caller\'s deadline, as timeout', async () => {
    server.enqueue({ kind: 'choice', choice: 'Y', delayMs: 400 });
    const start = performance.now();
    const error = await failureOf(post(transport(), AbortSignal.timeout(50)));
    expect(error.failure).toBe('timeout');
    expect(performance.now() - start).toBeLessThan(300);
  });

  it('acquires the limiter again for every attempt', async () => {
    server.enqueue({ kind: 'error', status: 500 });
    await post(transport({ limiter: new RateLimiter({ requestsPerMinute: 600 }) })); // one per 100 ms
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(70);
  });

  it('settles the token estimate with the real usage', async () => {
    const limiter = new RateLimiter({ tokensPerMinute: 60_000 });
    const t = transport({ limiter });
    const start = performance.now();
    // Each estimate is the whole minute's budget; without settle the second call would wait ~60 s.
    await t.postJson('/chat/completions', chatBody, { estimatedTokens: 60_000 });
    await t.postJson('/chat/completions', chatBody, { estimatedTokens: 60_000 });
    expect(performance.now() - start).toBeLessThan(1_000);
  });

  it('hands the reservation back after an error answer, so the retry does not wait for it', async () => {
    server.enqueue({ kind: 'error', status: 500 });
    const t = transport({ limiter: new RateLimiter({ tokensPerMinute: 60_000 }) });
    const start = performance.now();
    await t.postJson('/chat/completions', chatBody, { estimatedTokens: 60_000 });
    expect(performance.now() - start).toBeLessThan(1_000);
  });

  it('refuses a path that leaves baseUrl, before any I/O', async () => {
    const error = await failureOf(transport().postJson('/../admin', {}, { estimatedTokens: 1 }));
    expect(error.failure).toBe('host_not_allowed');
    expect(error.attempts).toBe(0);
    expect(server.requests).toHaveLength(0);
  });
});

describe('LlmTransport.createFetch', () => {
  function observed() {
    const outcomes: Array<{ usage?: TokenUsage; error?: LlmCallError; status?: number }> = [];
    return { outcomes, observe: (o: (typeof outcomes)[number]) => outcomes.push(o) };
  }

  it('refuses another origin, even one reaching the same server, before any I/O', async () => {
    const { outcomes, observe } = observed();
    const guarded = transport().createFetch(observe);
    const port = new URL(server.baseUrl).port;
    for (const target of [
      `http://localhost:${port}/v1/chat/completions`,
      `https://127.0.0.1:${port}/v1/chat/completions`,
      'http://example.com/v1/chat/completions',
    ]) {
      const error = await failureOf(guarded(target, { method: 'POST', body: '{}' }));
      expect(error.failure).toBe('host_not_allowed');
      expect(error.message).toContain(`only URLs under base_url ${server.baseUrl}`);
    }
    expect(server.requests).toHaveLength(0);
    expect(outcomes.map((o) => o.error?.failure)).toEqual(['host_not_allowed', 'host_not_allowed', 'host_not_allowed']);
  });

  it('refuses paths outside baseUrl, including look-alike prefixes and dot segments', async () => {
    const guarded = transport().createFetch(() => {});
    const origin = new URL(server.baseUrl).origin;
    for (const target of [`${origin}/admin`, `${origin}/v10/chat/completions`, `${server.baseUrl}/../secret`, `${server.baseUrl}/%2e%2e/secret`]) {
      expect((await failureOf(guarded(target, { method: 'POST', body: '{}' }))).failure).toBe('host_not_allowed');
    }
    expect(server.requests).toHaveLength(0);
  });

  it('returns a readable Response and observes the usage', async () => {
    const { outcomes, observe } = observed();
    const guarded = transport().createFetch(observe);
    const response = await guarded(url(), { method: 'POST', body: JSON.stringify(chatBody), headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { object: string }).object).toBe('chat.completion');
    expect(outcomes).toEqual([{ usage: { inputTokens: 100, outputTokens: 20 }, status: 200 }]);
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('serves the real OpenAI SDK: a chat completion reaches the test server, observe() gets usage', async () => {
    const { outcomes, observe } = observed();
    // The SDK insists on a key of its own; the transport's (empty) key is what goes out.
    const client = new OpenAI({ baseURL: server.baseUrl, apiKey: 'sdk-placeholder', fetch: transport({ apiKey: '' }).createFetch(observe), maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'gpt-judge',
      messages: [{ role: 'user', content: 'Is 2+2=4?' }],
      tools: [{ type: 'function', function: { name: 'select_choice', parameters: { type: 'object', properties: {} } } }],
      tool_choice: { type: 'function', function: { name: 'select_choice' } },
    });
    expect(completion.choices[0]!.message.tool_calls![0]!.type).toBe('function');
    expect(completion.usage?.prompt_tokens).toBe(100);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.path).toBe('/v1/chat/completions');
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
    expect(outcomes).toEqual([{ usage: { inputTokens: 100, outputTokens: 20 }, status: 200 }]);
  });

  it('retries for the SDK and hands it the final error response, observing the failure', async () => {
    const { outcomes, observe } = observed();
    server.setDefault(() => ({ kind: 'error', status: 502, message: 'bad gateway' }));
    const client = new OpenAI({ baseURL: server.baseUrl, apiKey: KEY, fetch: transport().createFetch(observe), maxRetries: 0 });
    const thrown = await client.chat.completions.create({ model: 'gpt-judge', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(OpenAI.APIError);
    expect((thrown as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect(server.requests).toHaveLength(4);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.error?.failure).toBe('retries_exhausted');
    expect(outcomes[0]!.status).toBe(502);
  });

  it('throws when the last attempt got no answer, even if an earlier one did', async () => {
    const { outcomes, observe } = observed();
    server.enqueue({ kind: 'error', status: 500 }, { kind: 'hangup' });
    const guarded = transport({ retry: { maxRetries: 1, initialBackoffMs: 5, maxBackoffMs: 5 } }).createFetch(observe);
    const error = await failureOf(guarded(url(), { method: 'POST', body: JSON.stringify(chatBody) }));
    expect(error.failure).toBe('retries_exhausted');
    expect(error.status).toBeUndefined();
    expect(error.message).toContain('connection to');
    expect(outcomes).toEqual([{ error, status: undefined }]);
  });

  it('lets the SDK see a 401 as its AuthenticationError, observing auth', async () => {
    const { outcomes, observe } = observed();
    server.enqueue({ kind: 'error', status: 401, message: `Incorrect API key provided: ${KEY}` });
    const client = new OpenAI({ baseURL: server.baseUrl, apiKey: KEY, fetch: transport().createFetch(observe), maxRetries: 0 });
    const thrown = await client.chat.completions.create({ model: 'gpt-judge', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(outcomes[0]!.error?.failure).toBe('auth');
    expect(outcomes[0]!.error?.message).not.toContain(KEY);
    expect(server.requests).toHaveLength(1);
  });

  it('keeps an SDK pointed at another host from sending anything', async () => {
    const { outcomes, observe } = observed();
    const port = new URL(server.baseUrl).port;
    const client = new OpenAI({ baseURL: `http://localhost:${port}/v1`, apiKey: KEY, fetch: transport().createFetch(observe), maxRetries: 0 });
    const thrown = await client.chat.completions.create({ model: 'gpt-judge', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(OpenAI.APIConnectionError);
    expect((thrown as Error).cause).toBeInstanceOf(LlmCallError);
    expect(outcomes[0]!.error?.failure).toBe('host_not_allowed');
    expect(server.requests).toHaveLength(0);
  });
});
