import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, randomSpanId, randomTraceId, startApi, type ApiUnderTest, type KeyName } from './api-harness.js';

const RULES = `
rules:
  - name: alpha-roots
    project: alpha
    scorers: [ExactMatch]
  - name: global
    scorers: [ExactMatch]
    enabled: false
`;

let api: ApiUnderTest;
const traceId = randomTraceId();
const spanId = randomSpanId();
let jobId: string;

beforeAll(async () => {
  api = await startApi(RULES);
  await api.send([{ traceId, spanId, project: 'alpha' }]);
  const started = await call(api.admin, 'POST', '/backfill', { key: 'admin', body: { rule: 'alpha-roots', limit: 5, force: true } });
  expect(started.status).toBe(202);
  jobId = started.body.job.id;
});

afterAll(async () => {
  await api?.stop();
});

interface Endpoint {
  name: string;
  method: string;
  path: () => string;
  body?: () => unknown;
  /**
   * Keys for the four cells of the matrix: a key of another project, one without the permission, one that works.
   * A key of another project asking for a rule, span or job by name gets 404, as if it did not exist
   * (api-project-isolation.test.ts); naming a project it lacks (`?project=`, or /query's all projects) is a 403.
   */
  wrongProject: { key: KeyName; path?: () => string; status?: 404 };
  missingPermission: KeyName;
  right: KeyName;
  status: number;
}

const ENDPOINTS: Endpoint[] = [
  { name: 'GET /rules', method: 'GET', path: () => '/rules', wrongProject: { key: 'beta', path: () => '/rules?project=alpha' }, missingPermission: 'ingestOnly', right: 'readerAlpha', status: 200 },
  { name: 'POST /rules/test', method: 'POST', path: () => '/rules/test', body: () => ({ rule: 'alpha-roots', sample: 1 }), wrongProject: { key: 'beta', status: 404 }, missingPermission: 'ingestOnly', right: 'readerAlpha', status: 200 },
  { name: 'POST /score', method: 'POST', path: () => '/score', body: () => ({ span_ids: [spanId], trace_id: traceId, rule: 'alpha-roots' }), wrongProject: { key: 'beta', status: 404 }, missingPermission: 'readerAlpha', right: 'updaterAlpha', status: 200 },
  { name: 'POST /backfill', method: 'POST', path: () => '/backfill', body: () => ({ rule: 'alpha-roots', dry_run: true }), wrongProject: { key: 'beta', status: 404 }, missingPermission: 'readerAlpha', right: 'updaterAlpha', status: 200 },
  { name: 'GET /jobs/ID', method: 'GET', path: () => `/jobs/${jobId}`, wrongProject: { key: 'beta', status: 404 }, missingPermission: 'ingestOnly', right: 'readerAlpha', status: 200 },
  { name: 'GET /spans/TRACE/SPAN/explain', method: 'GET', path: () => `/spans/${traceId}/${spanId}/explain`, wrongProject: { key: 'beta', status: 404 }, missingPermission: 'ingestOnly', right: 'readerAlpha', status: 200 },
  { name: 'GET /spans/SPAN/explain', method: 'GET', path: () => `/spans/${spanId}/explain`, wrongProject: { key: 'beta', status: 404 }, missingPermission: 'ingestOnly', right: 'readerAlpha', status: 200 },
  { name: 'GET /scores', method: 'GET', path: () => '/scores', wrongProject: { key: 'beta', path: () => '/scores?project=alpha' }, missingPermission: 'ingestOnly', right: 'readerAlpha', status: 200 },
  // /query reads every project: a key for one project is the wrong project.
  { name: 'POST /query', method: 'POST', path: () => '/query', body: () => ({ sql: 'SELECT 1 AS one' }), wrongProject: { key: 'readerAlpha' }, missingPermission: 'ingestOnly', right: 'readerAll', status: 200 },
];

describe('admin API permission matrix', () => {
  for (const endpoint of ENDPOINTS) {
    it(`${endpoint.name}: no key 401, wrong project ${endpoint.wrongProject.status ?? 403}, missing permission 403, right key ${endpoint.status}`, async () => {
      const body = endpoint.body?.();
      const noKey = await call(api.admin, endpoint.method, endpoint.path(), { body });
      expect(noKey.status).toBe(401);
      expect(noKey.body.error.code).toBe('UNAUTHENTICATED');
      expect(noKey.body.error.message).toMatch(/missing API key/);

      const wrong = await call(api.admin, endpoint.method, (endpoint.wrongProject.path ?? endpoint.path)(), { key: endpoint.wrongProject.key, body });
      if (endpoint.wrongProject.status === 404) {
        expect(wrong.status).toBe(404);
        expect(wrong.body.error.code).toBe('NOT_FOUND');
      } else {
        expect(wrong.status).toBe(403);
        expect(wrong.body.error.code).toBe('PERMISSION_DENIED');
        expect(wrong.body.error.message).toMatch(/does not cover/);
      }

      const lacking = await call(api.admin, endpoint.method, endpoint.path(), { key: endpoint.missingPermission, body });
      expect(lacking.status).toBe(403);
      expect(lacking.body.error.message).toMatch(/lacks the "(read|update)" permission/);

      const right = await call(api.admin, endpoint.method, endpoint.path(), { key: endpoint.right, body });
      expect(right.status, JSON.stringify(right.body)).toBe(endpoint.status);
    });
  }

  it('an unknown key is 401 on any API path; /healthz, /readyz and /metrics stay open', async () => {
    const response = await fetch(`http://${api.admin}/api/v1/rules`, { headers: { Authorization: 'Bearer not-a-key' } });
    expect(response.status).toBe(401);
    expect(((await response.json()) as any).error.message).toBe('unknown API key');
    expect((await fetch(`http://${api.admin}/api/v1/nope`)).status).toBe(401);
    expect((await fetch(`http://${api.admin}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${api.admin}/readyz`)).status).toBe(200);
    expect((await fetch(`http://${api.admin}/metrics`)).status).toBe(200);
  });

  it('lists only the rules a key covers: a rule without a project needs a key for every project', async () => {
    const alpha = await call(api.admin, 'GET', '/rules', { key: 'readerAlpha' });
    expect(alpha.body.rules.map((r: { name: string }) => r.name)).toEqual(['alpha-roots']);
    const all = await call(api.admin, 'GET', '/rules', { key: 'readerAll' });
    expect(all.body.rules.map((r: { name: string }) => r.name)).toEqual(['alpha-roots', 'global']);
    const global = all.body.rules[1];
    expect(global).toMatchObject({ enabled: false, project: null, scope: 'span', sampling_rate: 1, apply_to: { root_spans: true, span_names: [] }, filter: null });
    expect(global.scorers).toEqual([{ name: 'ExactMatch', kind: 'builtin', state: 'active', reason: '', spent_today_usd: 0, budget_usd_per_day: null }]);
    expect(Object.keys(global.counters).sort()).toEqual(['enqueued', 'errored', 'filtered', 'sampled', 'scored', 'seen', 'selected', 'shed', 'skipped']);
    // A rule without a project is every project's: only '*' keys may act on it.
    const test = await call(api.admin, 'POST', '/rules/test', { key: 'readerAlpha', body: { rule: 'global' } });
    expect(test.status).toBe(403);
  });
});

describe('admin API request errors', () => {
  const bad = async (method: string, path: string, body: unknown, status = 400) => {
    const response = await call(api.admin, method, path, { key: 'admin', body });
    expect(response.status, JSON.stringify(response.body)).toBe(status);
    return response.body.error as { code: string; message: string; issues?: { field: string; message: string }[] };
  };

  it('400 names the missing or malformed field', async () => {
    expect((await bad('POST', '/rules/test', {})).message).toMatch(/^rule: required/);
    expect((await bad('POST', '/rules/test', { rule: 'alpha-roots', sample: 51 })).message).toMatch(/^sample: /);
    expect((await bad('POST', '/rules/test', { rule: 'alpha-roots', hours: 'a day' })).message).toMatch(/^hours: /);
    expect((await bad('POST', '/rules/test', { rule: { name: 'x', scorers: ['ExactMatch'], filter: 'name = ' } })).message).toMatch(/^rule\.filter: /);
    expect((await bad('POST', '/rules/test', { rule: { name: 'x', scorers: ['Nope'] } })).message).toMatch(/^rule\.scorers\[0\]: .*"Nope"/);
    expect((await bad('POST', '/rules/test', { rule: 'alpha-roots', extra: 1 })).message).toBe('extra: unknown field');
    expect((await bad('POST', '/score', { rule: 'alpha-roots' })).message).toMatch(/^span_ids: /);
    expect((await bad('POST', '/score', { span_ids: ['xyz'], rule: 'alpha-roots' })).message).toMatch(/^span_ids\[0\]: must be a span id/);
    expect((await bad('POST', '/score', { span_ids: [spanId], trace_id: 'short', rule: 'alpha-roots' })).message).toMatch(/^trace_id: must be a trace id/);
    expect((await bad('POST', '/score', { span_ids: [spanId] })).message).toMatch(/^rule: give exactly one of/);
    expect((await bad('POST', '/score', { span_ids: [spanId], scorers: ['ExactMatch', 'Nope'] })).message).toMatch(/^scorers\[1\]: no scorer named "Nope"/);
    expect((await bad('POST', '/backfill', { rule: 'alpha-roots', limit: 151 })).message).toBe('limit: 151 is over the cap of 150 spans per backfill (admin.backfill_max_spans)');
    expect((await bad('POST', '/backfill', { rule: 'alpha-roots', from: 'yesterday' })).message).toMatch(/^from: must be an RFC 3339 time/);
    expect((await bad('POST', '/backfill', { rule: 'alpha-roots', since: 'a while' })).message).toMatch(/^since: invalid duration/);
    expect((await bad('POST', '/backfill', { rule: 'alpha-roots', filter: 'name ==' })).message).toMatch(/^filter: /);
    expect((await bad('POST', '/backfill', { limit: 5 })).message).toMatch(/^rule: /);
    expect((await bad('GET', '/scores?since=forever', undefined)).message).toMatch(/^since: invalid duration/);
    expect((await bad('GET', '/scores?since=30d&bucket=1s', undefined)).message).toMatch(/^bucket: .*at most 1000/);
    expect((await bad('POST', '/query', {})).message).toMatch(/^sql: /);
    expect((await bad('GET', `/spans/nothex/${spanId}/explain`, undefined)).message).toMatch(/^trace_id: must be a trace id/);
    expect((await bad('GET', `/spans/${traceId}/123/explain`, undefined)).message).toMatch(/^span_id: must be a span id/);
    const invalidJson = await call(api.admin, 'POST', '/score', { key: 'admin', rawBody: '{"span_ids": [' });
    expect(invalidJson.status).toBe(400);
    expect(invalidJson.body.error.message).toMatch(/^body: not valid JSON/);
    const notObject = await call(api.admin, 'POST', '/query', { key: 'admin', body: [1, 2] });
    expect(notObject.status).toBe(400);
    expect(notObject.body.error.message).toMatch(/^body: /);
  });

  it('404 for an unknown rule, span, job or path', async () => {
    expect((await bad('POST', '/rules/test', { rule: 'nope' }, 404)).message).toBe('no rule named "nope" (rules: alpha-roots, global)');
    expect((await bad('POST', '/score', { span_ids: ['00000000000000aa'], rule: 'nope' }, 404)).message).toMatch(/no rule named "nope"/);
    expect((await bad('POST', '/backfill', { rule: 'nope' }, 404)).message).toMatch(/no rule named "nope"/);
    const missing = randomSpanId();
    expect((await bad('POST', '/score', { span_ids: [spanId, missing], rule: 'alpha-roots' }, 404)).message).toBe(`span not found: ${missing}`);
    expect((await bad('GET', `/spans/${traceId}/${missing}/explain`, undefined, 404)).message).toBe(`span ${missing} not found in trace ${traceId}`);
    expect((await bad('GET', `/spans/${missing}/explain`, undefined, 404)).message).toBe(`span ${missing} not found`);
    expect((await bad('GET', '/jobs/nope', undefined, 404)).message).toMatch(/no backfill job "nope"/);
    expect((await bad('GET', '/nope', undefined, 404)).code).toBe('NOT_FOUND');
  });

  it('405 for a known path with another method, with Allow', async () => {
    for (const [method, path, allow] of [
      ['GET', '/score', 'POST'],
      ['POST', '/rules', 'GET'],
      ['DELETE', '/query', 'POST'],
      ['PUT', `/jobs/${jobId}`, 'GET'],
    ] as const) {
      const response = await call(api.admin, method, path, { key: 'admin' });
      expect(response.status).toBe(405);
      expect(response.body.error.code).toBe('METHOD_NOT_ALLOWED');
      expect(response.headers.get('allow')).toBe(allow);
    }
  });

  it('413 for a body over 1 MiB', async () => {
    const response = await call(api.admin, 'POST', '/query', { key: 'admin', body: { sql: `SELECT '${'x'.repeat(1024 * 1024)}'` } });
    expect(response.status).toBe(413);
    expect(response.body.error.message).toMatch(/larger than the limit of 1048576 bytes/);
  });
});
