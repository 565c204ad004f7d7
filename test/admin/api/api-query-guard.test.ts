import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClickHouseServer, type ClickHouseServer } from '../../helpers/clickhouse-server.js';
import { daemonConfig } from '../../helpers/daemon-config.js';
import { runCli, startDaemon, type RunningDaemon } from '../../helpers/daemon-process.js';
import { otlpJsonRequest, postJson, randomSpanId, randomTraceId } from '../../helpers/otlp-json.js';
import { waitFor } from '../../helpers/wait-for.js';
import { allowedCases, refusedCases, type GuardFixture } from '../../storage/query-guard-cases.js';
import { KEYS, authYaml, call } from './api-harness.js';

/**
 * POST /api/v1/query through real daemons: one on the embedded engine, one on a ClickHouse
 * server as its all-powerful `default` user (so that only the guard stands in the way), and
 * one on that server set up as docs/security.md says: a least-privilege user for the daemon
 * and a read-only one for `admin.query`, on a database of its own.
 */

const dir = mkdtempSync(join(tmpdir(), 'spanscore-query-guard-api-'));
const QUERY_USER = 'spanscore_query';
const QUERY_PASSWORD = 'query-secret';
const DAEMON_USER = 'spanscore_daemon';
const DAEMON_PASSWORD = 'daemon-secret';
/** The least-privilege daemon's database. */
const LEAST = 'least_privilege';

/**
 * The users of docs/security.md: the daemon's, with only what it needs on its database, and
 * the read-only one, with the settings the daemon sends with every query changeable all the
 * same. clickhouse-local (the test server) has no writable user storage for CREATE USER, so
 * they are declared in users.xml, with the same settings and grants.
 */
const USERS_XML = `<clickhouse>
  <profiles>
    <default/>
    <${QUERY_USER}>
      <readonly>1</readonly>
      <constraints>
        <session_timezone><changeable_in_readonly/></session_timezone>
        <output_format_json_quote_64bit_integers><changeable_in_readonly/></output_format_json_quote_64bit_integers>
        <max_execution_time><max>3600</max><changeable_in_readonly/></max_execution_time>
        <max_result_rows><changeable_in_readonly/></max_result_rows>
        <max_result_bytes><changeable_in_readonly/></max_result_bytes>
        <result_overflow_mode><changeable_in_readonly/></result_overflow_mode>
      </constraints>
    </${QUERY_USER}>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>::/0</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <${DAEMON_USER}>
      <password>${DAEMON_PASSWORD}</password>
      <networks><ip>::/0</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
      <grants>
        <query>GRANT CREATE DATABASE, CREATE TABLE, CREATE VIEW, ALTER ADD COLUMN, ALTER MODIFY SETTING, SELECT, INSERT ON ${LEAST}.*</query>
        <query>GRANT TABLE ENGINE ON MergeTree, TABLE ENGINE ON ReplacingMergeTree, TABLE ENGINE ON AggregatingMergeTree</query>
      </grants>
    </${DAEMON_USER}>
    <${QUERY_USER}>
      <password>${QUERY_PASSWORD}</password>
      <networks><ip>::/0</ip></networks>
      <profile>${QUERY_USER}</profile>
      <quota>default</quota>
      <grants><query>GRANT SELECT ON ${LEAST}.*</query></grants>
    </${QUERY_USER}>
  </users>
  <quotas><default/></quotas>
</clickhouse>
`;

const MAX_RESULT_BYTES = 1024 * 1024;
/** Two spans of one trace; the rule scores the root (ExactMatch: 1), which adds a scoring span. */
const FIXTURE: GuardFixture = { spans: 3, scoredSpan: 'a-first', score: 1 };

let server: ClickHouseServer;
const daemons: Partial<Record<'embedded' | 'server' | 'queryUser', RunningDaemon>> = {};

/** `leastPrivilege`: the daemon stores as DAEMON_USER in LEAST, runs user queries as QUERY_USER, and scores nothing. */
function configYaml(storage: { embeddedPath?: string; url?: string }, leastPrivilege = false): string {
  const credentials = leastPrivilege ? `, username: ${QUERY_USER}, password: ${QUERY_PASSWORD}` : '';
  const admin = `admin:\n  endpoint: 127.0.0.1:0\n  query: { max_result_rows: 1000, max_result_bytes: ${MAX_RESULT_BYTES}, max_execution_time: 2m${credentials} }`;
  const rules = leastPrivilege ? '' : 'rules:\n  - name: guard-roots\n    scorers: [ExactMatch]\n';
  const clickhouse = leastPrivilege ? `    database: ${LEAST}\n    username: ${DAEMON_USER}\n    password: ${DAEMON_PASSWORD}\n` : undefined;
  return daemonConfig({ ...storage, grpc: false, clickhouse, extra: `${rules}${authYaml()}` }).replace('admin: { endpoint: 127.0.0.1:0 }', admin);
}

async function query(daemon: RunningDaemon, sql: string) {
  return call(daemon.addresses.admin, 'POST', '/query', { key: 'readerAll', body: { sql } });
}

/** Stores FIXTURE through the daemon's receiver and waits until its score is readable. */
async function storeFixture(daemon: RunningDaemon): Promise<void> {
  const traceId = randomTraceId();
  const root = randomSpanId();
  const { body } = otlpJsonRequest([
    { traceId, spanId: root, name: 'a-first' },
    { traceId, spanId: randomSpanId(), parentSpanId: root, name: 'b-second' },
  ]);
  const response = await postJson(daemon.addresses.http!, body, { Authorization: `Bearer ${KEYS.admin}` });
  expect(response.status).toBe(200);
  await waitFor(
    async () => {
      const { body: counted } = await query(daemon, 'SELECT (SELECT count() FROM scores FINAL) AS scores, (SELECT count() FROM otel_traces) AS spans');
      return counted.rows?.[0]?.scores === '1' && counted.rows?.[0]?.spans === String(FIXTURE.spans);
    },
    { what: 'the fixture and its score', timeoutMs: 30_000 },
  );
}

beforeAll(async () => {
  server = await startClickHouseServer({ usersXml: USERS_XML });
  const [embedded, onServer] = await Promise.all([startDaemon(configYaml({ embeddedPath: join(dir, 'clickhouse') })), startDaemon(configYaml({ url: server.url }))]);
  Object.assign(daemons, { embedded, server: onServer });
  daemons.queryUser = await startDaemon(configYaml({ url: server.url }, true));
  await Promise.all([storeFixture(embedded), storeFixture(onServer)]);
});

afterAll(async () => {
  for (const daemon of Object.values(daemons)) expect(await daemon.stop('SIGTERM')).toBe(0);
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(['embedded', 'server'] as const)('POST /api/v1/query, %s ClickHouse', (mode) => {
  const outfile = join(dir, `outfile-${mode}`);

  it('refuses each way past spanscore\'s tables with 400 INVALID_ARGUMENT naming it, and nothing is written', async () => {
    const daemon = daemons[mode]!;
    for (const { sql, message } of refusedCases(outfile)) {
      const refused = await query(daemon, sql);
      expect(refused.status, sql).toBe(400);
      expect(refused.body.error.code, sql).toBe('INVALID_ARGUMENT');
      expect(refused.body.error.message, sql).toMatch(/^sql: /);
      expect(refused.body.error.message, sql).toMatch(message);
    }
    expect(existsSync(outfile)).toBe(false);
    expect((await query(daemon, 'SELECT count() AS n FROM otel_traces')).body.rows).toEqual([{ n: String(FIXTURE.spans) }]);
  });

  it('runs SELECTs of its own tables: WITH, UNION ALL, subqueries, joins of otel_traces and scores, qualified or not', async () => {
    for (const { sql, rows } of allowedCases(FIXTURE)) {
      const answer = await query(daemons[mode]!, sql);
      expect(answer.status, `${sql}: ${JSON.stringify(answer.body)}`).toBe(200);
      expect(answer.body, sql).toEqual({ rows, row_count: rows.length, truncated: false });
    }
  });

  it('answers a result too big for a JS string with 400 naming admin.query.max_result_bytes, and keeps answering', async () => {
    const daemon = daemons[mode]!;
    const tooBig = await query(daemon, "SELECT arrayMap(x -> repeat('y', 1000000), range(700))");
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.error.message).toMatch(new RegExp(`^sql: the result is larger than admin\\.query\\.max_result_bytes \\(${MAX_RESULT_BYTES} bytes\\)`));
    expect((await fetch(`http://${daemon.addresses.admin}/healthz`)).status).toBe(200);
    expect((await query(daemon, 'SELECT count() AS n FROM scores FINAL')).body).toEqual({ rows: [{ n: '1' }], row_count: 1, truncated: false });
  });
});

describe('admin.query.username / password, with a least-privilege user for the daemon', () => {
  it('run the queries as that read-only ClickHouse user; the daemon creates its schema and stores as its own', async () => {
    const daemon = daemons.queryUser!;
    const who = await query(daemon, "SELECT currentUser() AS user, getSetting('readonly') AS readonly");
    expect(who.body).toEqual({ rows: [{ user: QUERY_USER, readonly: 1 }], row_count: 1, truncated: false });
    expect((await query(daemon, `SELECT count() AS n FROM ${LEAST}.otel_traces`)).body.rows).toEqual([{ n: '0' }]);
    expect((await query(daemon, 'SELECT count() AS n FROM spanscore.otel_traces')).body.error.message).toBe(`sql: only tables of database ${LEAST} may be read: spanscore.otel_traces`);
    // The daemon's own work uses storage.clickhouse's user, which may insert.
    const response = await postJson(daemon.addresses.http!, otlpJsonRequest([{ name: 'stored-by-query-user-daemon' }]).body, { Authorization: `Bearer ${KEYS.admin}` });
    expect(response.status).toBe(200);
    await waitFor(async () => (await query(daemon, "SELECT count() AS n FROM otel_traces WHERE SpanName = 'stored-by-query-user-daemon'")).body.rows?.[0]?.n === '1', {
      what: 'the span the daemon stored',
    });
  });
});

describe('spanscore query', () => {
  it('uses the same guard and limits', async () => {
    const file = join(dir, 'cli.yaml');
    writeFileSync(file, configYaml({ url: server.url }));
    const refused = await runCli(['query', '--config', file, 'SELECT name FROM system.users']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^query refused: only tables of database spanscore may be read: system\.users/);
    const tooBig = await runCli(['query', '--config', file, "SELECT arrayMap(x -> repeat('y', 1000000), range(2)) AS a"]);
    expect(tooBig.code).toBe(1);
    expect(tooBig.stderr).toMatch(/larger than admin\.query\.max_result_bytes/);
    const ok = await runCli(['query', '--config', file, '--format', 'json', 'SELECT count() AS n FROM scores FINAL']);
    expect(ok.stderr).toBe('');
    expect(JSON.parse(ok.stdout)).toEqual([{ n: '1' }]);
  });
});
