import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAiServer, type OpenAiServer } from '../../helpers/openai-server.js';
import { waitFor } from '../../helpers/wait-for.js';
import { call, randomSpanId, randomTraceId, startApi, type ApiUnderTest, type TestSpan } from './api-harness.js';

let server: OpenAiServer;
let api: ApiUnderTest;

beforeAll(async () => {
  // The model decides the answer: `locked` is refused (a key no retry can fix), `gpt-test` answers.
  server = await startOpenAiServer((request) =>
    (request.body as { model?: string }).model === 'locked' ? { kind: 'error', status: 401, message: 'bad key' } : { kind: 'choice', choice: 'Y' },
  );
  const judge = (model: string, extra = '') =>
    `{ prompt: "Is {{output}} right? Y or N.", choice_scores: { "Y": 1, "N": 0 }, model: ${model}, base_url: ${server.baseUrl}, api_key: sk-test, retry: { max_retries: 0 }${extra} }`;
  api = await startApi(`
scoring:
  llm_prices:
    gpt-test: { input: 1, output: 4 }
scorers:
  locked: ${judge('locked')}
  pricey: ${judge('gpt-test', ', budget: 0.0000001')}
rules:
  - name: judged
    scorers: [locked]
    apply_to: { span_names: [judged] }
  - name: priced
    scorers: [pricey]
    apply_to: { span_names: [priced] }
`);
});

afterAll(async () => {
  await api?.stop();
  await server?.close();
});

const span = (name: string): TestSpan => ({ traceId: randomTraceId(), spanId: randomSpanId(), parentSpanId: 'aaaaaaaaaaaaaaaa', name });

async function scorerState(name: string): Promise<{ state: string; reason: string; spent_today_usd: number; budget_usd_per_day: number | null }> {
  const { body } = await call(api.admin, 'GET', '/rules', { key: 'readerAll' });
  return body.rules.flatMap((rule: { scorers: { name: string }[] }) => rule.scorers).find((s: { name: string }) => s.name === name);
}

async function verdict(s: TestSpan, rule: string): Promise<{ scorer: string; status: string; message: string }> {
  const { status, body } = await call(api.admin, 'GET', `/spans/${s.traceId}/${s.spanId}/explain`, { key: 'readerAll' });
  expect(status, JSON.stringify(body)).toBe(200);
  return body.rules.find((r: { rule: string }) => r.rule === rule).scorers[0];
}

describe('explain: scorers that could not run', () => {
  it('says scorer_paused for a span scored after its judge was paused, scorer_error for the call that paused it', async () => {
    const first = span('judged');
    await api.send([first]);
    await waitFor(async () => (await scorerState('locked')).state === 'paused', { what: 'the judge to pause' });
    expect((await scorerState('locked')).reason).toMatch(/401/);
    const second = span('judged');
    await api.send([second]);
    await waitFor(async () => (await call(api.admin, 'GET', '/rules', { key: 'readerAll' })).body.rules[0].counters.skipped === 1, { what: 'the second task to be skipped' });
    await waitFor(async () => (await verdict(first, 'judged')).status === 'scorer_error', { what: 'the failed call to be stored' });
    expect((await verdict(first, 'judged')).message).toMatch(/^the scorer failed: .*401/);
    const paused = await verdict(second, 'judged');
    expect(paused).toMatchObject({ scorer: 'locked', status: 'scorer_paused' });
    expect(paused.message).toMatch(/^the scorer is paused: .*401/);
  });

  it('says scorer_over_budget once the daily budget is spent', async () => {
    const first = span('priced');
    await api.send([first]);
    await waitFor(async () => (await scorerState('pricey')).state === 'over budget', { what: 'the budget to be spent' });
    expect(await scorerState('pricey')).toMatchObject({ budget_usd_per_day: 0.0000001 });
    const second = span('priced');
    await api.send([second]);
    await waitFor(async () => (await call(api.admin, 'GET', '/rules', { key: 'readerAll' })).body.rules[1].counters.skipped === 1, { what: 'the second task to be skipped' });
    // Scores are written in batches: the one that spent the budget lands a little later.
    await waitFor(async () => (await verdict(first, 'priced')).status === 'scored', { what: 'the first score to be stored' });
    const over = await verdict(second, 'priced');
    expect(over).toMatchObject({ scorer: 'pricey', status: 'scorer_over_budget' });
    expect(over.message).toMatch(/^the scorer is over its daily budget/);
  });
});
