/** Where a score came from: the live pipeline (and its recovery), `spanscore score`, or a backfill job. */
export type ScoreSource = 'online' | 'manual' | 'backfill';

/**
 * One row of the `scores` table: one (scored span, rule, scorer).
 * A re-score of the same (TraceId, SpanId, Rule, Scorer) replaces the row (the table is a
 * ReplacingMergeTree versioned by `ScoredAt`).
 */
export interface ScoreRow {
  /** The scored span's start time, ns since epoch (decimal string): trends follow traffic time. */
  Timestamp: string;
  TraceId: string;
  /** The scored span. */
  SpanId: string;
  /** The scoring span written to otel_traces for this score. */
  ScoringSpanId: string;
  ServiceName: string;
  /** The scored span's project (its `spanscore.project` resource attribute). */
  Project: string;
  SpanName: string;
  Rule: string;
  Scorer: string;
  /** 0..1, or null when the scorer failed. */
  Score: number | null;
  /** Empty when the scorer worked. */
  Error: string;
  /** JSON text. */
  Details: string;
  Source: ScoreSource;
  /** When the score was computed, ns since epoch (decimal string); the replacing version. */
  ScoredAt: string;
  /** Scorer run time in ns (decimal string). */
  DurationNs: string;
}
