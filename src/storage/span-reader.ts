import type { SpanRow } from '../pipeline/span-row.js';
import type { TraceStorage } from './trace-storage.js';

/** `otel_traces` columns as SELECTed below: times as ns strings, nested columns as arrays. */
type StoredSpan = Omit<SpanRow, 'Timestamp' | 'Events' | 'Links'> & {
  ns: string;
  eventNs: string[];
  'Events.Name': string[];
  'Events.Attributes': Record<string, string>[];
  'Links.TraceId': string[];
  'Links.SpanId': string[];
  'Links.TraceState': string[];
  'Links.Attributes': Record<string, string>[];
};

const COLUMNS = `toString(toUnixTimestamp64Nano(Timestamp)) AS ns, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind,
  ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, toString(Duration) AS Duration, StatusCode, StatusMessage,
  arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp) AS eventNs, Events.Name, Events.Attributes,
  Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes`;

/** Spans written by spanscore itself (scoring spans); never scored, never part of a trace's transcript. */
export const SCORING_SCOPE = 'spanscore';

export interface SpanQuery {
  /** A boolean SQL expression over `otel_traces` columns (compiled filters, apply_to), with its parameters. */
  where: string;
  params?: Record<string, unknown>;
  /** Only spans that started in the last `sinceHours` hours. */
  sinceHours?: number;
  /** Or an explicit range, ns since epoch (decimal strings). */
  fromNs?: string;
  toNs?: string;
  /** Most recent first, at most this many. */
  limit: number;
}

/**
 * Reads spans back from `otel_traces` in the pipeline's shape (SpanRow), for everything that
 * scores stored spans: test rule, score by hand, backfill, explain, trace rules. Scoring
 * spans (scope `spanscore`) are never returned: scores are not scored.
 */
export class SpanReader {
  constructor(private readonly storage: Pick<TraceStorage, 'query'>) {}

  /** The spans with these ids, in start order; within `traceId` when given (uses the primary key). */
  async byIds(spanIds: readonly string[], traceId?: string): Promise<SpanRow[]> {
    if (spanIds.length === 0) return [];
    const trace = traceId === undefined ? '' : 'TraceId = {traceId:String} AND ';
    return this.#select(`${trace}SpanId IN {spanIds:Array(String)}`, { spanIds, ...(traceId !== undefined && { traceId }) }, 'Timestamp ASC', spanIds.length * 2);
  }

  /** Every span of a trace, in start order (at most `limit`). */
  async byTrace(traceId: string, limit = 10_000): Promise<SpanRow[]> {
    return this.#select('TraceId = {traceId:String}', { traceId }, 'Timestamp ASC, SpanId ASC', limit);
  }

  /** Spans matching `query.where`, most recent first. */
  async matching(query: SpanQuery): Promise<SpanRow[]> {
    const conditions = [`(${query.where})`];
    if (query.sinceHours !== undefined) conditions.push('Timestamp >= now64(9) - toIntervalSecond({sinceSeconds:UInt64})');
    if (query.fromNs !== undefined) conditions.push('Timestamp >= fromUnixTimestamp64Nano({fromNs:Int64})');
    if (query.toNs !== undefined) conditions.push('Timestamp < fromUnixTimestamp64Nano({toNs:Int64})');
    const params = {
      ...query.params,
      ...(query.sinceHours !== undefined && { sinceSeconds: Math.round(query.sinceHours * 3600) }),
      ...(query.fromNs !== undefined && { fromNs: query.fromNs }),
      ...(query.toNs !== undefined && { toNs: query.toNs }),
    };
    return this.#select(conditions.join(' AND '), params, 'Timestamp DESC', query.limit);
  }

  async #select(where: string, params: Record<string, unknown>, order: string, limit: number): Promise<SpanRow[]> {
    const rows = await this.storage.query<StoredSpan>(
      `SELECT ${COLUMNS} FROM otel_traces WHERE ScopeName != {scoringScope:String} AND ${where} ORDER BY ${order} LIMIT {limit:UInt64}`,
      { ...params, scoringScope: SCORING_SCOPE, limit },
      { readonly: true },
    );
    return rows.map(toSpanRow);
  }
}

function toSpanRow(row: StoredSpan): SpanRow {
  const { ns, eventNs, 'Events.Name': eventNames, 'Events.Attributes': eventAttributes, ...columns } = row;
  const { 'Links.TraceId': linkTraces, 'Links.SpanId': linkSpans, 'Links.TraceState': linkStates, 'Links.Attributes': linkAttributes, ...span } = columns;
  return {
    ...span,
    Timestamp: ns,
    Events: eventNs.map((Timestamp, i) => ({ Timestamp, Name: eventNames[i]!, Attributes: eventAttributes[i]! })),
    Links: linkTraces.map((TraceId, i) => ({ TraceId, SpanId: linkSpans[i]!, TraceState: linkStates[i]!, Attributes: linkAttributes[i]! })),
  };
}
