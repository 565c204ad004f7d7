import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, randomSpanId, randomTraceId, startApi, type ApiUnderTest, type KeyName } from './api-harness.js';

// A key of project alpha must not learn whether something of project beta exists: what it
// gets for beta's span, rule or job is exactly what it gets for one that does not exist.

const RULES = `
rules:
  - name: alpha-rule
    project: alpha
    scorers: [ExactMatch]
  - name: beta-rule
    project: beta
    scorers: [ExactMatch]
  - name: global
    scorers: [ExactMatch]
`;

const alpha = { traceId: randomTraceId(), spanId: randomSpanId(), project: 'alpha' };
const beta = { traceId: randomTraceId(), spanId: randomSpanId(), project: 'beta' };
/** One span id in a trace of each project. */
const sharedId = randomSpanId();
const sharedAlpha = { traceId: randomTraceId(), spanId: sharedId, project: 'alpha' };
const sharedBeta = { traceId: randomTraceId(), spanId: sharedId, project: 'beta' };

let api: ApiUnderTest;
let betaJob: string;

beforeAll(async () => {
  api = await startApi(RULES);
  await api.send([alpha, beta, sharedAlpha, sharedBeta]);
  const started = await call(api.admin, 'POST', '/backfill', { key: 'beta', body: { rule: 'beta-rule', limit: 5, force: true } });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  betaJob = started.body.job.id;
}, 120_000);

afterAll(async () => {
  await api?.stop();
});

/** The answer with one id written as ID, to compare answers about different ids. */
async function answer(key: KeyName, method: string, path: (id: string) => string, body: ((id: string) => unknown) | undefined, id: string) {
  const response = await call(api.admin, method, path(id), { key, ...(body && { body: body(id) }) });
  return { status: response.status, body: JSON.parse(JSON.stringify(response.body).replaceAll(id, 'ID')) };
}

/** Asserts that `key` gets the same answer for `existing` (another project's) as for a made-up id, and that it is a 404. */
async function sameAsMissing(key: KeyName, method: string, path: (id: string) => string, body: ((id: string) => unknown) | undefined, existing: string, missing: string) {
  const forExisting = await answer(key, method, path, body, existing);
  const forMissing = await answer(key, method, path, body, missing);
  expect(forExisting).toEqual(forMissing);
  expect(forExisting.status).toBe(404);
  expect(forExisting.body.error.code).toBe('NOT_FOUND');
  return forExisting;
}

describe("another project's spans, rules and jobs look absent", () => {
  it('POST /score: a span of another project is "not found", with or without its trace id, by rule or by scorers', async () => {
    const missing = randomSpanId();
    await sameAsMissing('updaterAlpha', 'POST', () => '/score', (id) => ({ span_ids: [id], trace_id: beta.traceId, rule: 'alpha-rule' }), beta.spanId, missing);
    await sameAsMissing('updaterAlpha', 'POST', () => '/score', (id) => ({ span_ids: [id], rule: 'alpha-rule' }), beta.spanId, missing);
    const byScorers = await sameAsMissing('updaterAlpha', 'POST', () => '/score', (id) => ({ span_ids: [alpha.spanId, id], scorers: ['ExactMatch'] }), beta.spanId, missing);
    expect(byScorers.body.error.message).toBe('span not found: ID');
    // Its own project's key scores it.
    const own = await call(api.admin, 'POST', '/score', { key: 'beta', body: { span_ids: [beta.spanId], trace_id: beta.traceId, rule: 'beta-rule' } });
    expect(own.status, JSON.stringify(own.body)).toBe(200);
  });

  it('GET /spans/.../explain: a span of another project is "not found", in its trace or by id alone', async () => {
    const missing = randomSpanId();
    const inTrace = await sameAsMissing('readerAlpha', 'GET', (id) => `/spans/${beta.traceId}/${id}/explain`, undefined, beta.spanId, missing);
    expect(inTrace.body.error.message).toBe(`span ID not found in trace ${beta.traceId}`);
    const alone = await sameAsMissing('readerAlpha', 'GET', (id) => `/spans/${id}/explain`, undefined, beta.spanId, missing);
    expect(alone.body.error.message).toBe('span ID not found');
    expect((await call(api.admin, 'GET', `/spans/${beta.spanId}/explain`, { key: 'beta' })).status).toBe(200);
  });

  it('a span id in both projects is the key\'s own span, not "ambiguous": the other trace is not mentioned', async () => {
    const explained = await call(api.admin, 'GET', `/spans/${sharedId}/explain`, { key: 'readerAlpha' });
    expect(explained.status, JSON.stringify(explained.body)).toBe(200);
    expect(explained.body.span).toMatchObject({ TraceId: sharedAlpha.traceId, project: 'alpha' });
    expect(JSON.stringify(explained.body)).not.toContain(sharedBeta.traceId);

    const scored = await call(api.admin, 'POST', '/score', { key: 'updaterAlpha', body: { span_ids: [sharedId], rule: 'alpha-rule' } });
    expect(scored.status, JSON.stringify(scored.body)).toBe(200);
    expect(scored.body.scored.map((s: { traceId: string }) => s.traceId)).toEqual([sharedAlpha.traceId]);

    // A key for both projects still has to say which trace.
    const ambiguous = await call(api.admin, 'GET', `/spans/${sharedId}/explain`, { key: 'admin' });
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.body.error.message).toMatch(/is in 2 traces/);
  });

  it("a rule of another project is an unknown rule on every endpoint taking a rule name; the 404 lists only the key's rules", async () => {
    for (const [key, endpoint, toBody] of [
      ['readerAlpha', '/rules/test', (rule: string) => ({ rule, sample: 1 })],
      ['updaterAlpha', '/backfill', (rule: string) => ({ rule, dry_run: true })],
      ['updaterAlpha', '/score', (rule: string) => ({ span_ids: [alpha.spanId], rule })],
    ] as const) {
      const answerFor = await sameAsMissing(key, 'POST', () => endpoint, toBody, 'beta-rule', 'no-such-rule');
      expect(answerFor.body.error.message).toBe('no rule named "ID" (rules: alpha-rule, global)');
    }
    // A rule without a project is every project's, not another's: it exists for the key, which needs a key for every project to act on it.
    const global = await call(api.admin, 'POST', '/backfill', { key: 'updaterAlpha', body: { rule: 'global', dry_run: true } });
    expect(global.status).toBe(403);
    expect(global.body.error.message).toMatch(/does not cover every project/);
  });

  it('GET /jobs/ID: a job of another project is "no backfill job"', async () => {
    const answerFor = await sameAsMissing('readerAlpha', 'GET', (id) => `/jobs/${id}`, undefined, betaJob, 'a1b2c3d4e5f6');
    expect(answerFor.body.error.message).toBe('no backfill job "ID" (jobs are kept in memory until the daemon restarts)');
    expect((await call(api.admin, 'GET', `/jobs/${betaJob}`, { key: 'beta' })).status).toBe(200);
  });

  it("explain lists the key's rules and the rules of every project, not another project's", async () => {
    const names = async (key: KeyName) => {
      const response = await call(api.admin, 'GET', `/spans/${alpha.traceId}/${alpha.spanId}/explain`, { key });
      expect(response.status).toBe(200);
      return response.body.rules.map((r: { rule: string }) => r.rule);
    };
    expect(await names('readerAlpha')).toEqual(['alpha-rule', 'global']);
    expect(await names('admin')).toEqual(['alpha-rule', 'beta-rule', 'global']);
  });
});
