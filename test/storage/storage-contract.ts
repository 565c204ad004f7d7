import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../src/admin/logger.js';
import { RetryableStorageError } from '../../src/pipeline/errors.js';
import { ClickHouseStorage, type ClickHouseStorageOptions } from '../../src/storage/clickhouse-storage.js';
import { scoreRow, spanRow } from './storage-fixtures.js';

/** Where a suite's storages point: a server url or an embedded path. */
export type StorageTarget = Pick<ClickHouseStorageOptions, 'url' | 'embeddedPath'>;

/**
 * The Collector clickhouseexporter's traces table as DESCRIBE shows it (Nested columns are
 * flattened into arrays). Written out from the Collector's DDL, not copied from our output.
 */
const COLLECTOR_TRACES_COLUMNS: Array<[name: string, type: string, codec: string]> = [
  ['Timestamp', 'DateTime64(9)', 'Delta(8), ZSTD(1)'],
  ['TraceId', 'String', 'ZSTD(1)'],
  ['SpanId', 'String', 'ZSTD(1)'],
  ['ParentSpanId', 'String', 'ZSTD(1)'],
  ['TraceState', 'String', 'ZSTD(1)'],
  ['SpanName', 'LowCardinality(String)', 'ZSTD(1)'],
  ['SpanKind', 'LowCardinality(String)', 'ZSTD(1)'],
  ['ServiceName', 'LowCardinality(String)', 'ZSTD(1)'],
  ['ResourceAttributes', 'Map(LowCardinality(String), String)', 'ZSTD(1)'],
  ['ScopeName', 'String', 'ZSTD(1)'],
  ['ScopeVersion', 'String', 'ZSTD(1)'],
  ['SpanAttributes', 'Map(LowCardinality(String), String)', 'ZSTD(1)'],
  ['Duration', 'UInt64', 'ZSTD(1)'],
  ['StatusCode', 'LowCardinality(String)', 'ZSTD(1)'],
  ['StatusMessage', 'String', 'ZSTD(1)'],
  ['Events.Timestamp', 'Array(DateTime64(9))', 'ZSTD(1)'],
  ['Events.Name', 'Array(LowCardinality(String))', 'ZSTD(1)'],
  ['Events.Attributes', 'Array(Map(LowCardinality(String), String))', 'ZSTD(1)'],
  ['Links.TraceId', 'Array(String)', 'ZSTD(1)'],
  ['Links.SpanId', 'Array(String)', 'ZSTD(1)'],
  ['Links.TraceState', 'Array(String)', 'ZSTD(1)'],
  ['Links.Attributes', 'Array(Map(LowCardinality(String), String))', 'ZSTD(1)'],
];

const COLLECTOR_TRACES_INDICES: Array<[name: string, expr: string, type: string, granularity: string]> = [
  ['idx_trace_id', 'TraceId', 'bloom_filter(0.001)', '1'],
  ['idx_res_attr_key', 'mapKeys(ResourceAttributes)', 'bloom_filter(0.01)', '1'],
  ['idx_res_attr_value', 'mapValues(ResourceAttributes)', 'bloom_filter(0.01)', '1'],
  ['idx_span_attr_key', 'mapKeys(SpanAttributes)', 'bloom_filter(0.01)', '1'],
  ['idx_span_attr_value', 'mapValues(SpanAttributes)', 'bloom_filter(0.01)', '1'],
  ['idx_duration', 'Duration', 'minmax', '1'],
];

/** The scores table as DESCRIBE shows it (name, type). */
const SCORES_COLUMNS: Array<[name: string, type: string]> = [
  ['Timestamp', 'DateTime64(9)'],
  ['TraceId', 'String'],
  ['SpanId', 'String'],
  ['ScoringSpanId', 'String'],
  ['ServiceName', 'LowCardinality(String)'],
  ['Project', 'LowCardinality(String)'],
  ['SpanName', 'LowCardinality(String)'],
  ['Rule', 'LowCardinality(String)'],
  ['Scorer', 'LowCardinality(String)'],
  ['Score', 'Nullable(Float64)'],
  ['Error', 'String'],
  ['Details', 'String'],
  ['Source', 'LowCardinality(String)'],
  ['ScoredAt', 'DateTime64(9)'],
  ['DurationNs', 'UInt64'],
];

/** Behaviour both modes must share; `database` must be fresh for this suite. */
export function describeStorageContract(target: () => StorageTarget, database: string): void {
  describe('storage contract', () => {
    let metrics: DaemonMetrics;
    let storage: ClickHouseStorage;

    beforeAll(async () => {
      metrics = new DaemonMetrics({ processMetrics: false });
      storage = new ClickHouseStorage({ ...target(), database, metrics, logger: silentLogger() });
    });
    afterAll(async () => {
      await storage?.close();
    });

    it('rejects inserts with RetryableStorageError, saying why, before the tables exist', async () => {
      const error = await storage.insertSpans([spanRow()]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RetryableStorageError);
      expect((error as Error).message).toMatch(new RegExp(`into ${database}\\.otel_traces failed: .*(UNKNOWN_DATABASE|UNKNOWN_TABLE|does not exist)`, 's'));
    });

    it('migrates idempotently', async () => {
      await storage.migrate();
      await storage.migrate();
      const tables = await storage.query<{ name: string }>('SHOW TABLES');
      expect(tables.map((t) => t.name).sort()).toEqual(['otel_traces', 'otel_traces_trace_id_ts', 'otel_traces_trace_id_ts_mv', 'scores']);
    });

    it('creates otel_traces exactly like the Collector', async () => {
      const columns = await storage.query<{ name: string; type: string; codec_expression: string }>('DESCRIBE TABLE otel_traces');
      expect(columns.map((c) => [c.name, c.type, c.codec_expression])).toEqual(COLLECTOR_TRACES_COLUMNS);

      const indices = await storage.query<{ name: string; expr: string; type_full: string; granularity: string }>(
        'SELECT name, expr, type_full, granularity FROM system.data_skipping_indices WHERE database = {db:String} AND table = {table:String}',
        { db: database, table: 'otel_traces' },
      );
      expect(indices.map((i) => [i.name, i.expr, i.type_full, i.granularity])).toEqual(COLLECTOR_TRACES_INDICES);

      const [table] = await storage.query<Record<string, string>>(
        'SELECT engine, partition_key, sorting_key, primary_key FROM system.tables WHERE database = {db:String} AND name = {table:String}',
        { db: database, table: 'otel_traces' },
      );
      expect(table).toEqual({
        engine: 'MergeTree',
        partition_key: 'toDate(Timestamp)',
        sorting_key: 'ServiceName, SpanName, toDateTime(Timestamp)',
        primary_key: 'ServiceName, SpanName, toDateTime(Timestamp)',
      });
      const [create] = await storage.query<{ statement: string }>('SHOW CREATE TABLE otel_traces');
      expect(create!.statement).toMatch(/SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000$/);
      expect(create!.statement).not.toMatch(/\bTTL\b/);
    });

    it('creates scores with the Project column after ServiceName', async () => {
      const columns = await storage.query<{ name: string; type: string }>('DESCRIBE TABLE scores');
      expect(columns.map((c) => [c.name, c.type])).toEqual(SCORES_COLUMNS);
    });

    it('stores a span exactly: nanosecond times, maps, events, links, UInt64 duration', async () => {
      const row = spanRow();
      await storage.insertSpans([row]);
      const [stored] = await storage.query<Record<string, unknown>>(
        `SELECT *, toString(toUnixTimestamp64Nano(Timestamp)) AS ns,
                arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp) AS eventNs
         FROM otel_traces WHERE TraceId = {id:String}`,
        { id: row.TraceId },
      );
      expect(stored).toMatchObject({
        ns: row.Timestamp,
        Timestamp: '2023-11-14 22:13:20.123456789', // UTC whatever the machine's zone
        TraceId: row.TraceId,
        SpanId: row.SpanId,
        ParentSpanId: row.ParentSpanId,
        TraceState: row.TraceState,
        SpanName: row.SpanName,
        SpanKind: row.SpanKind,
        ServiceName: row.ServiceName,
        ResourceAttributes: row.ResourceAttributes,
        ScopeName: row.ScopeName,
        ScopeVersion: row.ScopeVersion,
        SpanAttributes: row.SpanAttributes,
        Duration: row.Duration,
        StatusCode: row.StatusCode,
        StatusMessage: row.StatusMessage,
        eventNs: row.Events.map((e) => e.Timestamp),
        'Events.Name': row.Events.map((e) => e.Name),
        'Events.Attributes': row.Events.map((e) => e.Attributes),
        'Links.TraceId': row.Links.map((l) => l.TraceId),
        'Links.SpanId': row.Links.map((l) => l.SpanId),
        'Links.TraceState': row.Links.map((l) => l.TraceState),
        'Links.Attributes': row.Links.map((l) => l.Attributes),
      });
    });

    it('stores spans without events or links, and fills the trace-id lookup', async () => {
      const traceId = spanRow().TraceId;
      await storage.insertSpans([
        spanRow({ TraceId: traceId, Timestamp: '1700000001000000000', Events: [], Links: [] }),
        spanRow({ TraceId: traceId, Timestamp: '1700000002000000001', Events: [], Links: [] }),
      ]);
      const lookup = await storage.query<{ Start: string; End: string }>(
        'SELECT min(Start) AS Start, max(End) AS End FROM otel_traces_trace_id_ts WHERE TraceId = {id:String}',
        { id: traceId },
      );
      expect(lookup).toEqual([{ Start: '2023-11-14 22:13:21.000000000', End: '2023-11-14 22:13:22.000000001' }]);
    });

    it('replaces a re-scored (TraceId, SpanId, Rule, Scorer): FINAL returns the newest score', async () => {
      const first = scoreRow({ Score: 0.25, ScoredAt: '1700000100000000000' });
      const rescore = { ...first, Score: 0.75, ScoredAt: '1700000200000000000', Source: 'manual' as const };
      const otherScorer = { ...first, Scorer: 'Levenshtein', Score: null, Error: 'timeout' };
      await storage.insertScores([first, otherScorer]);
      await storage.insertScores([rescore]);
      const rows = await storage.query<{ Scorer: string; Project: string; Score: number | null; Source: string; ScoredAt: string; DurationNs: string }>(
        'SELECT Scorer, Project, Score, Source, toString(toUnixTimestamp64Nano(ScoredAt)) AS ScoredAt, DurationNs FROM scores FINAL WHERE TraceId = {id:String} ORDER BY Scorer',
        { id: first.TraceId },
      );
      expect(rows).toEqual([
        { Scorer: 'ExactMatch', Project: 'storage-project', Score: 0.75, Source: 'manual', ScoredAt: rescore.ScoredAt, DurationNs: '1500' },
        { Scorer: 'Levenshtein', Project: 'storage-project', Score: null, Source: 'online', ScoredAt: first.ScoredAt, DurationNs: '1500' },
      ]);
    });

    it('refuses writes in readonly queries, and stays writable after them', async () => {
      expect(await storage.query('SELECT count() AS n FROM otel_traces', {}, { readonly: true })).toEqual([{ n: '3' }]);
      await expect(storage.query('INSERT INTO scores (TraceId) VALUES (1)', {}, { readonly: true })).rejects.toThrow(/readonly/i);
      await expect(storage.query('CREATE TABLE evil (a Int8) ENGINE = Memory', {}, { readonly: true })).rejects.toThrow(/readonly/i);
      await expect(storage.query('DROP TABLE scores', {}, { readonly: true })).rejects.toThrow(/readonly/i);
      await expect(storage.query('SELECT 1 SETTINGS readonly = 0', {}, { readonly: true })).rejects.toThrow(/readonly/i);
      await expect(storage.query("SELECT * FROM file('/etc/hostname', 'LineAsString')", {}, { readonly: true })).rejects.toThrow(/readonly/i);
      // INTO OUTFILE (which clickhouse-local honours even read-only) only matters for SQL people
      // type, which goes through userQuery and its parser-based guard (query-guard.test.ts):
      // this path runs spanscore's own statements.
      await storage.insertSpans([spanRow()]);
      expect(await storage.query('SELECT count() AS n FROM otel_traces')).toEqual([{ n: '4' }]);
    });

    it('records batch sizes and durations per table', async () => {
      const text = await metrics.registry.metrics();
      // otel_traces: 1 failed row before migrate, then batches of 1, 2 and 1 rows.
      expect(text).toMatch(/spanscore_storage_insert_batch_rows_count\{table="otel_traces"\} 4\n/);
      expect(text).toMatch(/spanscore_storage_insert_batch_rows_sum\{table="otel_traces"\} 5\n/);
      expect(text).toMatch(/spanscore_storage_insert_duration_seconds_count\{table="otel_traces",outcome="ok"\} 3\n/);
      expect(text).toMatch(/spanscore_storage_insert_duration_seconds_count\{table="otel_traces",outcome="error"\} 1\n/);
      expect(text).toMatch(/spanscore_storage_insert_duration_seconds_count\{table="scores",outcome="ok"\} 2\n/);
    });

    it('stores times from the epoch to the end of DateTime64(9)', async () => {
      const times = ['0', '86400000000001', '999999999500000000', '9223372036854775807'];
      const rows = times.map((Timestamp) => spanRow({ Timestamp, Events: [{ Timestamp, Name: 'e', Attributes: {} }] }));
      await storage.insertSpans(rows);
      const stored = await storage.query<{ ns: string; eventNs: string[] }>(
        `SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ns, arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp) AS eventNs
         FROM otel_traces WHERE TraceId IN {ids:Array(String)} ORDER BY Timestamp`,
        { ids: rows.map((r) => r.TraceId) },
      );
      expect(stored).toEqual(times.map((ns) => ({ ns, eventNs: [ns] })));
    });

    it('answers ping', async () => {
      expect(await storage.ping()).toBe(true);
    });

    it('adds the TTL when one is configured', async () => {
      const withTtl = new ClickHouseStorage({ ...target(), database: `${database}_ttl`, ttlDays: 30, logger: silentLogger() });
      try {
        await withTtl.migrate();
        const [create] = await withTtl.query<{ statement: string }>('SHOW CREATE TABLE otel_traces');
        expect(create!.statement).toContain('TTL toDateTime(Timestamp) + toIntervalDay(30)');
      } finally {
        await withTtl.close();
      }
    });

    it('stores a span insert sent again with its deduplication token once, and identical rows under new tokens each time', async () => {
      // Its own storage: the metrics test counts the inserts of `storage`.
      const plain = new ClickHouseStorage({ ...target(), database, logger: silentLogger() });
      try {
        const rows = [spanRow(), spanRow()];
        const count = async () =>
          Number((await plain.query<{ n: string }>('SELECT count() AS n FROM otel_traces WHERE SpanId IN {ids:Array(String)}', { ids: rows.map((r) => r.SpanId) }))[0]!.n);
        await plain.insertSpans(rows, 'token-a');
        await plain.insertSpans(rows, 'token-a');
        expect(await count()).toBe(2);
        // A client that really sends the same spans twice gets both stored, as before: no content hashing.
        await plain.insertSpans(rows);
        await plain.insertSpans(rows);
        expect(await count()).toBe(6);
      } finally {
        await plain.close();
      }
    });

    it('gives an otel_traces made by an older version the deduplication window', async () => {
      const older = new ClickHouseStorage({ ...target(), database: `${database}_older`, logger: silentLogger() });
      try {
        await older.migrate();
        await older.query('ALTER TABLE otel_traces RESET SETTING non_replicated_deduplication_window');
        const settingOf = async () => (await older.query<{ engine_full: string }>("SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'otel_traces'"))[0]!.engine_full;
        expect(await settingOf()).not.toContain('non_replicated_deduplication_window');
        await older.migrate();
        expect(await settingOf()).toContain('non_replicated_deduplication_window = 1000');
      } finally {
        await older.close();
      }
    });

    it('refuses inserts after close', async () => {
      const closing = new ClickHouseStorage({ ...target(), database, logger: silentLogger() });
      await closing.close();
      await expect(closing.insertSpans([spanRow()])).rejects.toBeInstanceOf(RetryableStorageError);
      expect(await closing.ping()).toBe(false);
    });
  });
}
