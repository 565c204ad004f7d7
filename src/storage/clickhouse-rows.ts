import type { SpanRow } from '../pipeline/span-row.js';
import { toClickHouseTime } from './clickhouse-time.js';
import type { ScoreRow } from './score-row.js';

/**
 * The JSONEachRow objects sent to ClickHouse. Nested columns (Events, Links) are stored as
 * parallel arrays named `Events.Timestamp`, `Events.Name`, ... (flatten_nested), so a span's
 * list of event objects becomes one array per field. Timestamps become `seconds.nanos`
 * text and UInt64 values stay decimal strings: both would lose digits as JS numbers.
 */
export function toTracesJsonRow(row: SpanRow): Record<string, unknown> {
  return {
    Timestamp: toClickHouseTime(row.Timestamp),
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
    'Events.Timestamp': row.Events.map((e) => toClickHouseTime(e.Timestamp)),
    'Events.Name': row.Events.map((e) => e.Name),
    'Events.Attributes': row.Events.map((e) => e.Attributes),
    'Links.TraceId': row.Links.map((l) => l.TraceId),
    'Links.SpanId': row.Links.map((l) => l.SpanId),
    'Links.TraceState': row.Links.map((l) => l.TraceState),
    'Links.Attributes': row.Links.map((l) => l.Attributes),
  };
}

export function toScoresJsonRow(row: ScoreRow): Record<string, unknown> {
  return {
    Timestamp: toClickHouseTime(row.Timestamp),
    TraceId: row.TraceId,
    SpanId: row.SpanId,
    ScoringSpanId: row.ScoringSpanId,
    ServiceName: row.ServiceName,
    Project: row.Project,
    SpanName: row.SpanName,
    Rule: row.Rule,
    Scorer: row.Scorer,
    Score: row.Score,
    Error: row.Error,
    Details: row.Details,
    Source: row.Source,
    ScoredAt: toClickHouseTime(row.ScoredAt),
    DurationNs: row.DurationNs,
  };
}
