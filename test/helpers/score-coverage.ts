/** A ClickHouse string literal (test constants only). */
const literal = (text: string): string => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * SQL counting the service's root spans (what a `root_spans` rule selects; scoring spans always
 * have a parent) that have no score of `rule`: 0 once the rule has scored them all.
 */
export function unscoredRootsSql(service: string, rule: string): string {
  return `SELECT count() AS n FROM (SELECT DISTINCT TraceId, SpanId FROM otel_traces WHERE ServiceName = ${literal(service)} AND ParentSpanId = '')
  WHERE (TraceId, SpanId) NOT IN (SELECT TraceId, SpanId FROM scores FINAL WHERE Rule = ${literal(rule)})`;
}
