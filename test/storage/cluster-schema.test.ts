import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { SchemaError } from '../../src/storage/schema-error.js';
import { createDatabaseStatement, createTableStatements, type ClusterSchemaOptions } from '../../src/storage/schema.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { runCli, startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { waitFor } from '../helpers/wait-for.js';
import { e2eConfig, expectScores, expectSpansStored, sendWithEveryExporter } from '../e2e/exporters-scenario.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/*
 * The test server is clickhouse-local with a one-node cluster (see startClickHouseServer's
 * `cluster`). It parses ON CLUSTER statements but does not run them (no DDL worker), and its
 * replicas stay read-only (no interserver address). So the DDL is checked in the two halves a
 * real cluster splits it into: the initiator's parse of the ON CLUSTER text, and each host's
 * execution of the statement without the clause (what its DDL worker runs).
 */
const CLUSTER = 'spanscore_test';
const REPLICATED: ClusterSchemaOptions = {
  name: CLUSTER,
  replicated: true,
  zookeeperPath: '/clickhouse/tables/{shard}/{database}/{table}',
  replicaName: '{replica}',
};

describe('ClickHouse cluster mode', () => {
  let server: ClickHouseServer;
  let daemon: RunningDaemon | undefined;

  beforeAll(async () => {
    server = await startClickHouseServer({ cluster: CLUSTER });
  });
  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await server?.dispose();
  });

  async function sql(query: string, params: Record<string, string> = {}): Promise<{ status: number; text: string }> {
    const search = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [`param_${k}`, escapeParam(v)]));
    const response = await fetch(`${server.url}/?${search}`, { method: 'POST', body: query });
    return { status: response.status, text: await response.text() };
  }
  async function rows(query: string): Promise<Record<string, string>[]> {
    const { status, text } = await sql(`${query} FORMAT JSONEachRow`);
    expect(status, text).toBe(200);
    return text.trim() === '' ? [] : text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
  }
  /** Runs a statement as a host's DDL worker does: the ON CLUSTER clause taken out. */
  async function runOnHost(statement: string): Promise<void> {
    const local = statement.replace(` ON CLUSTER \`${CLUSTER}\``, '');
    expect(local).not.toBe(statement);
    const { status, text } = await sql(local);
    expect(status, `${local}\n${text}`).toBe(200);
  }
  async function createPerHost(database: string, cluster: ClusterSchemaOptions): Promise<void> {
    await runOnHost(createDatabaseStatement(database, cluster));
    // ALTER ... ADD COLUMN IF NOT EXISTS upgrades are left out: the columns are in the new
    // tables, so migrate skips them, and a read-only replica refuses even a no-op ALTER.
    for (const statement of createTableStatements({ database, cluster, ttlDays: 30 }).filter((s) => !s.startsWith('ALTER'))) {
      await runOnHost(statement);
    }
  }

  it('`spanscore schema` prints ON CLUSTER DDL that ClickHouse parses: Replicated local tables, Distributed ones over them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spanscore-schema-'));
    const file = join(dir, 'spanscore.yaml');
    writeFileSync(file, `storage:\n  clickhouse:\n    url: ${server.url}\n    database: db1\n    cluster: ${CLUSTER}\n    ttl_days: 7\n`);
    const { code, stdout, stderr } = await runCli(['schema', '--config', file]);
    expect(code, stderr).toBe(0);
    const statements = stdout.split(';\n').map((s) => s.trim()).filter((s) => s !== '');
    expect(statements).toHaveLength(10); // the database, 3 local tables and the view, 3 Distributed tables, an upgrade of scores_local and scores
    for (const statement of statements) {
      const { status, text } = await sql('SELECT formatQuery({q:String})', { q: statement });
      expect(status, `${statement}\n${text}`).toBe(200);
      expect(text, statement).toContain(`ON CLUSTER ${CLUSTER}`);
    }
    const text = statements.join('\n');
    expect(text).toContain("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')");
    expect(text).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', ScoredAt)");
    expect(text).toContain(`ENGINE = Distributed('${CLUSTER}', 'db1', 'scores_local', cityHash64(TraceId))`);
    expect(text).toContain('TTL toDateTime(Timestamp) + toIntervalDay(7)');
    // A single server's schema has no cluster clause and no local tables.
    writeFileSync(file, `storage:\n  clickhouse:\n    url: ${server.url}\n    database: db1\n`);
    const single = await runCli(['schema', '--config', file]);
    expect(single.code).toBe(0);
    expect(single.stdout).not.toContain('ON CLUSTER');
    expect(single.stdout).not.toContain('_local');
  });

  it("each host's statements create Replicated tables registered in Keeper and Distributed tables over them; migrate then sends no DDL", async () => {
    await createPerHost('replicated', REPLICATED);
    const tables = Object.fromEntries(
      (await rows("SELECT name, engine FROM system.tables WHERE database = 'replicated'")).map((r) => [r.name, r.engine]),
    );
    expect(tables).toEqual({
      otel_traces: 'Distributed',
      otel_traces_local: 'ReplicatedMergeTree',
      otel_traces_trace_id_ts: 'Distributed',
      otel_traces_trace_id_ts_local: 'ReplicatedAggregatingMergeTree',
      otel_traces_trace_id_ts_mv: 'MaterializedView',
      scores: 'Distributed',
      scores_local: 'ReplicatedReplacingMergeTree',
    });
    const replicas = await rows("SELECT table, zookeeper_path, replica_name FROM system.replicas WHERE database = 'replicated' ORDER BY table");
    expect(replicas).toEqual(
      ['otel_traces_local', 'otel_traces_trace_id_ts_local', 'scores_local'].map((table) => ({
        table,
        zookeeper_path: `/clickhouse/tables/01/replicated/${table}`,
        replica_name: 'r1',
      })),
    );
    for (const table of ['otel_traces', 'scores', 'otel_traces_trace_id_ts']) {
      const columns = async (name: string) => (await rows(`DESCRIBE TABLE replicated.${name}`)).map((c) => `${c.name} ${c.type}`);
      expect(await columns(table), table).toEqual(await columns(`${table}_local`));
    }

    // This server refuses every ON CLUSTER statement, so migrate succeeding proves it sent none.
    const storage = new ClickHouseStorage({ url: server.url, database: 'replicated', cluster: REPLICATED, logger: silentLogger() });
    try {
      await storage.migrate();
      expect(await storage.query('SELECT count() AS n FROM scores FINAL')).toEqual([{ n: '0' }]);

      // A missing table: checked only, it is named; created, the ON CLUSTER statement is sent.
      expect((await sql('DROP TABLE replicated.scores')).status).toBe(200);
      const checkOnly = new ClickHouseStorage({ url: server.url, database: 'replicated', cluster: REPLICATED, createSchema: false, logger: silentLogger() });
      await expect(checkOnly.migrate()).rejects.toThrow(SchemaError);
      await expect(checkOnly.migrate()).rejects.toThrow(/create_schema is false, but database replicated lacks table scores: create them with the statements `spanscore schema/);
      await checkOnly.close();
      await expect(storage.migrate()).rejects.toThrow(/Replicated DDL queries are disabled/);
    } finally {
      await storage.close();
    }
  });

  it('refuses a cluster config over tables made without a cluster', async () => {
    const plain = new ClickHouseStorage({ url: server.url, database: 'plain', logger: silentLogger() });
    await plain.migrate();
    await plain.close();
    const clustered = new ClickHouseStorage({ url: server.url, database: 'plain', cluster: REPLICATED, logger: silentLogger() });
    await expect(clustered.migrate()).rejects.toThrow(/cluster is set, but plain\.otel_traces is a MergeTree table, not a Distributed one/);
    await clustered.close();
  });

  it('a daemon on a sharded cluster (no replication) stores, scores and reads everything through the Distributed tables', async () => {
    await createPerHost('e2e', { ...REPLICATED, replicated: false });
    daemon = await startDaemon(e2eConfig(`    url: ${server.url}\n    cluster: ${CLUSTER}\n    replication: { enabled: false }`));
    expect(daemon.logs.some((l) => l.msg === 'ClickHouse schema ready' && l.statements === 0 && l.cluster === CLUSTER)).toBe(true);
    const sent = await sendWithEveryExporter(daemon);
    const storage = new ClickHouseStorage({ url: server.url, database: 'e2e', logger: silentLogger() });
    try {
      const query = (q: string) => storage.query(q);
      await expectSpansStored(query, sent);
      await waitFor(async () => Number((await query('SELECT count() AS n FROM scores'))[0]!.n) === 27, { timeoutMs: 30_000, what: '27 score rows' });
      await expectScores(query, sent);
      // The rows are in the shard's local tables, and the view fed the local trace-id lookup.
      const [local] = await query(
        `SELECT (SELECT count() FROM otel_traces_local) AS spans, (SELECT count() FROM otel_traces) AS viaDistributed,
                (SELECT count() FROM scores_local) AS scores, (SELECT uniqExact(TraceId) FROM otel_traces_trace_id_ts_local) AS traces,
                (SELECT uniqExact(TraceId) FROM otel_traces_local) AS traceIds`,
      );
      expect(Number(local!.spans)).toBeGreaterThanOrEqual(27);
      expect(local!.spans).toBe(local!.viaDistributed);
      expect(local!.scores).toBe('27');
      expect(local!.traces).toBe(local!.traceIds);
    } finally {
      await storage.close();
    }
    expect(await daemon.stop('SIGTERM')).toBe(0);
    daemon = undefined;
  });
});

describe('cluster config', () => {
  async function validate(clickhouse: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'spanscore-cluster-config-'));
    const file = join(dir, 'spanscore.yaml');
    writeFileSync(file, `storage:\n  clickhouse:\n${clickhouse}\n`);
    return runCli(['validate', '--config', file]);
  }

  it('refuses a cluster with the embedded engine, and replication without a cluster, naming the key', async () => {
    const embedded = await validate('    embedded: { path: ./data }\n    cluster: c1');
    expect(embedded.code).toBe(1);
    expect(embedded.stderr).toMatch(/storage\.clickhouse\.cluster.*a cluster needs ClickHouse servers \(`url`\)/);
    const orphan = await validate('    url: http://127.0.0.1:8123\n    replication: { enabled: false }');
    expect(orphan.code).toBe(1);
    expect(orphan.stderr).toMatch(/storage\.clickhouse\.replication.*set `cluster` too/);
  });

  it('says what a cluster config does', async () => {
    const replicated = await validate('    url: http://ch.example:8123\n    cluster: "{cluster}"');
    expect(replicated.stdout).toContain('storage: ClickHouse cluster {cluster} through ch.example:8123 (ON CLUSTER DDL, Replicated tables, Distributed tables)');
    const shards = await validate('    url: http://ch.example:8123\n    cluster: c1\n    replication: { enabled: false }');
    expect(shards.stdout).toContain('unreplicated shards');
  });
});

/** Query parameter values are read as TSV-escaped text. */
function escapeParam(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}
