import { INSTANCE_ATTRIBUTE } from '../../pipeline/project.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import type { SpanReader } from '../../storage/span-reader.js';
import type { TraceStorage } from '../../storage/trace-storage.js';
import { nanos } from './nanos.js';

/** Spans read per trace at most, as SpanReader.byTrace. */
export const TRACE_SPAN_LIMIT = 10_000;

/**
 * Several whole traces in one query (a tick's worth of due traces), each in start order as
 * SpanReader.byTrace returns it. `fromNs` bounds the scan to the partitions that can hold them.
 */
export async function readTraces(reader: SpanReader, traceIds: readonly string[], fromNs: string): Promise<Map<string, SpanRow[]>> {
  const rows = await reader.matching({
    where: 'TraceId IN {traceIds:Array(String)}',
    params: { traceIds },
    fromNs,
    limit: TRACE_SPAN_LIMIT * traceIds.length,
  });
  const byTrace = new Map<string, SpanRow[]>();
  for (const row of rows) {
    const spans = byTrace.get(row.TraceId);
    if (spans) spans.push(row);
    else byTrace.set(row.TraceId, [row]);
  }
  for (const spans of byTrace.values()) spans.sort(startOrder);
  return byTrace;
}

/** `traceId \0 rule` for every (trace, rule) among these that already has a score. */
export async function scoredTraceRules(
  storage: Pick<TraceStorage, 'query'>,
  traceIds: readonly string[],
  rules: readonly string[],
  fromNs: string,
): Promise<Set<string>> {
  const rows = await storage.query<{ TraceId: string; Rule: string }>(
    `SELECT DISTINCT TraceId, Rule FROM scores
     WHERE TraceId IN {traceIds:Array(String)} AND Rule IN {rules:Array(String)} AND Timestamp >= fromUnixTimestamp64Nano({fromNs:Int64})`,
    { traceIds, rules, fromNs },
    { readonly: true },
  );
  return new Set(rows.map((row) => scoredKey(row.TraceId, row.Rule)));
}

export function scoredKey(traceId: string, rule: string): string {
  return `${traceId}\u0000${rule}`;
}

/**
 * Root spans of the last `sinceHours` that this instance stored and `rule` has not scored:
 * the traces a stopped processor of this instance left pending. FINAL because an unmerged
 * duplicate must still count as scored, not make the trace look unscored.
 */
export async function findUnscoredRoots(
  reader: SpanReader,
  options: { instanceId: string; rule: string; sinceHours: number; limit: number },
): Promise<SpanRow[]> {
  return reader.matching({
    where: `ParentSpanId = '' AND ResourceAttributes[{instanceKey:String}] = {instanceId:String}
      AND (TraceId, SpanId) NOT IN (
        SELECT TraceId, SpanId FROM scores FINAL
        WHERE Rule = {rule:String} AND Timestamp >= now64(9) - toIntervalSecond({recoverySeconds:UInt64})
      )`,
    params: {
      instanceKey: INSTANCE_ATTRIBUTE,
      instanceId: options.instanceId,
      rule: options.rule,
      // An hour more than the roots: a score's Timestamp is its root's, and clocks drift.
      recoverySeconds: Math.round((options.sinceHours + 1) * 3600),
    },
    sinceHours: options.sinceHours,
    limit: options.limit,
  });
}

/** The latest moment any span of the trace started or ended, ms since epoch. */
export function latestActivityMs(spans: readonly SpanRow[]): number {
  let latestNs = 0n;
  for (const span of spans) {
    const start = nanos(span.Timestamp);
    const end = start + nanos(span.Duration);
    if (end > latestNs) latestNs = end;
    if (start > latestNs) latestNs = start;
  }
  return Number(latestNs / 1_000_000n);
}

function startOrder(a: SpanRow, b: SpanRow): number {
  const byTime = compareNanos(a.Timestamp, b.Timestamp);
  return byTime !== 0 ? byTime : a.SpanId < b.SpanId ? -1 : a.SpanId > b.SpanId ? 1 : 0;
}

function compareNanos(a: string, b: string): number {
  const x = nanos(a);
  const y = nanos(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
