import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { LlmCallError } from '../../src/llm/llm-call-error.js';
import { costUsd, LlmJudge } from '../../src/llm/llm-judge.js';
import type { LlmJudgeSpec, LlmRuntimeSpec } from '../../src/llm/llm-scorer-spec.js';
import { LlmTransport } from '../../src/llm/llm-transport.js';
import { RateLimiter } from '../../src/llm/rate-limiter.js';
import { READY_MADE_JUDGES } from '../../src/llm/ready-made-judges.js';
import type { ScorerArgs } from '../../src/scoring/scorer-args.js';
import { startOpenAiServer, type OpenAiServer } from '../helpers/openai-server.js';

interface SentBody {
  model: string;
  messages: Array<{ role: string; content: string }>;
  tools: Array<{ function: { name: string; parameters: { properties: { choice: { enum: string[] } } } } }>;
  tool_choice: unknown;
  temperature?: number;
  max_tokens?: number;
}

let server: OpenAiServer;

beforeAll(async () => {
  server = await startOpenAiServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

function runtime(overrides: Partial<LlmRuntimeSpec> = {}): LlmRuntimeSpec {
  return {
    baseUrl: server.baseUrl,
    apiKey: 'sk-test-key',
    model: 'judge-model-1',
    maxConcurrency: 4,
    rateLimit: {},
    retry: { maxRetries: 0, initialBackoffMs: 1, maxBackoffMs: 1 },
    ...overrides,
  };
}

function makeJudge(spec: LlmJudgeSpec, rt: LlmRuntimeSpec = runtime()): LlmJudge {
  const transport = new LlmTransport({
    baseUrl: rt.baseUrl,
    apiKey: rt.apiKey,
    limiter: new RateLimiter({}),
    retry: rt.retry,
    attemptTimeoutMs: 5_000,
    logger: silentLogger(),
  });
  return new LlmJudge(spec, rt, transport);
}

function spanArgs(overrides: Partial<ScorerArgs> = {}): ScorerArgs {
  return {
    input: 'What is the capital of France?',
    output: 'Paris is the capital of France.',
    expected: 'Paris',
    metadata: { criteria: 'Name the city.' },
    span: {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      parentSpanId: '',
      name: 'chat judge-test',
      kind: 'client',
      serviceName: 'shop-assistant',
      scopeName: 'test',
      attributes: { 'gen_ai.request.model': 'app-model' },
      resource: {},
      timestamp: '1700000000000000000',
      durationMs: 12,
      status: 'ok',
      statusMessage: '',
    },
    ...overrides,
  };
}

const spec: LlmJudgeSpec = {
  prompt: 'Question: {{input}}\nAnswer: {{output}}\nService: {{span.serviceName}}\nIs the answer right?',
  choiceScores: { good: 1, meh: 0.25, bad: 0 },
  useCot: true,
  temperature: 0,
  maxTokens: 300,
};

function sent(index = 0): SentBody {
  return server.requests[index]!.body as SentBody;
}

async function failure(promise: Promise<unknown>): Promise<LlmCallError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(LlmCallError);
  return error as LlmCallError;
}

describe('LlmJudge', () => {
  it('maps each choice to its score and keeps the reasons', async () => {
    const judge = makeJudge(spec);
    for (const [choice, score] of Object.entries(spec.choiceScores)) {
      server.enqueue({ kind: 'choice', choice, reasons: `reasons for ${choice}` });
      const judgement = await judge.judge(spanArgs());
      expect(judgement).toMatchObject({ choice, score, reasons: `reasons for ${choice}`, model: 'judge-model-1', attempts: 1 });
    }
    expect(server.requests).toHaveLength(3);
  });

  it('posts a forced select_choice call with the model, temperature, max_tokens and the rendered prompt', async () => {
    server.enqueue({ kind: 'choice', choice: 'good' });
    await makeJudge(spec).judge(spanArgs());
    const request = server.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe('Bearer sk-test-key');
    const body = sent();
    expect(body.model).toBe('judge-model-1');
    expect(body.temperature).toBe(0);
    expect(body.max_tokens).toBe(300);
    expect(body.tool_choice).toEqual({ type: 'function', function: { name: 'select_choice' } });
    expect(body.tools[0]!.function.name).toBe('select_choice');
    expect(body.tools[0]!.function.parameters.properties.choice.enum).toEqual(['good', 'meh', 'bad']);
    const content = body.messages[0]!.content;
    expect(content).toContain('Question: What is the capital of France?\nAnswer: Paris is the capital of France.\nService: shop-assistant');
    expect(content).toMatch(/step by step/);
  });

  it('renders structured input as JSON and leaves {{trace}} empty', async () => {
    server.enqueue({ kind: 'choice', choice: 'bad' });
    const judge = makeJudge({ ...spec, prompt: 'In={{input}} First={{input.0.content}} Trace=[{{trace}}] Out={{output}}' });
    await judge.judge(spanArgs({ input: [{ role: 'user', content: 'hi <you>' }] }));
    expect(sent().messages[0]!.content).toContain('In=[{"role":"user","content":"hi <you>"}] First=hi <you> Trace=[] Out=Paris is the capital of France.');
  });

  it('renders a trace rule\'s {{trace}} as a transcript and {{thread}} as the conversation', async () => {
    server.enqueue({ kind: 'choice', choice: 'good' });
    const judge = makeJudge({ ...spec, prompt: 'Q={{input}}\nThread:\n{{thread}}\nTrace:\n{{trace}}' });
    const step = (spanId: string, parentSpanId: string, name: string, input: unknown, output: unknown) => ({
      name, spanId, parentSpanId, kind: 'Internal', status: 'ok', statusMessage: '', timestamp: '1700000000000000000', durationMs: 1500, input, output, attributes: {},
    });
    await judge.judge(
      spanArgs({
        trace: [step('r1', '', 'agent', 'weather?', 'sunny'), step('c1', 'r1', 'chat', [{ role: 'user', content: 'weather?' }], 'sunny')],
        thread: [
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: 'sunny' },
        ],
        input: 'weather?',
      }),
    );
    expect(sent().messages[0]!.content).toContain(
      'Q=weather?\nThread:\nuser: weather?\nassistant: sunny\nTrace:\nagent [ok] 1.50s: weather? -> sunny\n  chat [ok] 1.50s: [{"role":"user","content":"weather?"}] -> sunny',
    );
  });

  it('reports usage and the cost at the configured price', async () => {
    server.enqueue({ kind: 'choice', choice: 'meh', usage: { prompt_tokens: 1_000, completion_tokens: 200 } });
    const judgement = await makeJudge(spec, runtime({ price: { inputPer1M: 2.5, outputPer1M: 10 } })).judge(spanArgs());
    expect(judgement.usage).toEqual({ inputTokens: 1_000, outputTokens: 200 });
    expect(judgement.costUsd).toBeCloseTo(0.0045, 12);
  });

  it('reports no cost without a price', async () => {
    server.enqueue({ kind: 'choice', choice: 'good', usage: { prompt_tokens: 10, completion_tokens: 2 } });
    const judgement = await makeJudge(spec).judge(spanArgs());
    expect(judgement.usage).toEqual({ inputTokens: 10, outputTokens: 2 });
    expect(judgement.costUsd).toBeNull();
  });

  it('turns a text-only answer into bad_response, keeping the usage that was spent', async () => {
    server.enqueue({
      kind: 'json',
      body: {
        id: 'x',
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: 'I would say good.' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 50, completion_tokens: 7, total_tokens: 57 },
      },
    });
    const error = await failure(makeJudge(spec).judge(spanArgs()));
    expect(error.failure).toBe('bad_response');
    expect(error.message).toBe('the judge answered in plain text instead of calling select_choice: "I would say good."');
    expect(error.usage).toEqual({ inputTokens: 50, outputTokens: 7 });
    expect(error.status).toBe(200);
    expect(error.attempts).toBe(1);
    expect(error.pausesScorer).toBe(false);
  });

  it('turns a choice outside the labels into bad_response naming the labels', async () => {
    server.enqueue({ kind: 'choice', choice: 'excellent' });
    const error = await failure(makeJudge(spec).judge(spanArgs()));
    expect(error.failure).toBe('bad_response');
    expect(error.message).toContain('"excellent", which is not one of the labels "good", "meh", "bad"');
    expect(error.usage).toEqual({ inputTokens: 100, outputTokens: 20 });
  });

  it('passes transport failures through as they are', async () => {
    server.enqueue({ kind: 'error', status: 401, message: 'Incorrect API key provided' });
    const auth = await failure(makeJudge(spec).judge(spanArgs()));
    expect(auth.failure).toBe('auth');
    expect(auth.pausesScorer).toBe(true);

    server.enqueue({ kind: 'error', status: 503 });
    const exhausted = await failure(makeJudge(spec).judge(spanArgs()));
    expect(exhausted.failure).toBe('retries_exhausted');
  });

  it('stops when the caller aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await failure(makeJudge(spec).judge(spanArgs(), controller.signal));
    expect(error.failure).toBe('aborted');
  });
});

describe('ready-made judges against the server', () => {
  it.each(Object.values(READY_MADE_JUDGES))('$name renders the span and round-trips every label', async (readyMade) => {
    const judge = makeJudge({ prompt: readyMade.prompt, choiceScores: readyMade.choiceScores, useCot: readyMade.useCot, readyMade: readyMade.name });
    const labels = Object.keys(readyMade.choiceScores);
    for (const label of labels) {
      server.enqueue({ kind: 'choice', choice: label, reasons: `why ${label}` });
      const judgement = await judge.judge(spanArgs());
      expect(judgement).toMatchObject({ choice: label, score: readyMade.choiceScores[label], reasons: `why ${label}` });
    }
    expect(server.requests).toHaveLength(labels.length);
    const body = sent();
    expect(body.tools[0]!.function.parameters.properties.choice.enum).toEqual(labels);
    const content = body.messages[0]!.content;
    expect(content).toContain('What is the capital of France?');
    expect(content).toContain('Paris is the capital of France.');
    if (readyMade.needsExpected) expect(content).toContain('\nParis\n');
    expect(content).not.toContain('{{');
  });
});

describe('costUsd', () => {
  it('prices input and output tokens per million', () => {
    expect(costUsd({ inputPer1M: 3, outputPer1M: 15 }, { inputTokens: 2_000_000, outputTokens: 100_000 })).toBeCloseTo(7.5, 12);
    expect(costUsd({ inputPer1M: 3, outputPer1M: 15 }, { inputTokens: 0, outputTokens: 0 })).toBe(0);
  });

  it('is null without a price or without usage', () => {
    expect(costUsd(undefined, { inputTokens: 1, outputTokens: 1 })).toBeNull();
    expect(costUsd({ inputPer1M: 1, outputPer1M: 1 }, undefined)).toBeNull();
  });
});
