import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage, type ClickHouseStorageOptions } from '../../src/storage/clickhouse-storage.js';
import { readExplainAst } from '../../src/storage/explain-ast.js';
import type { QueryLimits } from '../../src/storage/user-query.js';
import { QueryLimitError, QueryRefusedError } from '../../src/storage/user-query-errors.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { allowedCases, refusedCases } from './query-guard-cases.js';
import { hexId, scoreRow, spanRow } from './storage-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'spanscore-query-guard-'));
let server: ClickHouseServer;
beforeAll(async () => {
  server = await startClickHouseServer();
});
afterAll(async () => {
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const LIMITS: QueryLimits = { maxExecutionMs: 10_000, maxResultRows: 100, maxResultBytes: 1024 * 1024 };

describe.each([
  ['embedded engine', (): Partial<ClickHouseStorageOptions> => ({ embeddedPath: join(dir, 'store') })],
  ['ClickHouse server', (): Partial<ClickHouseStorageOptions> => ({ url: server.url })],
])('ClickHouseStorage.userQuery, %s', (_name, target) => {
  let storage: ClickHouseStorage;
  const outfile = join(dir, `outfile-${hexId(4)}`);
  beforeAll(async () => {
    storage = new ClickHouseStorage({ ...target(), database: 'spanscore', logger: silentLogger() });
    await storage.migrate();
    const traceId = hexId(16);
    const first = spanRow({ TraceId: traceId, SpanName: 'a-first' });
    await storage.insertSpans([first, spanRow({ TraceId: traceId, SpanName: 'b-second' })]);
    await storage.insertScores([scoreRow({ TraceId: traceId, SpanId: first.SpanId, Score: 0.5 })]);
  });
  afterAll(async () => {
    await storage?.close();
  });

  it('refuses every statement that reaches past spanscore\'s tables, naming what is not allowed', async () => {
    for (const { sql, message } of refusedCases(outfile)) {
      const error = await storage.userQuery(sql, LIMITS).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error, sql).toBeInstanceOf(Error);
      expect(error!.message, sql).toMatch(message);
      if (!/Multi-statements/.test(message.source)) expect(error, sql).toBeInstanceOf(QueryRefusedError);
    }
    expect(existsSync(outfile)).toBe(false);
  });

  it('runs SELECTs of its tables: WITH, UNION ALL, subqueries, joins, qualified or not', async () => {
    for (const { sql, rows } of allowedCases({ spans: 2, scoredSpan: 'a-first', score: 0.5 })) {
      expect(await storage.userQuery(sql, LIMITS), sql).toEqual({ rows, truncated: false });
    }
  });

  it('stops a result over max_result_bytes with QueryLimitError, and answers the next query', async () => {
    const error = await storage.userQuery("SELECT arrayMap(x -> repeat('y', 1000000), range(700)) AS a", { ...LIMITS, maxExecutionMs: 120_000 }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/larger than admin\.query\.max_result_bytes \(1048576 bytes\)/);
    expect(error).toBeInstanceOf(QueryLimitError);
    const many = await storage.userQuery("SELECT repeat('y', 1000) AS s FROM (SELECT arrayJoin(range(5000)))", { ...LIMITS, maxResultRows: 10_000 }).catch((e: unknown) => e);
    expect(many).toBeInstanceOf(QueryLimitError);
    expect(await storage.userQuery('SELECT count() AS n FROM otel_traces', LIMITS)).toEqual({ rows: [{ n: '2' }], truncated: false });
  });

  it('returns at most max_result_rows rows, truncated: true when there were more', async () => {
    const capped = await storage.userQuery('SELECT arrayJoin(range(50)) AS x', { ...LIMITS, maxResultRows: 10 });
    expect(capped.truncated).toBe(true);
    expect(capped.rows).toHaveLength(10);
    const exact = await storage.userQuery('SELECT arrayJoin(range(10)) AS x', { ...LIMITS, maxResultRows: 10 });
    expect(exact).toMatchObject({ truncated: false });
    // The limit is on the result, not on the EXPLAIN the guard reads or on subqueries.
    const big = `SELECT count() AS n FROM (SELECT arrayJoin(range(1000)) AS x) WHERE x IN (SELECT arrayJoin(range(500))) AND ${Array.from({ length: 30 }, (_, i) => `x != ${i + 5000}`).join(' AND ')}`;
    expect(await storage.userQuery(big, { ...LIMITS, maxResultRows: 3 })).toEqual({ rows: [{ n: '500' }], truncated: false });
  });

  it('stops a query at max_execution_time', async () => {
    const error = await storage.userQuery('SELECT sleep(2) AS s', { ...LIMITS, maxExecutionMs: 500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryLimitError);
    expect((error as Error).message).toMatch(/ran longer than admin\.query\.max_execution_time \(0\.5s\)/);
  });
});

describe('readExplainAst', () => {
  it('reads EXPLAIN AST lines into a tree', () => {
    const root = readExplainAst(['SelectWithUnionQuery (children 1)', ' ExpressionList (children 2)', '  Identifier a (alias b)', '  Subquery (alias s) (children 1)', '   Literal UInt64_1']);
    expect(root.kind).toBe('SelectWithUnionQuery');
    const [list] = root.children;
    expect(list!.children.map((node) => [node.kind, node.detail])).toEqual([
      ['Identifier', 'a (alias b)'],
      ['Subquery', '(alias s)'],
    ]);
    expect(list!.children[1]!.children[0]!.parent).toBe(list!.children[1]);
  });

  it('refuses output that is not exactly a tree: forged lines from names with line breaks', () => {
    for (const rows of [
      [],
      ['SelectWithUnionQuery (children 1)', ' ExpressionList (children 1)', '  Identifier a', 'b'],
      ['SelectWithUnionQuery (children 1)', ' ExpressionList (children 1)', '  Identifier a', '  Identifier b'],
      ['SelectWithUnionQuery (children 1)', ' ExpressionList (children 2)', '  Identifier a'],
      ['SelectWithUnionQuery (children 1)', ' ExpressionList (children 1)', '  Identifier a', '   Identifier b'],
      ['SelectWithUnionQuery (children 1)', '   ExpressionList'],
      ['SelectWithUnionQuery', 'SelectWithUnionQuery'],
      ['SelectWithUnionQuery (children 1)', ' Literal \'a\tb\''],
      ['SelectWithUnionQuery (children 1)', ' ) (children 1)'],
    ]) {
      expect(() => readExplainAst(rows), JSON.stringify(rows)).toThrow(QueryRefusedError);
    }
  });
});
