import type { DecodeFloorResult } from './floor-decode.js';
import type { InsertFloorResult } from './floor-insert.js';
import type { ScenarioResult } from './ingest-scenarios.js';

/**
 * The ingest table: one row per scenario, then the floors, each figure marked ✗ where it
 * misses the target, and the ratios to the floors of the same storage mode.
 */
export interface Floors {
  decode: DecodeFloorResult;
  /** With the server's CPU per row, measured around the floor's window. */
  server?: InsertFloorResult & { clickhouseMicrosPerSpan: number };
  embedded?: InsertFloorResult;
}

export const TARGETS = {
  spansPerSecond: 40_000,
  daemonMicrosPerSpan: 15,
  /** Rules scenario and gRPC, as a share of `server http`. */
  relativeThroughput: 0.9,
  timeToScoreP99Ms: 1_000,
  peakRssMiB: 300,
};

export const TARGETS_LINE =
  `targets: >= ${TARGETS.spansPerSecond.toLocaleString('en-US')} spans/s (embedded http, server http) | ` +
  `daemon CPU <= ${TARGETS.daemonMicrosPerSpan} µs/span (server http, server grpc: ClickHouse's CPU is not the daemon's) | ` +
  `server grpc, server http + rules and server http + forward >= ${TARGETS.relativeThroughput * 100}% of server http spans/s and of the ${TARGETS.spansPerSecond.toLocaleString('en-US')} target | ` +
  `score p99 <= ${TARGETS.timeToScoreP99Ms / 1000} s | peak RSS <= ${TARGETS.peakRssMiB} MiB | ✗ = misses its target`;

const MISS = ' ✗';
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : n === Number.POSITIVE_INFINITY ? '∞' : '–');
const dec = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : n === Number.POSITIVE_INFINITY ? '∞' : '–');
const mark = (text: string, missed: boolean) => (missed ? text + MISS : text);

function statusText(statuses: Record<string, number>): string {
  return Object.entries(statuses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');
}

function scenarioRow(result: ScenarioResult, serverHttp: number | undefined, floors: Floors): string[] {
  const floor = result.mode === 'server' ? floors.server : floors.embedded;
  const floorCpu = floor === undefined ? Number.NaN : floors.decode.microsPerSpan + floor.microsPerSpan;
  // gRPC and rules are held to 90% of server http as measured and to 90% of the target rate:
  // "within 10% of HTTP" at a rate far below the target would hide the miss.
  const throughputMiss = (() => {
    if (result.name === 'embedded http' || result.name === 'server http') return result.spansPerSecond < TARGETS.spansPerSecond;
    const reference = Math.max(serverHttp ?? 0, TARGETS.spansPerSecond);
    return result.spansPerSecond < TARGETS.relativeThroughput * reference;
  })();
  const cpuTarget = result.name === 'server http' || result.name === 'server grpc';
  const tts = result.timeToScore;
  return [
    result.name,
    mark(int(result.spansPerSecond), throughputMiss),
    floor === undefined ? '–' : `${dec((result.spansPerSecond / floor.spansPerSecond) * 100, 0)}%`,
    mark(dec(result.daemonMicrosPerSpan), cpuTarget && !(result.daemonMicrosPerSpan <= TARGETS.daemonMicrosPerSpan)),
    `${dec(result.daemonMicrosPerSpan / floorCpu)}×`,
    dec(result.clickhouseMicrosPerSpan),
    dec(result.load.p50Ms),
    dec(result.load.p99Ms),
    tts === undefined ? '–' : `${int(tts.p50Ms)} / ${mark(int(tts.p99Ms), !(tts.p99Ms <= TARGETS.timeToScoreP99Ms))}`,
    mark(int(result.peakRssMiB), result.peakRssMiB > TARGETS.peakRssMiB),
    dec(result.otherCores, 2),
    statusText(result.load.statuses),
  ];
}

function floorRows(floors: Floors): string[][] {
  const rows: string[][] = [['floor: protobuf decode', int(floors.decode.spansPerSecond), '', dec(floors.decode.microsPerSpan), '', '', '', '', '', '', '', '']];
  const insertRow = (label: string, f: InsertFloorResult, clickhouse: number) => [
    label,
    int(f.spansPerSecond),
    '',
    dec(f.microsPerSpan),
    '',
    dec(clickhouse),
    dec(f.p50Ms),
    dec(f.p99Ms),
    '',
    int(f.peakRssMiB),
    '',
    `${f.inserts} inserts`,
  ];
  if (floors.server) rows.push(insertRow('floor: insert, server', floors.server, floors.server.clickhouseMicrosPerSpan));
  if (floors.embedded) rows.push(insertRow('floor: insert, embedded', floors.embedded, Number.NaN));
  return rows;
}

const HEADER = [
  'scenario',
  'spans/s',
  'of floor',
  'daemon CPU µs/span',
  'CPU ÷ floor',
  'CH CPU µs/span',
  'ack p50 ms',
  'ack p99 ms',
  'score p50 / p99 ms',
  'peak RSS MiB',
  'other cores',
  'statuses',
];

export function formatTable(results: ScenarioResult[], floors: Floors): string {
  const serverHttp = results.find((r) => r.name === 'server http')?.spansPerSecond;
  const rows = [HEADER, ...results.map((r) => scenarioRow(r, serverHttp, floors)), ...floorRows(floors)];
  const widths = HEADER.map((_, c) => Math.max(...rows.map((row) => [...(row[c] ?? '')].length)));
  const line = (row: string[]) =>
    row
      .map((cell, c) => {
        const pad = ' '.repeat(widths[c]! - [...cell].length);
        return c === 0 || c === row.length - 1 ? cell + pad : pad + cell; // names and statuses left, figures right
      })
      .join(' | ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(rows[0]!), rule, ...rows.slice(1, results.length + 1).map(line), rule, ...rows.slice(results.length + 1).map(line)].join('\n');
}

/** What the table cannot hold: where the spans went, what the daemon refused or shed, how scores were timed. */
export function formatNotes(results: ScenarioResult[], floors: Floors, batchRows: number): string {
  const notes: string[] = [];
  for (const r of results) {
    const lost = r.stored !== undefined && r.stored.rows < r.stored.acknowledged;
    const d = r.daemon;
    notes.push(
      `${r.name}: ${int(r.load.ackedSpans)} spans acknowledged in ${dec(r.load.elapsedMs / 1000)} s (${r.load.requests} requests); ` +
        `stored ${int(r.stored?.rows ?? Number.NaN)} of ${int(r.stored?.acknowledged ?? Number.NaN)} acknowledged incl. warm-up${lost ? ' ✗ ACKNOWLEDGED SPANS MISSING' : ''}; ` +
        `load generator ${dec(r.loadGeneratorMicrosPerSpan)} µs/span; daemon /metrics: requests ${d.requests}, mean insert ${d.meanInsertRows} rows, ` +
        `memory-limiter refusals ${d.memoryLimiterRefusedRequests} req / ${d.memoryLimiterRefusedSpans} spans, pending-cap refusals ${d.pipelineRefusedSpans} spans, ` +
        `scores ${d.scores}, shed ${d.scoringShed}, score write failures ${d.scoreWriteFailures}`,
    );
    for (const [status, message] of Object.entries(r.load.refusals)) notes.push(`  first ${status}: ${message}`);
    for (const [message, count] of Object.entries(r.warnings)) notes.push(`  daemon log (warn/error) ${count}×: ${message}`);
    const t = r.timeToScore;
    if (t !== undefined) {
      notes.push(
        `  time-to-score: ${t.expected} (span, rule) pairs expected from tracked requests, ${t.seen} seen (${t.lateSweep} only by the final query), ` +
          `${t.missing} not visible by the end of the drain ` +
          `(counted as ∞); visible-after-ack p50 ${int(t.p50Ms)} ms, p99 ${int(t.p99Ms)} ms; computed (ScoredAt) p99 ${int(t.computedP99Ms)} ms; ${t.polls} polls`,
      );
    }
  }
  notes.push(
    `floors: decode = protobufjs ExportTraceServiceRequest.decode of the same bodies, one thread, process CPU per span; ` +
      `insert = bare @clickhouse/client JSONEachRow inserts of ${batchRows.toLocaleString('en-US')} stored-shape rows, 2 in flight (the daemon's max_concurrent), ` +
      `CPU = that process's (with the engine when embedded), p50/p99 per insert. "of floor" = spans/s ÷ the insert floor of the same storage; ` +
      `"CPU ÷ floor" = daemon µs/span ÷ (decode + insert floor µs/span of the same storage).`,
  );
  return notes.join('\n');
}
