import type { SpanRow } from '../../pipeline/span-row.js';
import { SCORING_SCOPE, type SpanReader } from '../../storage/span-reader.js';
import type { TraceStorage } from '../../storage/trace-storage.js';
import { refusingTooComplex } from './filter-complexity.js';
import { allOf, type SqlCondition } from './rule-sql.js';

/** A span a backfill goes through. */
export interface BackfillCandidate {
  traceId: string;
  spanId: string;
  /** Start, ns since epoch (decimal string). */
  ns: string;
  /** It had a score of the rule when the candidates were selected. */
  scored: boolean;
}

/** Recent scores to learn a scorer's cost from. */
const COST_HISTORY_DAYS = 7;

type Query = Pick<TraceStorage, 'query'>;

/**
 * The `limit` most recent spans of `selection` (the rule's, already AND-ed with the time
 * range), each once (otel_traces can hold a span twice after a retried insert), flagged when
 * `scores` already has a row of the rule for it. The `scores` side is bounded by the same
 * time range: a score's Timestamp is its span's start, so this prunes its partitions.
 */
function candidatesSql(selection: SqlCondition, range: SqlCondition, rule: string, limit: number): SqlCondition {
  const where = allOf(selection, range);
  return {
    sql: `SELECT TraceId, SpanId, toString(toUnixTimestamp64Nano(Timestamp)) AS ns,
        (TraceId, SpanId) IN (SELECT TraceId, SpanId FROM scores FINAL WHERE Rule = {bf_rule:String} AND (${range.sql})) AS scored
      FROM otel_traces
      WHERE ScopeName != {bf_scoring_scope:String} AND ${where.sql}
      ORDER BY Timestamp DESC, TraceId ASC, SpanId ASC
      LIMIT 1 BY TraceId, SpanId
      LIMIT {bf_limit:UInt64}`,
    params: { ...where.params, bf_rule: rule, bf_scoring_scope: SCORING_SCOPE, bf_limit: limit },
  };
}

export async function selectCandidates(storage: Query, selection: SqlCondition, range: SqlCondition, rule: string, limit: number): Promise<BackfillCandidate[]> {
  const { sql, params } = candidatesSql(selection, range, rule, limit);
  const rows = await refusingTooComplex(() => storage.query<{ TraceId: string; SpanId: string; ns: string; scored: number | string }>(sql, params, { readonly: true }));
  return rows.map((row) => ({ traceId: row.TraceId, spanId: row.SpanId, ns: row.ns, scored: Number(row.scored) === 1 }));
}

/** How many candidates there are, and how many of them are already scored, without listing them. */
export async function countCandidates(
  storage: Query,
  selection: SqlCondition,
  range: SqlCondition,
  rule: string,
  limit: number,
): Promise<{ spans: number; alreadyScored: number }> {
  const { sql, params } = candidatesSql(selection, range, rule, limit);
  const [row] = await refusingTooComplex(() =>
    storage.query<{ spans: string; alreadyScored: string }>(`SELECT count() AS spans, countIf(scored) AS alreadyScored FROM (${sql})`, params, { readonly: true }),
  );
  return { spans: Number(row?.spans ?? 0), alreadyScored: Number(row?.alreadyScored ?? 0) };
}

const keyOf = (traceId: string, spanId: string) => `${traceId}/${spanId}`;

/** The candidates that have a score of the rule now (FINAL: the table is a ReplacingMergeTree). */
export async function alreadyScored(storage: Query, rule: string, candidates: BackfillCandidate[]): Promise<Set<string>> {
  if (candidates.length === 0) return new Set();
  const rows = await storage.query<{ TraceId: string; SpanId: string }>(
    `SELECT DISTINCT TraceId, SpanId FROM scores FINAL
     WHERE Rule = {rule:String} AND TraceId IN {traceIds:Array(String)} AND SpanId IN {spanIds:Array(String)}`,
    { rule, traceIds: unique(candidates.map((c) => c.traceId)), spanIds: unique(candidates.map((c) => c.spanId)) },
    { readonly: true },
  );
  // The two IN lists also let through cross pairs; only exact (trace, span) pairs count.
  const wanted = new Set(candidates.map((c) => keyOf(c.traceId, c.spanId)));
  return new Set(rows.map((row) => keyOf(row.TraceId, row.SpanId)).filter((key) => wanted.has(key)));
}

export function candidateKey(candidate: BackfillCandidate): string {
  return keyOf(candidate.traceId, candidate.spanId);
}

/**
 * The stored spans of these candidates, in candidate order; a candidate whose span is gone
 * (TTL) is missing from the result. Bounded by the candidates' time span so ClickHouse only
 * reads the partitions that can hold them.
 */
export async function readCandidateSpans(reader: SpanReader, candidates: BackfillCandidate[]): Promise<SpanRow[]> {
  if (candidates.length === 0) return [];
  let min = BigInt(candidates[0]!.ns);
  let max = min;
  for (const candidate of candidates) {
    const ns = BigInt(candidate.ns);
    if (ns < min) min = ns;
    if (ns > max) max = ns;
  }
  const spans = await reader.matching({
    where: 'TraceId IN {bf_trace_ids:Array(String)} AND SpanId IN {bf_span_ids:Array(String)}',
    params: { bf_trace_ids: unique(candidates.map((c) => c.traceId)), bf_span_ids: unique(candidates.map((c) => c.spanId)) },
    fromNs: min.toString(),
    toNs: (max + 1n).toString(),
    // Room for cross pairs and duplicate rows of the same span.
    limit: candidates.length * 4 + 16,
  });
  const byKey = new Map<string, SpanRow>();
  for (const span of spans) {
    const key = keyOf(span.TraceId, span.SpanId);
    if (!byKey.has(key)) byKey.set(key, span);
  }
  return candidates.flatMap((candidate) => {
    const span = byKey.get(candidateKey(candidate));
    return span === undefined ? [] : [span];
  });
}

/**
 * Each scorer's mean `cost_usd` over its scores of the last 7 days (any rule, any source),
 * for the scorers that have any; scores without a cost (heuristics, unpriced models) do not
 * count as free, they do not count.
 */
export async function recentMeanCosts(storage: Query, scorers: string[]): Promise<Map<string, number>> {
  if (scorers.length === 0) return new Map();
  const rows = await storage.query<{ Scorer: string; mean: number | string }>(
    `SELECT Scorer, avg(cost) AS mean FROM (
       SELECT Scorer, JSONExtract(Details, 'cost_usd', 'Nullable(Float64)') AS cost FROM scores FINAL
       WHERE Scorer IN {scorers:Array(String)} AND ScoredAt >= now64(9) - toIntervalDay({days:UInt32})
     ) WHERE cost IS NOT NULL GROUP BY Scorer`,
    { scorers, days: COST_HISTORY_DAYS },
    { readonly: true },
  );
  return new Map(rows.map((row) => [row.Scorer, Number(row.mean)]));
}

/** Cost of scoring `spans` spans: spans * the sum of the known means; null when none is known. */
export function estimateCost(spans: number, means: Map<string, number>): number | null {
  if (means.size === 0) return null;
  let perSpan = 0;
  for (const mean of means.values()) perSpan += mean;
  return spans * perSpan;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
