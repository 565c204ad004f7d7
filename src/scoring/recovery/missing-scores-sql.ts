import { SCORING_SCOPE } from '../../storage/span-reader.js';
import type { TraceStorage } from '../../storage/trace-storage.js';
import type { FieldConventions } from '../field-conventions.js';
import { allOf, ruleSelectionSql, samplingSql, timeRangeSql, type SqlCondition } from '../on-demand/rule-sql.js';
import type { RuleSpec } from '../rule-spec.js';

/** A selected span that lacks the scores of some of its rule's scorers. */
export interface MissingScores {
  traceId: string;
  spanId: string;
  /** Start, ns since epoch (decimal string). */
  ns: string;
  /** The scorers of the rule with no `scores` row for this span, in the rule's order. */
  missing: string[];
}

export interface MissingScoresQuery {
  rule: RuleSpec;
  /** The rule's scorers, each once. */
  scorers: readonly string[];
  conventions: FieldConventions;
  /** Spans started in [fromNs, toNs), ns since epoch. */
  fromNs: string;
  toNs: string;
  limit: number;
}

/**
 * The spans `rule` selects (project, apply_to, filter, sampling: rule-sql, the live
 * pipeline's meaning) that started in the range and lack a score of at least one of its
 * scorers, most recent first, each once (a retried insert can store a span twice).
 *
 * One `IN (subquery)` per scorer rather than one per rule, so a span missing only some
 * scorers is found and only those are named. No FINAL: a ReplacingMergeTree only folds
 * versions of a row, so "some version exists" is the same with or without it, and FINAL
 * would merge the rule's whole range for nothing. The sets hold cityHash64(TraceId, SpanId)
 * instead of the pair: 8 bytes a scored span instead of ~50, for an hour of scores; a hash
 * collision (odds ~n²/2^64) would only leave one span unrecovered.
 *
 * A score's Timestamp is its span's start, so the scores side is bounded by the same range,
 * which prunes its partitions and the minmax index.
 */
export function missingScoresSql(query: MissingScoresQuery): SqlCondition {
  const selection = allOf(ruleSelectionSql(query.rule, query.conventions), samplingSql(query.rule.samplingRate, 'rc_sampling'), timeRangeSql(query.fromNs, query.toNs));
  const params: Record<string, unknown> = { ...selection.params, rc_rule: query.rule.name, rc_scoring_scope: SCORING_SCOPE, rc_limit: query.limit };
  const scored = query.scorers.map((scorer, index) => {
    params[`rc_scorer_${index}`] = scorer;
    // An array-returning module stores `<scorer>.<name>` rows: any of them means it ran.
    params[`rc_scorer_prefix_${index}`] = `${scorer}.`;
    return `cityHash64(TraceId, SpanId) IN (
        SELECT cityHash64(TraceId, SpanId) FROM scores
        WHERE Rule = {rc_rule:String}
          AND (Scorer = {rc_scorer_${index}:String} OR startsWith(Scorer, {rc_scorer_prefix_${index}:String}))
          AND ${timeRangeSql(query.fromNs, query.toNs).sql}
      ) AS rc_has_${index}`;
  });
  const hasColumns = query.scorers.map((_, index) => `rc_has_${index}`);
  return {
    sql: `SELECT TraceId, SpanId, toString(toUnixTimestamp64Nano(Timestamp)) AS ns, [${hasColumns.join(', ')}] AS has, ${scored.join(',\n      ')}
      FROM otel_traces
      WHERE ScopeName != {rc_scoring_scope:String} AND ${selection.sql} AND NOT (${hasColumns.join(' AND ')})
      ORDER BY Timestamp DESC, TraceId ASC, SpanId ASC
      LIMIT 1 BY TraceId, SpanId
      LIMIT {rc_limit:UInt64}`,
    params,
  };
}

export async function findMissingScores(storage: Pick<TraceStorage, 'query'>, query: MissingScoresQuery): Promise<MissingScores[]> {
  if (query.scorers.length === 0 || query.limit <= 0) return [];
  const { sql, params } = missingScoresSql(query);
  const rows = await storage.query<{ TraceId: string; SpanId: string; ns: string; has: Array<number | string | boolean> }>(sql, params, { readonly: true });
  return rows.map((row) => ({
    traceId: row.TraceId,
    spanId: row.SpanId,
    ns: row.ns,
    missing: query.scorers.filter((_, index) => !isTrue(row.has[index])),
  }));
}

function isTrue(value: number | string | boolean | undefined): boolean {
  return value === true || Number(value) === 1;
}

/**
 * `traceId/spanId/scorer` for each of these candidates' scorers that has a score of the rule
 * now: checked again just before queueing, for scores written since `findMissingScores` ran.
 */
export async function scoredNow(
  storage: Pick<TraceStorage, 'query'>,
  rule: string,
  scorers: readonly string[],
  candidates: readonly MissingScores[],
): Promise<Set<string>> {
  if (candidates.length === 0) return new Set();
  let fromNs = BigInt(candidates[0]!.ns);
  let toNs = fromNs;
  for (const candidate of candidates) {
    const ns = BigInt(candidate.ns);
    if (ns < fromNs) fromNs = ns;
    if (ns > toNs) toNs = ns;
  }
  const range = timeRangeSql(fromNs.toString(), (toNs + 1n).toString());
  const rows = await storage.query<{ TraceId: string; SpanId: string; Scorer: string }>(
    `SELECT DISTINCT TraceId, SpanId, Scorer FROM scores
     WHERE Rule = {rc_rule:String} AND TraceId IN {rc_trace_ids:Array(String)} AND SpanId IN {rc_span_ids:Array(String)} AND ${range.sql}`,
    { ...range.params, rc_rule: rule, rc_trace_ids: [...new Set(candidates.map((c) => c.traceId))], rc_span_ids: [...new Set(candidates.map((c) => c.spanId))] },
    { readonly: true },
  );
  const scored = new Set<string>();
  for (const row of rows) {
    const scorer = scorers.find((name) => row.Scorer === name || row.Scorer.startsWith(`${name}.`));
    if (scorer !== undefined) scored.add(`${row.TraceId}/${row.SpanId}/${scorer}`);
  }
  return scored;
}
