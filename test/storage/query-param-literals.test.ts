import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { inlineLargeParams, inlineParams } from '../../src/storage/query-param-literals.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';

/** Strings that could end a literal, a line, or be taken for a placeholder or a comment. */
const AWKWARD = [
  '',
  "it's",
  "\\'",
  '\\',
  'a\\',
  "''",
  '"double" `back`',
  '{p0:String}',
  '{ p1 : String }',
  '-- not a comment',
  '/* not a comment */',
  'line\nbreak\r\n',
  'tab\there',
  'nul\u0000byte',
  'bell\u0007 del\u007f esc\u001b',
  'ünïcödé, 中文, 😀',
  '\\x41 \\n \\0',
];

/** Enough parameters that the statement goes with them inlined. */
const PADDING = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`pad${i}`, `x${i}`]));

function selectAll(values: Record<string, unknown>, type: (name: string) => string): string {
  return `SELECT [${Object.keys(values).map((name) => `toString({${name}:${type(name)}})`).join(', ')}] AS v`;
}

let server: ClickHouseServer;
const storages: Record<string, ClickHouseStorage> = {};
beforeAll(async () => {
  server = await startClickHouseServer();
  storages.server = new ClickHouseStorage({ url: server.url, database: 'literals', logger: silentLogger() });
  storages.embedded = new ClickHouseStorage({ embeddedPath: join(mkdtempSync(join(tmpdir(), 'spanscore-literals-')), 'ch'), database: 'literals', logger: silentLogger() });
  for (const storage of Object.values(storages)) await storage.migrate();
}, 60_000);
afterAll(async () => {
  for (const storage of Object.values(storages)) await storage.close();
  await server?.dispose();
});

describe('query parameters inlined as literals', () => {
  it('leaves a statement with few, short parameters as it is', () => {
    const params = { a: 'x', b: 1 };
    expect(inlineLargeParams('SELECT {a:String}, {b:Int64}', params)).toEqual({ sql: 'SELECT {a:String}, {b:Int64}', params });
    expect(inlineLargeParams('SELECT {a:String}', { a: 'x'.repeat(40_000) }).params).toBeUndefined();
  });

  it('substitutes placeholders only, never inside literals, quoted names or comments', () => {
    const sql = "SELECT {a:String} AS `{a:String}`, '{a:String}' AS \"{a:String}\" -- {a:String}\n/* {a:String} */ , { a : String }, {b:Map(String, String)}";
    const bound = inlineParams(sql, { a: "it's", b: { k: 'v' }, unused: 1 });
    expect(bound.sql).toBe("SELECT 'it\\'s' AS `{a:String}`, '{a:String}' AS \"{a:String}\" -- {a:String}\n/* {a:String} */ , 'it\\'s', {b:Map(String, String)}");
    // What could not be inlined, or was never used, still goes as a parameter.
    expect(bound.params).toEqual({ b: { k: 'v' }, unused: 1 });
  });

  for (const mode of ['embedded', 'server'] as const) {
    it(`reads back exactly what a bound parameter gives (${mode})`, async () => {
      const storage = storages[mode]!;
      const strings = Object.fromEntries(AWKWARD.map((value, i) => [`s${i}`, value]));
      const numbers = { f0: '-0', f1: '1e21', f2: '0.1', f3: '1.7976931348623157e308', f4: '5e-324', f5: 3, i0: '9223372036854775807', i1: '-9223372036854775808', i2: 42 };
      const type = (name: string) => (name.startsWith('s') || name.startsWith('pad') ? 'String' : name.startsWith('f') ? 'Float64' : 'Int64');
      const all = { ...strings, ...numbers };
      const bound = await storage.query<{ v: string[] }>(selectAll(all, type), all, { readonly: true });
      const inlined = await storage.query<{ v: string[] }>(selectAll({ ...all, ...PADDING }, type), { ...all, ...PADDING }, { readonly: true });
      expect(bound[0]!.v.slice(0, AWKWARD.length)).toEqual(AWKWARD);
      expect(inlined[0]!.v.slice(0, Object.keys(all).length)).toEqual(bound[0]!.v);

      const list = [...AWKWARD, ...Array.from({ length: 50_000 }, (_, i) => `v${i}`)];
      const [row] = await storage.query<{ n: string; has: number; missing: number }>(
        "SELECT length({list:Array(String)}) AS n, 'v49999' IN {list:Array(String)} AS has, 'v50000' IN {list:Array(String)} AS missing",
        { list },
        { readonly: true },
      );
      expect(row).toEqual({ n: String(list.length), has: 1, missing: 0 });
      const [echo] = await storage.query<{ head: string[] }>('SELECT arraySlice({list:Array(String)}, 1, {n:UInt32}) AS head', { list, n: AWKWARD.length }, { readonly: true });
      expect(echo!.head).toEqual(AWKWARD);
    }, 60_000);
  }
});
