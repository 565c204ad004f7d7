import { INSTANCE_ATTRIBUTE } from '../../pipeline/project.js';
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
  /** What reading it back costs: its uncompressed size in ClickHouse (SPAN_BYTES_SQL). */
  bytes: number;
}

export interface MissingScoresQuery {
  rule: RuleSpec;
  /** The rule's scorers, each once. */
  scorers: readonly string[];
  conventions: FieldConventions;
  /** Spans started in [fromNs, toNs), ns since epoch. */
  fromNs: string;
  toNs: string;
  /**
   * Also the spans `instanceId` stored (resource attribute `spanscore.instance`) that started
   * before `beforeNs`, however young: those an earlier process of this replica left.
   */
  own?: { instanceId: string; beforeNs: string };
  /** Spans larger than this (`bytes`) come after all the others: the caller does not read them. */
  pageBytes: number;
  limit: number;
}

/**
 * A span's uncompressed size as ClickHouse holds it (strings, maps, nested events and links),
 * which is what reading it back moves through ClickHouse, the wire and the daemon's JSON
 * parser. The JS objects it becomes weigh a few times that; recovery pages are sized with it.
 */
export const SPAN_BYTES_SQL = `byteSize(SpanAttributes, ResourceAttributes, \`Events.Attributes\`, \`Links.Attributes\`, \`Events.Name\`, StatusMessage, SpanName, TraceState)`;

/**
 * The spans `rule` selects (project, apply_to, filter, sampling: rule-sql, the live
 * pipeline's meaning) that started in the range and lack a score of at least one of its
 * scorers, each once (a retried insert can store a span twice), with their sizes: those that
 * fit a page first, most recent first, then those too big to read back.
 *
 * One `IN (subquery)` per scorer rather than one per rule, so a span missing only some
 * scorers is found and only those are named. No FINAL: a ReplacingMergeTree only folds
 * versions of a row, so "some version exists" is the same with or without it, and FINAL
 * would merge the rule's whole range for nothing. The sets hold cityHash64(TraceId, SpanId)
 * instead of the pair: 8 bytes a scored span instead of ~50, for an hour of scores; a hash
 * collision (odds ~n²/2^64) would only leave one span unrecovered.
 *
 * A score's Timestamp is its span's start, so the scores side is bounded by the same range,
 * which prunes its partitions and the minmax index. Only keys and sizes travel: the spans
 * themselves are read later, a page at a time.
 */
export function missingScoresSql(query: MissingScoresQuery): SqlCondition {
  const { selection, params, hasColumns, scored } = missingParts(query);
  return {
    sql: `SELECT TraceId, SpanId, toString(toUnixTimestamp64Nano(Timestamp)) AS ns, [${hasColumns.join(', ')}] AS has, ${SPAN_BYTES_SQL} AS rc_bytes,
        ${scored.join(',\n      ')}
      FROM otel_traces
      WHERE ScopeName != {rc_scoring_scope:String} AND ${selection.sql} AND NOT (${hasColumns.join(' AND ')})
      ORDER BY rc_bytes > {rc_page_bytes:UInt64} ASC, Timestamp DESC, TraceId ASC, SpanId ASC
      LIMIT 1 BY TraceId, SpanId
      LIMIT {rc_limit:UInt64}`,
    params: { ...params, rc_page_bytes: Math.floor(query.pageBytes), rc_limit: query.limit },
  };
}

/** How many spans `missingScoresSql` would find without its limit: the rule's backlog, spans too big to read back left out. */
export function missingCountSql(query: Omit<MissingScoresQuery, 'limit'>): SqlCondition {
  const { selection, params, hasColumns, scored } = missingParts(query);
  return {
    sql: `SELECT uniqExact(TraceId, SpanId) AS n FROM (
        SELECT TraceId, SpanId, ${scored.join(',\n        ')}
        FROM otel_traces
        WHERE ScopeName != {rc_scoring_scope:String} AND ${selection.sql} AND NOT (${hasColumns.join(' AND ')})
          AND ${SPAN_BYTES_SQL} <= {rc_page_bytes:UInt64}
      )`,
    params: { ...params, rc_page_bytes: Math.floor(query.pageBytes) },
  };
}

function missingParts(query: Omit<MissingScoresQuery, 'limit'>) {
  const range = recoveryRangeSql(query);
  const selection = allOf(ruleSelectionSql(query.rule, query.conventions), samplingSql(query.rule.samplingRate, 'rc_sampling'), range.spans);
  const params: Record<string, unknown> = { ...selection.params, rc_rule: query.rule.name, rc_scoring_scope: SCORING_SCOPE };
  const scored = query.scorers.map((scorer, index) => {
    params[`rc_scorer_${index}`] = scorer;
    // An array-returning module stores `<scorer>.<name>` rows: any of them means it ran.
    params[`rc_scorer_prefix_${index}`] = `${scorer}.`;
    return `cityHash64(TraceId, SpanId) IN (
        SELECT cityHash64(TraceId, SpanId) FROM scores
        WHERE Rule = {rc_rule:String}
          AND (Scorer = {rc_scorer_${index}:String} OR startsWith(Scorer, {rc_scorer_prefix_${index}:String}))
          AND ${range.scores.sql}
      ) AS rc_has_${index}`;
  });
  const hasColumns = query.scorers.map((_, index) => `rc_has_${index}`);
  return { selection, params, hasColumns, scored };
}

/**
 * [fromNs, toNs), and this instance's own spans up to `own.beforeNs` (see MissingScoresQuery).
 * The scores side only needs the time bounds, which also keep partition pruning on both.
 */
function recoveryRangeSql(query: Pick<MissingScoresQuery, 'fromNs' | 'toNs' | 'own'>): { spans: SqlCondition; scores: SqlCondition } {
  const own = query.own;
  if (own === undefined || BigInt(own.beforeNs) <= BigInt(query.fromNs)) {
    const range = timeRangeSql(query.fromNs, query.toNs);
    return { spans: range, scores: range };
  }
  const upper = BigInt(own.beforeNs) > BigInt(query.toNs) ? own.beforeNs : query.toNs;
  const outer = timeRangeSql(query.fromNs, upper);
  return {
    spans: {
      sql: `${outer.sql} AND (Timestamp < fromUnixTimestamp64Nano({rc_to_ns:Int64})
        OR (ResourceAttributes[{rc_instance_key:String}] = {rc_instance:String} AND Timestamp < fromUnixTimestamp64Nano({rc_own_before_ns:Int64})))`,
      params: { ...outer.params, rc_to_ns: query.toNs, rc_instance_key: INSTANCE_ATTRIBUTE, rc_instance: own.instanceId, rc_own_before_ns: own.beforeNs },
    },
    scores: outer,
  };
}

export async function findMissingScores(storage: Pick<TraceStorage, 'query'>, query: MissingScoresQuery): Promise<MissingScores[]> {
  if (query.scorers.length === 0 || query.limit <= 0) return [];
  const { sql, params } = missingScoresSql(query);
  const rows = await storage.query<{ TraceId: string; SpanId: string; ns: string; has: Array<number | string | boolean>; rc_bytes: number | string }>(sql, params, {
    readonly: true,
  });
  return rows.map((row) => ({
    traceId: row.TraceId,
    spanId: row.SpanId,
    ns: row.ns,
    missing: query.scorers.filter((_, index) => !isTrue(row.has[index])),
    bytes: Number(row.rc_bytes),
  }));
}

export async function countMissingScores(storage: Pick<TraceStorage, 'query'>, query: Omit<MissingScoresQuery, 'limit'>): Promise<number> {
  if (query.scorers.length === 0) return 0;
  const { sql, params } = missingCountSql(query);
  const [row] = await storage.query<{ n: number | string }>(sql, params, { readonly: true });
  return Number(row?.n ?? 0);
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
