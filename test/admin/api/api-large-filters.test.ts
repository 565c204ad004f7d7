import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClickHouseServer, type ClickHouseServer } from '../../helpers/clickhouse-server.js';
import { call, randomSpanId, randomTraceId, startApi, type ApiUnderTest } from './api-harness.js';

// Big filters, as a user pastes them from a spreadsheet of ids: long OR chains and IN lists.
const ORS = 20_000;
const IN_ITEMS = 50_000;
const orFilter = Array.from({ length: ORS }, (_, i) => `attributes['k'] = 'v${i}'`).join(' OR ');
const inFilter = `attributes['k'] IN (${Array.from({ length: IN_ITEMS }, (_, i) => `'v${i}'`).join(', ')})`;
/** Every comparison on a key of its own: nothing to merge into a set. */
const manyKeys = (n: number) => Array.from({ length: n }, (_, i) => `attributes['k${i}'] = 'v${i}'`).join(' OR ');
/** Values that must reach ClickHouse as they are, whatever way they travel. */
const awkward = `it's a \\ back'slash "quote" {p0:String} \t tab, ünïcödé`;
const awkwardFilter = `attributes['k'] = ${quote(awkward)} OR ${Array.from({ length: ORS }, (_, i) => `attributes['k'] = 'w${i}'`).join(' OR ')}`;

const DEFAULT_MAX_FILTER_BYTES = 1024 * 1024;

const RULES = `
rules:
  - name: alpha-all
    project: alpha
    scorers: [ExactMatch]
`;

function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const inlineRule = (filter: string) => ({ name: 'big', project: 'alpha', scorers: ['ExactMatch'], filter });

/** A filter of exactly `bytes` UTF-8 bytes that would match everything if it ran. */
function filterOfBytes(bytes: number): string {
  const head = `attributes['k'] != '`;
  return `${head}${'x'.repeat(bytes - head.length - 1)}'`;
}

for (const mode of ['embedded', 'server'] as const) {
  describe(`admin API with large filters (${mode} ClickHouse)`, () => {
    let server: ClickHouseServer | undefined;
    let api: ApiUnderTest;
    const spans = ['v7', `v${ORS - 1}`, `v${IN_ITEMS - 1}`, 'other', awkward, 'v12'].map((value, i) => ({
      traceId: randomTraceId(),
      spanId: randomSpanId(),
      project: i === 5 ? 'beta' : 'alpha',
      attributes: { 'input.value': 'q', 'output.value': 'a', expected: 'a', k: value, [`k${i}`]: `v${i}` },
    }));

    beforeAll(async () => {
      if (mode === 'server') server = await startClickHouseServer();
      api = await startApi(RULES, { backfillMaxSpans: 150, ...(server && { clickhouseUrl: server.url }) });
      await api.send(spans);
    }, 120_000);

    afterAll(async () => {
      await api?.stop();
      await server?.dispose();
    });

    const test = (filter: string) => call(api.admin, 'POST', '/rules/test', { key: 'admin', body: { rule: inlineRule(filter), sample: 10 } });

    it(`POST /rules/test runs a filter of ${ORS} ORs`, async () => {
      const response = await test(orFilter);
      expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
      expect(response.body).toMatchObject({ matched: 2, sampled: 2 });
      expect(response.body.scored.map((s: { spanId: string }) => s.spanId).sort()).toEqual([spans[0]!.spanId, spans[1]!.spanId].sort());
    }, 60_000);

    it(`POST /rules/test runs an IN list of ${IN_ITEMS} items`, async () => {
      const response = await test(inFilter);
      expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
      expect(response.body).toMatchObject({ matched: 3 });
    }, 60_000);

    it(`ORs over as many keys run up to ClickHouse's complexity limit; ${ORS} of them are a 400, not a 500`, async () => {
      const response = await test(manyKeys(2_000));
      expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
      // Span i has k<i> = v<i>: the alpha ones (0 to 4) match.
      expect(response.body).toMatchObject({ matched: 5 });

      const tooComplex = await test(manyKeys(ORS));
      expect(tooComplex.status, JSON.stringify(tooComplex.body).slice(0, 500)).toBe(400);
      expect(tooComplex.body.error.message).toMatch(/^rule: the filter is too complex for ClickHouse to run \(.*AST is too big.*\)/);
      const backfill = await call(api.admin, 'POST', '/backfill', { key: 'admin', body: { rule: 'alpha-all', filter: manyKeys(ORS), dry_run: true } });
      expect(backfill.status, JSON.stringify(backfill.body).slice(0, 500)).toBe(400);
      expect(backfill.body.error.message).toMatch(/the filter is too complex/);
    }, 60_000);

    it('values with quotes, backslashes and braces match exactly, in a big filter as in a small one', async () => {
      for (const filter of [awkwardFilter, `attributes['k'] = ${quote(awkward)}`]) {
        const response = await test(filter);
        expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
        expect(response.body.scored.map((s: { spanId: string }) => s.spanId)).toEqual([spans[4]!.spanId]);
      }
    }, 60_000);

    it('POST /backfill estimates and runs with a big extra filter', async () => {
      const dry = await call(api.admin, 'POST', '/backfill', { key: 'admin', body: { rule: 'alpha-all', filter: orFilter, dry_run: true, force: true } });
      expect(dry.status, JSON.stringify(dry.body).slice(0, 500)).toBe(200);
      expect(dry.body.estimate).toMatchObject({ spans: 2 });

      const started = await call(api.admin, 'POST', '/backfill', { key: 'admin', body: { rule: 'alpha-all', filter: inFilter, force: true } });
      expect(started.status, JSON.stringify(started.body).slice(0, 500)).toBe(202);
      expect(started.body.estimate).toMatchObject({ spans: 3 });
      let job = started.body.job;
      for (let i = 0; i < 300 && job.state === 'running'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        job = (await call(api.admin, 'GET', `/jobs/${job.id}`, { key: 'admin' })).body;
      }
      expect(job).toMatchObject({ state: 'done', total: 3, scored: 3 });
    }, 60_000);

    it('a filter over admin.max_filter_bytes is a 400 naming the limit, on every endpoint that takes one', async () => {
      const over = filterOfBytes(DEFAULT_MAX_FILTER_BYTES + 1);
      const tested = await test(over);
      expect(tested.status, JSON.stringify(tested.body).slice(0, 500)).toBe(400);
      expect(tested.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', issues: [{ field: 'rule.filter' }] });
      expect(tested.body.error.message).toBe(`rule.filter: ${DEFAULT_MAX_FILTER_BYTES + 1} bytes, over the limit of ${DEFAULT_MAX_FILTER_BYTES} bytes (admin.max_filter_bytes)`);

      const backfill = await call(api.admin, 'POST', '/backfill', { key: 'admin', body: { rule: 'alpha-all', filter: over, dry_run: true } });
      expect(backfill.status, JSON.stringify(backfill.body).slice(0, 500)).toBe(400);
      expect(backfill.body.error.message).toBe(`filter: ${DEFAULT_MAX_FILTER_BYTES + 1} bytes, over the limit of ${DEFAULT_MAX_FILTER_BYTES} bytes (admin.max_filter_bytes)`);

      // At the limit it runs (and matches every alpha span whose k is not that long string).
      const at = await test(filterOfBytes(DEFAULT_MAX_FILTER_BYTES));
      expect(at.status, JSON.stringify(at.body).slice(0, 500)).toBe(200);
      expect(at.body.matched).toBe(5);
    }, 60_000);

    it("a filter the parser's depth guard refuses is a 400; the deepest it takes runs", async () => {
      const nested = (depth: number) => `${'NOT ('.repeat(depth)}attributes['k'] IN ('v7', lower(coalesce(attributes['j'], 'x')))${')'.repeat(depth)}`;
      const tooDeep = await test(nested(100));
      expect(tooDeep.status, JSON.stringify(tooDeep.body).slice(0, 500)).toBe(400);
      expect(tooDeep.body.error.message).toMatch(/^rule\.filter: .*the filter nests too deeply/);
      const backfill = await call(api.admin, 'POST', '/backfill', { key: 'admin', body: { rule: 'alpha-all', filter: nested(100), dry_run: true } });
      expect(backfill.status).toBe(400);
      expect(backfill.body.error.message).toMatch(/^filter: .*the filter nests too deeply/);

      let deepest = 99;
      while ((await test(nested(deepest))).status === 400) deepest--;
      const response = await test(nested(deepest));
      expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
    }, 60_000);
  });
}
