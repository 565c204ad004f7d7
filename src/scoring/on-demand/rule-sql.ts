import type { FilterExpr } from '../../filter/filter-ast.js';
import { compileFilterToClickHouse } from '../../filter/clickhouse-filter-compiler.js';
import { PROJECT_ATTRIBUTE } from '../../pipeline/project.js';
import type { FieldConventions } from '../field-conventions.js';
import type { RuleSpec } from '../rule-spec.js';
import { TraceIdSampler } from '../trace-id-sampler.js';
import { SpanNamePatterns } from '../span-name-patterns.js';

/** A boolean SQL expression over `otel_traces` columns and the query parameters it uses. */
export interface SqlCondition {
  sql: string;
  params: Record<string, unknown>;
}

/** Low 56 bits of the trace id, as TraceIdSampler reads them. */
const RANDOMNESS_HEX_DIGITS = 14;
const TWO_POW_56 = 1n << 56n;

/**
 * Parameter names of this module. The compiled filters name theirs `<prefix><n>` and their
 * lambda variables `<prefix>_v<n>`, so these prefixes must not be reused for anything else.
 */
const RULE_FILTER_PREFIX = 'rule_f';
const EXTRA_FILTER_PREFIX = 'extra_f';

/**
 * The spans a rule applies to, in SQL, with the live pipeline's meaning (ScoringProcessor):
 * its project, then its `apply_to`, then its filter. Sampling is separate (`samplingSql`)
 * because callers count matches and sampled matches in one pass. Every value travels as a
 * query parameter, so no rule text ever reaches the SQL text as SQL (past a few hundred of
 * them the storage writes them in as escaped literals: storage/query-param-literals.ts).
 *
 * `extraFilter` narrows further (a backfill's own filter). Scoring spans are not excluded
 * here; SpanReader and the queries of this folder do that.
 */
export function ruleSelectionSql(rule: RuleSpec, conventions: FieldConventions, extraFilter?: { expr: FilterExpr }): SqlCondition {
  const conditions: string[] = [];
  const params: Record<string, unknown> = {};
  if (rule.project !== undefined) {
    // mapContains: a missing key reads as '' in ClickHouse but as "no project" in the pipeline.
    conditions.push('(mapContains(ResourceAttributes, {sel_project_key:String}) AND ResourceAttributes[{sel_project_key:String}] = {sel_project:String})');
    params.sel_project_key = PROJECT_ATTRIBUTE;
    params.sel_project = rule.project;
  }
  conditions.push(applyToSql(rule.applyTo, params));
  for (const [filter, prefix] of [
    [rule.filter, RULE_FILTER_PREFIX],
    [extraFilter, EXTRA_FILTER_PREFIX],
  ] as const) {
    if (filter === undefined) continue;
    const compiled = compileFilterToClickHouse(filter.expr, conventions, { paramPrefix: prefix });
    // NULL (unknown) selects nothing, as in the pipeline where only TRUE passes.
    conditions.push(`(${compiled.sql})`);
    Object.assign(params, compiled.params);
  }
  return { sql: conditions.join(' AND '), params };
}

function applyToSql(applyTo: RuleSpec['applyTo'], params: Record<string, unknown>): string {
  const alternatives: string[] = [];
  if (applyTo.rootSpans) alternatives.push(`ParentSpanId = ''`);
  if (applyTo.spanNames.length > 0) alternatives.push(`(${new SpanNamePatterns(applyTo.spanNames).toSql(params, 'sel_span_names')})`);
  // Like SpanSelector: a rule without criteria selects nothing rather than everything.
  if (alternatives.length === 0) return '0';
  return `(${alternatives.join(' OR ')})`;
}

/**
 * TraceIdSampler's decision in SQL over the hex `TraceId`: the last 14 hex digits R against
 * the threshold T = round((1 - p) * 2^56), sampled iff R >= T. Both sides are 14 hex digits
 * in lower case, so comparing them as strings compares the numbers, without the unhex/reverse
 * gymnastics a UInt64 would need. A malformed tail (shorter than 14, or not hex) is refused,
 * as TraceIdSampler refuses it, except at p = 1 where both sample every trace.
 */
export function samplingSql(probability: number, paramPrefix = 'sampling'): SqlCondition {
  // The constructor validates p exactly as the live pipeline does.
  new TraceIdSampler(probability);
  const threshold = TraceIdSampler.thresholdFor(probability);
  if (threshold === 0n) return { sql: '1', params: {} };
  if (threshold >= TWO_POW_56) return { sql: '0', params: {} };
  const tail = `${paramPrefix}_tail`;
  const min = `${paramPrefix}_threshold`;
  return {
    sql: `(match(TraceId, {${tail}:String}) AND lower(right(TraceId, ${RANDOMNESS_HEX_DIGITS})) >= {${min}:String})`,
    params: {
      // RE2's `$` is the end of the text only (no Perl "before a final newline").
      [tail]: `[0-9a-fA-F]{${RANDOMNESS_HEX_DIGITS}}$`,
      [min]: threshold.toString(16).padStart(RANDOMNESS_HEX_DIGITS, '0'),
    },
  };
}

/** Spans started in [fromNs, toNs) (either bound optional), ns since epoch as decimal strings. */
export function timeRangeSql(fromNs: string | undefined, toNs: string | undefined): SqlCondition {
  const conditions: string[] = [];
  const params: Record<string, unknown> = {};
  if (fromNs !== undefined) {
    conditions.push('Timestamp >= fromUnixTimestamp64Nano({range_from_ns:Int64})');
    params.range_from_ns = fromNs;
  }
  if (toNs !== undefined) {
    conditions.push('Timestamp < fromUnixTimestamp64Nano({range_to_ns:Int64})');
    params.range_to_ns = toNs;
  }
  return { sql: conditions.length === 0 ? '1' : conditions.join(' AND '), params };
}

/** Spans started in the last `hours` hours, as SpanReader's `sinceHours` counts them. */
export function sinceHoursSql(hours: number): SqlCondition {
  return { sql: 'Timestamp >= now64(9) - toIntervalSecond({since_seconds:UInt64})', params: { since_seconds: Math.round(hours * 3600) } };
}

/** All conditions together (AND), their parameters merged. */
export function allOf(...conditions: SqlCondition[]): SqlCondition {
  return {
    sql: conditions.map((condition) => `(${condition.sql})`).join(' AND '),
    params: Object.assign({}, ...conditions.map((condition) => condition.params)) as Record<string, unknown>,
  };
}
