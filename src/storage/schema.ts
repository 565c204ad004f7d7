/**
 * DDL for the spanscore database. Every statement is `CREATE ... IF NOT EXISTS` or
 * `ADD COLUMN IF NOT EXISTS`, so running the whole list again is harmless. Tables made by
 * older versions get the columns added since; nothing else about an existing table changes:
 * a changed TTL applies to newly created tables only.
 *
 * Cluster mode (`storage.clickhouse.cluster`): every statement runs `ON CLUSTER`; each shard
 * stores rows in `<table>_local` (Replicated* engines unless replication is off) and the
 * contract names (`otel_traces`, `scores`, ...) become Distributed tables over them, so
 * readers, dashboards and inserts use the same names in both modes. Rows are sharded by
 * `cityHash64(TraceId)`: a trace's spans and their scores live on one shard, which keeps
 * trace rules' look-ups local and lets ReplacingMergeTree see every version of a score (it
 * only replaces within a shard).
 */

export const TRACES_TABLE = 'otel_traces';
export const TRACE_ID_TS_TABLE = 'otel_traces_trace_id_ts';
export const TRACE_ID_TS_VIEW = 'otel_traces_trace_id_ts_mv';
export const SCORES_TABLE = 'scores';
/** Suffix of the per-shard tables behind the Distributed ones in cluster mode. */
export const LOCAL_TABLE_SUFFIX = '_local';
/** How rows are spread over shards in cluster mode. */
export const SHARDING_KEY = 'cityHash64(TraceId)';

export interface ClusterSchemaOptions {
  /** A cluster of the servers' `remote_servers`. */
  name: string;
  /** Replicated* engines; false for a cluster of shards without replicas. */
  replicated: boolean;
  /** Keeper path of a replicated table; ClickHouse expands {shard}, {replica}, {database}, {table}, {uuid}. */
  zookeeperPath: string;
  replicaName: string;
}

export interface SchemaOptions {
  database: string;
  /** Days to keep spans; undefined or 0 keeps them forever. */
  ttlDays?: number;
  cluster?: ClusterSchemaOptions;
}

/** One DDL statement and what it creates, so a migration can skip what exists. */
export interface SchemaStep {
  table: string;
  /** Set for a step that adds a column to an existing table. */
  column?: string;
  /** Set for a step that gives an existing table a setting (run when its definition lacks it). */
  setting?: string;
  statement: string;
}

/** Quotes a database/table name for ClickHouse SQL, whatever characters it holds. */
export function quoteIdentifier(name: string): string {
  if (name.length === 0) throw new Error('an identifier cannot be empty');
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

/** A ClickHouse string literal. */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** `db`.`table`, quoted. */
export function qualifiedName(database: string, table: string): string {
  return `${quoteIdentifier(database)}.${quoteIdentifier(table)}`;
}

export function createDatabaseStatement(database: string, cluster?: ClusterSchemaOptions): string {
  return `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(database)}${onCluster(cluster)}`;
}

/** The table holding a logical table's rows: itself, or each shard's local table in cluster mode. */
export function storedTable(table: string, options: Pick<SchemaOptions, 'cluster'>): string {
  return options.cluster === undefined ? table : table + LOCAL_TABLE_SUFFIX;
}

/**
 * What `migrate` runs, in order: the tables in dependency order (the view needs both of its
 * tables; Distributed tables copy their local table's columns), then the upgrades of tables
 * an older version created.
 */
export function schemaSteps(options: SchemaOptions): SchemaStep[] {
  const stored = (table: string): string => storedTable(table, options);
  const steps: SchemaStep[] = [
    { table: stored(TRACES_TABLE), statement: createTracesTableStatement(options) },
    { table: stored(TRACE_ID_TS_TABLE), statement: createTraceIdTsTableStatement(options) },
    { table: TRACE_ID_TS_VIEW, statement: createTraceIdTsViewStatement(options) },
    { table: stored(SCORES_TABLE), statement: createScoresTableStatement(options) },
  ];
  if (options.cluster !== undefined) {
    for (const table of [TRACES_TABLE, TRACE_ID_TS_TABLE, SCORES_TABLE]) {
      steps.push({ table, statement: createDistributedTableStatement(options, table) });
    }
  }
  return [...steps, ...upgradeSteps(options)];
}

export function createTableStatements(options: SchemaOptions): string[] {
  return schemaSteps(options).map((step) => step.statement);
}

/**
 * Columns added after a table's first release; no-ops on tables created with them. In
 * cluster mode the Distributed table gets the column too, after its local table.
 */
function upgradeSteps(options: SchemaOptions): SchemaStep[] {
  const added: { table: string; column: string; definition: string }[] = [
    { table: SCORES_TABLE, column: 'Project', definition: 'LowCardinality(String) CODEC(ZSTD(1)) AFTER ServiceName' },
  ];
  const tables = (table: string): string[] => (options.cluster === undefined ? [table] : [storedTable(table, options), table]);
  const columns = added.flatMap(({ table, column, definition }) =>
    tables(table).map((name) => ({
      table: name,
      column,
      statement: `ALTER TABLE ${qualifiedName(options.database, name)}${onCluster(options.cluster)} ADD COLUMN IF NOT EXISTS ${column} ${definition}`,
    })),
  );
  if (!needsDedupWindow(options)) return columns;
  const traces = storedTable(TRACES_TABLE, options);
  return [
    ...columns,
    {
      table: traces,
      setting: DEDUP_WINDOW_SETTING,
      statement: `ALTER TABLE ${qualifiedName(options.database, traces)}${onCluster(options.cluster)} MODIFY SETTING ${DEDUP_WINDOW_SETTING} = ${DEDUP_WINDOW}`,
    },
  ];
}

function onCluster(cluster: ClusterSchemaOptions | undefined): string {
  return cluster === undefined ? '' : ` ON CLUSTER ${quoteIdentifier(cluster.name)}`;
}

/** A MergeTree-family engine, made Replicated on a replicated cluster. */
function engine(options: SchemaOptions, family: string, args: string[] = []): string {
  const { cluster } = options;
  if (cluster === undefined || !cluster.replicated) return `${family}(${args.join(', ')})`;
  return `Replicated${family}(${[quoteString(cluster.zookeeperPath), quoteString(cluster.replicaName), ...args].join(', ')})`;
}

/** `CREATE TABLE IF NOT EXISTS db.table [ON CLUSTER c]`, naming the stored (local) table. */
function createTableHead(options: SchemaOptions, table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(options.database, storedTable(table, options))}${onCluster(options.cluster)}`;
}

function createDistributedTableStatement(options: SchemaOptions, table: string): string {
  const { database, cluster } = options;
  const local = storedTable(table, options);
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, table)}${onCluster(cluster)}
AS ${qualifiedName(database, local)}
ENGINE = Distributed(${quoteString(cluster!.name)}, ${quoteString(database)}, ${quoteString(local)}, ${SHARDING_KEY})`;
}

function ttlClause(column: string, ttlDays: number | undefined): string {
  if (ttlDays === undefined || ttlDays === 0) return '';
  if (!Number.isInteger(ttlDays) || ttlDays < 0) {
    throw new Error(`ttlDays must be a non-negative integer, got ${ttlDays}`);
  }
  return `TTL toDateTime(${column}) + toIntervalDay(${ttlDays})`;
}

/**
 * Column for column, the OpenTelemetry Collector clickhouseexporter's default (non-JSON)
 * traces table, so that Grafana dashboards and queries written for the Collector's table
 * work unchanged on ours.
 */
export function createTracesTableStatement(options: SchemaOptions): string {
  return `${createTableHead(options, TRACES_TABLE)} (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
)
ENGINE = ${engine(options, 'MergeTree')}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
${ttlClause('Timestamp', options.ttlDays)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1${needsDedupWindow(options) ? `, ${DEDUP_WINDOW_SETTING} = ${DEDUP_WINDOW}` : ''}`;
}

/**
 * Inserts into otel_traces carry deduplication tokens (a batch sent again after an answer
 * that never came, a durable-buffer record replayed after a crash): plain MergeTree tables
 * remember none unless told to, Replicated ones remember the last 1,000+ by default. The
 * Collector's table has no such setting; it changes nothing about the table's contents.
 */
export const DEDUP_WINDOW_SETTING = 'non_replicated_deduplication_window';
const DEDUP_WINDOW = 1000;

function needsDedupWindow(options: SchemaOptions): boolean {
  return options.cluster === undefined || !options.cluster.replicated;
}

/**
 * The Collector's trace-id → time range lookup: "show me trace X" first reads this small
 * table to learn which daily partitions of otel_traces can hold the trace.
 */
export function createTraceIdTsTableStatement(options: SchemaOptions): string {
  return `${createTableHead(options, TRACE_ID_TS_TABLE)} (
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime64(9)) CODEC(ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime64(9)) CODEC(ZSTD(1))
)
ENGINE = ${engine(options, 'AggregatingMergeTree')}
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
${ttlClause('Start', options.ttlDays)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`;
}

export function createTraceIdTsViewStatement(options: SchemaOptions): string {
  const { database } = options;
  // In cluster mode each shard's view feeds its own local lookup table from its local spans.
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualifiedName(database, TRACE_ID_TS_VIEW)}${onCluster(options.cluster)}
TO ${qualifiedName(database, storedTable(TRACE_ID_TS_TABLE, options))}
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End
FROM ${qualifiedName(database, storedTable(TRACES_TABLE, options))}
WHERE TraceId != ''
GROUP BY TraceId`;
}

/**
 * One row per (scored span, rule, scorer).
 *
 * ReplacingMergeTree(ScoredAt): re-scoring a span (manual re-run, backfill) must not double
 * count it in trends, and ClickHouse has no cheap UPDATE; replacing by sorting key lets a
 * re-score be a plain insert. Background merges keep the row with the newest ScoredAt;
 * until they run, readers that need exactness add FINAL.
 *
 * Replacement only happens within a partition, so the partition key must be stable for a
 * given span: the scored span's Timestamp never changes, whereas ScoredAt does.
 *
 * The sorting key starts with (Rule, Scorer) because the main readers are per-rule/scorer
 * trends and FINAL merges by the sorting key; the span's identity completes the key so that
 * exactly one row survives per (TraceId, SpanId, Rule, Scorer). The minmax index on
 * Timestamp restores time pruning within a monthly partition, which the key does not give.
 */
export function createScoresTableStatement(options: SchemaOptions): string {
  return `${createTableHead(options, SCORES_TABLE)} (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ScoringSpanId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Project LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    Rule LowCardinality(String) CODEC(ZSTD(1)),
    Scorer LowCardinality(String) CODEC(ZSTD(1)),
    Score Nullable(Float64) CODEC(ZSTD(1)),
    Error String CODEC(ZSTD(1)),
    Details String CODEC(ZSTD(1)),
    Source LowCardinality(String) CODEC(ZSTD(1)),
    ScoredAt DateTime64(9) CODEC(Delta, ZSTD(1)),
    DurationNs UInt64 CODEC(T64, ZSTD(1)),
    INDEX idx_timestamp Timestamp TYPE minmax GRANULARITY 1
)
ENGINE = ${engine(options, 'ReplacingMergeTree', ['ScoredAt'])}
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Rule, Scorer, TraceId, SpanId)
SETTINGS index_granularity = 8192`;
}
