/**
 * DDL for the spanscore database. Every statement is `CREATE ... IF NOT EXISTS` or
 * `ADD COLUMN IF NOT EXISTS`, so running the whole list again (every daemon start) is
 * harmless. Tables made by older versions get the columns added since; nothing else about
 * an existing table changes: a changed TTL applies to newly created tables only.
 */

export const TRACES_TABLE = 'otel_traces';
export const TRACE_ID_TS_TABLE = 'otel_traces_trace_id_ts';
export const TRACE_ID_TS_VIEW = 'otel_traces_trace_id_ts_mv';
export const SCORES_TABLE = 'scores';

export interface SchemaOptions {
  database: string;
  /** Days to keep spans; undefined or 0 keeps them forever. */
  ttlDays?: number;
}

/** Quotes a database/table name for ClickHouse SQL, whatever characters it holds. */
export function quoteIdentifier(name: string): string {
  if (name.length === 0) throw new Error('an identifier cannot be empty');
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

/** `db`.`table`, quoted. */
export function qualifiedName(database: string, table: string): string {
  return `${quoteIdentifier(database)}.${quoteIdentifier(table)}`;
}

export function createDatabaseStatement(database: string): string {
  return `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(database)}`;
}

/**
 * What `migrate` runs, in order: the tables in dependency order (the view needs both of its
 * tables), then the upgrades of tables an older version created.
 */
export function createTableStatements(options: SchemaOptions): string[] {
  return [
    createTracesTableStatement(options),
    createTraceIdTsTableStatement(options),
    createTraceIdTsViewStatement(options),
    createScoresTableStatement(options),
    ...upgradeStatements(options),
  ];
}

/** Columns added after a table's first release; no-ops on tables created with them. */
export function upgradeStatements({ database }: SchemaOptions): string[] {
  return [
    `ALTER TABLE ${qualifiedName(database, SCORES_TABLE)} ADD COLUMN IF NOT EXISTS Project LowCardinality(String) CODEC(ZSTD(1)) AFTER ServiceName`,
  ];
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
export function createTracesTableStatement({ database, ttlDays }: SchemaOptions): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, TRACES_TABLE)} (
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
ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
${ttlClause('Timestamp', ttlDays)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`;
}

/**
 * The Collector's trace-id → time range lookup: "show me trace X" first reads this small
 * table to learn which daily partitions of otel_traces can hold the trace.
 */
export function createTraceIdTsTableStatement({ database, ttlDays }: SchemaOptions): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, TRACE_ID_TS_TABLE)} (
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime64(9)) CODEC(ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime64(9)) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree()
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
${ttlClause('Start', ttlDays)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`;
}

export function createTraceIdTsViewStatement({ database }: SchemaOptions): string {
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualifiedName(database, TRACE_ID_TS_VIEW)}
TO ${qualifiedName(database, TRACE_ID_TS_TABLE)}
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End
FROM ${qualifiedName(database, TRACES_TABLE)}
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
export function createScoresTableStatement({ database }: SchemaOptions): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, SCORES_TABLE)} (
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
ENGINE = ReplacingMergeTree(ScoredAt)
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Rule, Scorer, TraceId, SpanId)
SETTINGS index_granularity = 8192`;
}
