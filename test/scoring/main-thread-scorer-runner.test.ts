import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../src/admin/logger.js';
import type { LlmRuntimeSpec } from '../../src/llm/llm-scorer-spec.js';
import { MainThreadScorerRunner } from '../../src/scoring/main-thread-scorer-runner.js';
import type { MainThreadScorerSpec } from '../../src/scoring/rule-spec.js';
import type { ScoreOutcome } from '../../src/scoring/scorer-args.js';
import { startOpenAiServer, type OpenAiServer } from '../helpers/openai-server.js';
import { SPAN } from './scored-span-fixture.js';

/**
 * The runner of LLM judges and autoevals scorers against a local OpenAI-compatible server:
 * scores, rationale, tokens and cost; retries; pauses; budgets; rate limits.
 */

let server: OpenAiServer;
const runners: MainThreadScorerRunner[] = [];

beforeAll(async () => {
  server = await startOpenAiServer();
});

afterAll(async () => {
  await server.close();
});

afterEach(() => {
  for (const runner of runners.splice(0)) runner.close();
  server.requests.length = 0;
  server.setDefault(() => ({ kind: 'choice', choice: 'Y' }));
});

function runtime(overrides: Partial<LlmRuntimeSpec> = {}): LlmRuntimeSpec {
  return {
    baseUrl: server.baseUrl,
    apiKey: 'sk-test-secret',
    model: 'gpt-test',
    maxConcurrency: 4,
    rateLimit: {},
    retry: { maxRetries: 2, initialBackoffMs: 5, maxBackoffMs: 20 },
    price: { inputPer1M: 2, outputPer1M: 10 },
    ...overrides,
  };
}

function judge(name: string, overrides: Partial<LlmRuntimeSpec> = {}): MainThreadScorerSpec {
  return {
    name,
    timeoutMs: 2_000,
    kind: 'llm',
    judge: { prompt: 'Question: {{input}}\nAnswer: {{output}}\nIs the answer right?', choiceScores: { Y: 1, P: 0.5, N: 0 }, useCot: true },
    runtime: runtime(overrides),
  };
}

async function start(scorers: MainThreadScorerSpec[]) {
  const metrics = new DaemonMetrics({ processMetrics: false });
  const runner = new MainThreadScorerRunner({ scorers, metrics, logger: silentLogger(), autoevalsResolveFrom: [process.cwd()] });
  runners.push(runner);
  await runner.start();
  let id = 0;
  const run = async (scorer: string, output = 'Paris'): Promise<ScoreOutcome[]> => {
    const taskId = ++id;
    const results = await runner.runBatch([{ id: taskId, scorer, args: { input: 'Capital of France?', output, expected: 'Paris', metadata: {}, span: SPAN } }]);
    return results.get(taskId)!;
  };
  return { runner, metrics, run };
}

async function metricValue(metrics: DaemonMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = (metric?.values as Array<{ labels: Record<string, string>; value: number }> | undefined)?.find((v) =>
    Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l),
  );
  return value?.value;
}

describe('LLM judge on the main thread', () => {
  it('maps each choice to its score and keeps the rationale, model, tokens and cost', async () => {
    const { run, metrics } = await start([judge('right')]);
    server.enqueue(
      { kind: 'choice', choice: 'Y', reasons: 'Paris is the capital.', usage: { prompt_tokens: 1000, completion_tokens: 100 } },
      { kind: 'choice', choice: 'P', reasons: 'half right' },
      { kind: 'choice', choice: 'N', reasons: 'wrong' },
    );
    const [yes] = await run('right');
    const [partly] = await run('right');
    const [no] = await run('right');
    expect(yes).toMatchObject({
      scorer: 'right',
      score: 1,
      error: '',
      metadata: { choice: 'Y', rationale: 'Paris is the capital.', model: 'gpt-test', tokens: { input: 1000, output: 100 }, attempts: 1 },
    });
    // 1000 * $2/1M + 100 * $10/1M
    expect(yes!.metadata['cost_usd']).toBeCloseTo(0.003, 12);
    expect([partly!.score, no!.score]).toEqual([0.5, 0]);
    expect(no!.metadata['rationale']).toBe('wrong');
    const body = server.requests[0]!.body as { model: string; messages: Array<{ content: string }>; tool_choice: unknown };
    expect(body.model).toBe('gpt-test');
    expect(body.messages[0]!.content).toContain('Answer: Paris');
    expect(body.tool_choice).toEqual({ type: 'function', function: { name: 'select_choice' } });
    expect(server.requests[0]!.headers.authorization).toBe('Bearer sk-test-secret');
    expect(await metricValue(metrics, 'spanscore_llm_tokens_total', { scorer: 'right', model: 'gpt-test', type: 'input' })).toBe(1200);
    expect(await metricValue(metrics, 'spanscore_llm_cost_usd_total', { scorer: 'right', model: 'gpt-test' })).toBeCloseTo(0.003 + 2 * (100 * 2 + 20 * 10) / 1e6, 12);
    expect(await metricValue(metrics, 'spanscore_llm_calls_total', { scorer: 'right', outcome: 'ok' })).toBe(3);
  });

  it('retries a 429 after its Retry-After, then scores', async () => {
    const { run } = await start([judge('limited')]);
    server.enqueue({ kind: 'error', status: 429, message: 'slow down', retryAfter: '0.3' }, { kind: 'choice', choice: 'Y' });
    const [outcome] = await run('limited');
    expect(outcome).toMatchObject({ score: 1, error: '', metadata: { attempts: 2 } });
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(280);
  });

  it('writes an error outcome naming the attempts when 500s exhaust the retries', async () => {
    const { run, metrics } = await start([judge('flaky')]);
    server.setDefault(() => ({ kind: 'error', status: 500, message: 'upstream exploded' }));
    const [outcome] = await run('flaky');
    expect(outcome!.score).toBeNull();
    expect(outcome!.error).toMatch(/flaky.*3 attempts.*500.*upstream exploded/);
    expect(outcome!.error).not.toContain('sk-test-secret');
    expect(outcome!.metadata).toMatchObject({ attempts: 3, status: 500 });
    expect(server.requests).toHaveLength(3);
    expect(await metricValue(metrics, 'spanscore_llm_calls_total', { scorer: 'flaky', outcome: 'retries_exhausted' })).toBe(1);
  });

  it('pauses a scorer on 401: one request, later tasks skipped, state visible, resumed on reload', async () => {
    const { run, runner, metrics } = await start([judge('locked'), judge('other')]);
    server.setDefault((request) =>
      (request.body as { messages: Array<{ content: string }> }).messages[0]!.content.includes('locked-output')
        ? { kind: 'error', status: 401, message: 'Incorrect API key provided' }
        : { kind: 'choice', choice: 'Y' },
    );
    const [first] = await run('locked', 'locked-output');
    expect(first!.error).toMatch(/401.*Incorrect API key provided.*paused/);
    expect(await run('locked', 'locked-output')).toEqual([]);
    expect(await run('locked', 'locked-output')).toEqual([]);
    expect(server.requests).toHaveLength(1);
    expect(runner.statuses()['locked']).toMatchObject({ state: 'paused', reason: expect.stringMatching(/401/) });
    expect(await metricValue(metrics, 'spanscore_scorer_state', { scorer: 'locked', state: 'paused' })).toBe(1);
    expect(await metricValue(metrics, 'spanscore_scorer_skipped_total', { scorer: 'locked', reason: 'paused' })).toBe(2);
    // Other scorers go on.
    expect((await run('other'))[0]).toMatchObject({ score: 1 });
    expect(runner.statuses()['other']!.state).toBe('active');
    runner.resume();
    expect(runner.statuses()['locked']!.state).toBe('active');
    server.setDefault(() => ({ kind: 'choice', choice: 'N' }));
    expect((await run('locked', 'locked-output'))[0]).toMatchObject({ score: 0 });
  });

  it('stops a scorer for the day when its budget is spent', async () => {
    // Each call: 1000 in + 100 out = $0.003; a budget of $0.007 allows three calls.
    const { run, runner, metrics } = await start([judge('thrifty', { budgetUsdPerDay: 0.007 })]);
    server.setDefault(() => ({ kind: 'choice', choice: 'Y', usage: { prompt_tokens: 1000, completion_tokens: 100 } }));
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await run('thrifty'));
    expect(outcomes.map((o) => o.length)).toEqual([1, 1, 1, 0, 0]);
    expect(server.requests).toHaveLength(3);
    expect(runner.statuses()['thrifty']).toMatchObject({ state: 'over budget', budgetUsdPerDay: 0.007 });
    expect(runner.statuses()['thrifty']!.spentTodayUsd).toBeCloseTo(0.009, 12);
    expect(await metricValue(metrics, 'spanscore_scorer_state', { scorer: 'thrifty', state: 'over budget' })).toBe(1);
    expect(await metricValue(metrics, 'spanscore_scorer_skipped_total', { scorer: 'thrifty', reason: 'over_budget' })).toBe(2);
  });

  it('holds the request rate within 10% of requests_per_minute', async () => {
    const { runner } = await start([judge('paced', { rateLimit: { requestsPerMinute: 1200 }, maxConcurrency: 16 })]);
    const tasks = Array.from({ length: 41 }, (_, i) => ({ id: i, scorer: 'paced', args: { input: 'q', output: 'a', expected: undefined, metadata: {}, span: SPAN } }));
    const results = await runner.runBatch(tasks);
    expect([...results.values()].every((outcomes) => outcomes[0]?.score === 1)).toBe(true);
    const times = server.requests.map((r) => r.at).sort((a, b) => a - b);
    const perSecond = ((times.length - 1) / (times.at(-1)! - times[0]!)) * 1000;
    expect(perSecond).toBeGreaterThan(20 * 0.9);
    expect(perSecond).toBeLessThan(20 * 1.1);
  });
});

describe('autoevals scorers through the adapter', () => {
  it('runs autoevals Factuality against the configured base_url only, with usage and cost', async () => {
    const spec: MainThreadScorerSpec = { name: 'ae-facts', timeoutMs: 5_000, kind: 'autoevals', autoevals: 'Factuality', options: {}, runtime: runtime({ model: 'gpt-4o-mini', price: { inputPer1M: 1, outputPer1M: 1 } }) };
    const { run } = await start([spec]);
    server.enqueue({ kind: 'choice', choice: 'C', reasons: 'same facts', usage: { prompt_tokens: 300, completion_tokens: 30 } });
    const [outcome] = await run('ae-facts');
    // autoevals' Factuality maps C (same details) to 1.
    expect(outcome).toMatchObject({ scorer: 'ae-facts', score: 1, error: '', metadata: { model: 'gpt-4o-mini', tokens: { input: 300, output: 30 } } });
    expect(outcome!.metadata['cost_usd']).toBeCloseTo(330 / 1e6, 12);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.path).toBe('/v1/chat/completions');
    expect(server.requests[0]!.headers.authorization).toBe('Bearer sk-test-secret');
  });

  it('an autoevals LLM scorer without base_url calls nobody and says why', async () => {
    const spec: MainThreadScorerSpec = { name: 'no-endpoint', timeoutMs: 5_000, kind: 'autoevals', autoevals: 'Factuality', options: {}, runtime: undefined };
    const { run } = await start([spec]);
    const [outcome] = await run('no-endpoint');
    expect(outcome!.score).toBeNull();
    expect(outcome!.error).toMatch(/no base_url, so it may not call any LLM/);
    expect(server.requests).toHaveLength(0);
  });

  it('an autoevals heuristic needs no endpoint', async () => {
    const spec: MainThreadScorerSpec = { name: 'ae-lev', timeoutMs: 5_000, kind: 'autoevals', autoevals: 'Levenshtein', options: {}, runtime: undefined };
    const { run } = await start([spec]);
    const [outcome] = await run('ae-lev', 'Paris');
    expect(outcome).toMatchObject({ scorer: 'ae-lev', score: 1, error: '' });
  });
});
