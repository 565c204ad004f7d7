import type { ClickHouseClient } from '@clickhouse/client';
import { quantile } from './proc-stats.js';

/**
 * Time from acknowledgement to score row visible: the load generator reports the ack time and
 * ids of a sample of requests (trace ids prefixed with a marker); this polls `scores` every
 * ~100 ms for rows of those spans and notes the wall time a row was first seen.
 *
 * "Seen" is the start of the poll that first returned the row, so a figure is at most one
 * poll interval late (plus the query's own latency, small against a 1 s target).
 * ScoredAt (when the daemon computed the score) is kept too, to tell computing from writing.
 *
 * Each poll asks only for rows computed since shortly before the oldest unseen ack, so that
 * it returns few rows; a span still unseen after WATERMARK_MAX_AGE_MS stops holding the
 * watermark back, and a last query without the time condition finds such rows at the end
 * (they are then timed at that query, an upper bound, and counted in `lateSweep`).
 */
export interface TimeToScoreResult {
  /** (span, rule) pairs expected: selected spans of tracked requests times rules. */
  expected: number;
  seen: number;
  /** Of `seen`: found only by the final query, timed at it. */
  lateSweep: number;
  /** Not visible by the end of the drain: counted as infinitely late in the quantiles. */
  missing: number;
  p50Ms: number;
  p99Ms: number;
  /** ScoredAt - ack (computation, without the score write). */
  computedP99Ms: number;
  polls: number;
}

interface Pending {
  ackAt: number;
  /** Rules whose score row has not been seen yet. */
  rules: Set<string>;
}

const POLL_INTERVAL_MS = 100;
/** ScoredAt may precede the ack as the load generator saw it, when its event loop was late to read the response. */
const WATERMARK_SLACK_MS = 1_000;
const WATERMARK_MAX_AGE_MS = 10_000;
const TWO_POW_56 = 2 ** 56;

/**
 * The rules' sampling decision, by the documented scheme (README "What it does": the trace
 * id's low 56 bits R, sampled iff R >= round((1 - rate) * 2^56)), so that the bench knows
 * which tracked spans must get scores without asking the daemon.
 */
export function sampledByTraceId(traceIdHex: string, rate: number): boolean {
  const threshold = BigInt(Math.round((1 - rate) * TWO_POW_56));
  return BigInt(`0x${traceIdHex.slice(-14)}`) >= threshold;
}

export class TimeToScore {
  readonly #pending = new Map<string, Pending>();
  readonly #delays: number[] = [];
  readonly #computed: number[] = [];
  #expected = 0;
  #polls = 0;
  #lateSweep = 0;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly database: string,
    private readonly marker: string,
    private readonly rules: readonly string[],
    private readonly samplingRate: number,
  ) {}

  /** A tracked request was acknowledged: its sampled spans are expected in `scores`, once per rule. */
  add(ackAt: number, ids: ReadonlyArray<readonly [string, string]>): void {
    for (const [traceId, spanId] of ids) {
      if (!sampledByTraceId(traceId, this.samplingRate)) continue;
      this.#pending.set(`${traceId}:${spanId}`, { ackAt, rules: new Set(this.rules) });
      this.#expected += this.rules.length;
    }
  }

  start(): void {
    const tick = () => {
      this.#polling = this.#poll().finally(() => {
        if (this.#timer !== undefined) this.#timer = setTimeout(tick, POLL_INTERVAL_MS);
      });
    };
    this.#timer = setTimeout(tick, POLL_INTERVAL_MS);
  }

  /** Keeps polling until every expected row was seen or `drainMs` passed, then reports. */
  async finish(drainMs: number): Promise<TimeToScoreResult> {
    const deadline = Date.now() + drainMs;
    while (this.#pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#polling;
    if (this.#pending.size > 0) {
      const before = this.#delays.length;
      await this.#poll(false);
      this.#lateSweep = this.#delays.length - before;
    }
    let missing = 0;
    for (const pending of this.#pending.values()) missing += pending.rules.size;
    const delays = [...this.#delays, ...Array<number>(missing).fill(Number.POSITIVE_INFINITY)].sort((a, b) => a - b);
    const computed = [...this.#computed].sort((a, b) => a - b);
    return {
      expected: this.#expected,
      seen: this.#delays.length,
      lateSweep: this.#lateSweep,
      missing,
      p50Ms: quantile(delays, 0.5),
      p99Ms: quantile(delays, 0.99),
      computedP99Ms: quantile(computed, 0.99),
      polls: this.#polls,
    };
  }

  async #poll(sinceWatermark = true): Promise<void> {
    if (this.#pending.size === 0) return;
    const startedAt = performance.timeOrigin + performance.now();
    let oldestAck = startedAt;
    for (const pending of this.#pending.values()) {
      if (pending.ackAt > startedAt - WATERMARK_MAX_AGE_MS) oldestAck = Math.min(oldestAck, pending.ackAt);
    }
    const since = sinceWatermark ? Math.floor(oldestAck - WATERMARK_SLACK_MS) : 0;
    this.#polls++;
    let rows: Array<{ TraceId: string; SpanId: string; Rule: string; ScoredAtMs: number }>;
    try {
      const result = await this.client.query({
        query: `SELECT TraceId, SpanId, Rule, toFloat64(toUnixTimestamp64Nano(ScoredAt)) / 1e6 AS ScoredAtMs
                FROM ${this.database}.scores
                WHERE startsWith(TraceId, {marker:String}) AND ScoredAt >= fromUnixTimestamp64Milli({since:Int64})`,
        query_params: { marker: this.marker, since },
        format: 'JSONEachRow',
      });
      rows = await result.json();
    } catch {
      return; // a failed poll is a missed sample of time, the next one sees the rows
    }
    for (const row of rows) {
      const pending = this.#pending.get(`${row.TraceId}:${row.SpanId}`);
      if (pending === undefined || !pending.rules.delete(row.Rule)) continue;
      this.#delays.push(startedAt - pending.ackAt);
      this.#computed.push(row.ScoredAtMs - pending.ackAt);
      if (pending.rules.size === 0) this.#pending.delete(`${row.TraceId}:${row.SpanId}`);
    }
  }
}
