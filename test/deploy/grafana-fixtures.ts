import type { SpanRow } from '../../src/pipeline/span-row.js';
import type { ScoreRow } from '../../src/storage/score-row.js';

/**
 * Test data for the Grafana dashboard test, shaped like what the daemon writes (ScoreRow,
 * SpanRow, Details as main-thread-scorer-runner builds it), and the panels' expected values
 * computed from it in plain JS, with the plugin's time semantics (range ends cut to seconds).
 */

/** The dashboard time range; the odd milliseconds check that the plugin's second cut is applied. */
export const RANGE = { from: new Date(Date.UTC(2026, 2, 10, 0, 0, 0, 750)), to: new Date(Date.UTC(2026, 2, 12, 0, 0, 0, 250)) };
const FROM_NS = BigInt(Math.floor(RANGE.from.getTime() / 1000)) * 1_000_000_000n;
const TO_NS = BigInt(Math.floor(RANGE.to.getTime() / 1000)) * 1_000_000_000n;

export const RULE_SCORERS: Record<string, string[]> = {
  answers: ['Factuality', 'Judge:v2'],
  'root.json': ['ValidJSON'],
  tone: ['Judge:v2', 'ValidJSON'],
};
/** Factuality has a price (cost_usd a number); Judge:v2's model has none (cost_usd null). */
const LLM_SCORERS = new Set(['Factuality', 'Judge:v2']);
export const PROJECTS = ['shop', "o'brien", 'other'];

export interface Fixture {
  /** First versions, inserted first. */
  scores: ScoreRow[];
  /** Re-scores of some of them (same key, later ScoredAt), inserted afterwards: FINAL must pick these. */
  rescores: ScoreRow[];
  spans: SpanRow[];
}

/** Deterministic: a seeded generator, so a failure reproduces. */
export function buildFixture(seed = 7): Fixture {
  let state = seed;
  const random = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const hex = (bytes: number): string => Array.from({ length: bytes }, () => Math.floor(random() * 256).toString(16).padStart(2, '0')).join('');
  const fixture: Fixture = { scores: [], rescores: [], spans: [] };

  const startNs: bigint[] = [FROM_NS, FROM_NS - 1n, TO_NS, TO_NS + 1n];
  const spanSeconds = BigInt(Math.round((RANGE.to.getTime() - RANGE.from.getTime()) / 1000) + 9 * 3600);
  while (startNs.length < 240) startNs.push(FROM_NS - 6n * 3600_000_000_000n + BigInt(Math.floor(random() * Number(spanSeconds))) * 1_000_000_000n + BigInt(Math.floor(random() * 1e9)));

  const addScored = (ts: bigint, project: string, rule: string, scorers: string[]): void => {
    const traceId = hex(16);
    const rootId = hex(8);
    const spanId = hex(8);
    const resource = { 'service.name': `${project}-api`, 'spanscore.project': project };
    fixture.spans.push(span({ Timestamp: String(ts - 1000n), TraceId: traceId, SpanId: rootId, ParentSpanId: '', SpanName: 'POST /chat', SpanKind: 'Server', ResourceAttributes: resource, Duration: '3000000000' }));
    fixture.spans.push(span({ Timestamp: String(ts), TraceId: traceId, SpanId: spanId, ParentSpanId: rootId, SpanName: 'chat gpt-4o', SpanKind: 'Client', ResourceAttributes: resource, Duration: '1500000000', Events: [{ Timestamp: String(ts + 5n), Name: 'gen_ai.content.prompt', Attributes: { 'gen_ai.prompt': 'hi' } }] }));
    for (const scorer of scorers) {
      // Spans before the range are partly backfilled: scored (and paid for) inside it.
      const delayS = ts < FROM_NS && random() < 0.3 ? 8 * 3600 + Math.floor(random() * 3600) : 1 + Math.floor(random() * 900);
      const first = scoreRow(ts, delayS, traceId, spanId, project, rule, scorer, ts < FROM_NS && delayS > 3600 ? 'backfill' : 'online');
      fixture.scores.push(first);
      fixture.spans.push(scoringSpan(first, resource));
      if (random() < 0.15) {
        const again = scoreRow(ts, delayS + 3600, traceId, spanId, project, rule, scorer, 'manual');
        fixture.rescores.push(again);
        fixture.spans.push(scoringSpan(again, resource));
      }
    }
  };

  const scoreRow = (ts: bigint, delayS: number, traceId: string, spanId: string, project: string, rule: string, scorer: string, source: ScoreRow['Source']): ScoreRow => {
    const failed = random() < 0.12;
    const roll = random();
    const score = failed ? null : roll < 0.05 ? 1 : roll < 0.1 ? 0 : Math.round(random() * 1000) / 1000;
    const details: Record<string, unknown> = {};
    if (LLM_SCORERS.has(scorer)) {
      details.model = scorer === 'Factuality' ? 'gpt-4o-mini' : 'local-judge';
      if (!failed || random() < 0.5) {
        const input = 200 + Math.floor(random() * 2000);
        const output = 5 + Math.floor(random() * 300);
        details.tokens = { input, output };
        details.cost_usd = scorer === 'Factuality' ? (input * 0.15 + output * 0.6) / 1e6 : null;
      }
      if (!failed) Object.assign(details, { choice: 'A', rationale: 'Matches the reference.' });
    } else if (!failed) {
      details.parsed = score === 1;
    }
    return {
      Timestamp: String(ts),
      TraceId: traceId,
      SpanId: spanId,
      ScoringSpanId: hex(8),
      ServiceName: `${project}-api`,
      Project: project,
      SpanName: 'chat gpt-4o',
      Rule: rule,
      Scorer: scorer,
      Score: score,
      Error: failed ? `scorer "${scorer}": the LLM call timed out after 3 attempts` : '',
      Details: JSON.stringify(details),
      Source: source,
      ScoredAt: String(ts + BigInt(delayS) * 1_000_000_000n),
      DurationNs: String(1000 + Math.floor(random() * 1e9)),
    };
  };

  startNs.forEach((ts, i) => {
    const rule = Object.keys(RULE_SCORERS)[i % 3]!;
    addScored(ts, PROJECTS[Math.floor(i / 3) % 3]!, rule, RULE_SCORERS[rule]!);
  });
  // Only before the range: must not show up in the variables.
  for (let day = 2; day <= 4; day++) addScored(FROM_NS - BigInt(day) * 86_400_000_000_000n, 'archived', 'late-rule', ['Levenshtein']);
  return fixture;
}

function span(fields: Partial<SpanRow> & Pick<SpanRow, 'Timestamp' | 'TraceId' | 'SpanId' | 'ParentSpanId' | 'SpanName'>): SpanRow {
  return {
    TraceState: '',
    SpanKind: 'Internal',
    ServiceName: fields.ResourceAttributes?.['service.name'] ?? 'app',
    ResourceAttributes: {},
    ScopeName: 'app',
    ScopeVersion: '1.0.0',
    SpanAttributes: {},
    Duration: '1000',
    StatusCode: 'Ok',
    StatusMessage: '',
    Events: [],
    Links: [],
    ...fields,
  };
}

/** The scoring span the score recorder writes next to each score: a child of the scored span. */
function scoringSpan(score: ScoreRow, resource: Record<string, string>): SpanRow {
  const failed = score.Error !== '';
  return span({
    Timestamp: score.ScoredAt,
    TraceId: score.TraceId,
    SpanId: score.ScoringSpanId,
    ParentSpanId: score.SpanId,
    SpanName: `score ${score.Scorer}`,
    ResourceAttributes: resource,
    ScopeName: 'spanscore',
    SpanAttributes: { 'spanscore.rule': score.Rule, 'spanscore.scorer': score.Scorer, 'spanscore.score': String(score.Score), 'spanscore.details': score.Details },
    Duration: score.DurationNs,
    StatusCode: failed ? 'Error' : 'Ok',
    StatusMessage: score.Error,
  });
}

export type Selection = Record<'project' | 'rule' | 'scorer', 'all' | string[]>;

const selected = (choice: 'all' | string[], value: string): boolean => choice === 'all' || choice.includes(value);
export const matches = (row: ScoreRow, sel: Selection): boolean =>
  selected(sel.project, row.Project) && selected(sel.rule, row.Rule) && selected(sel.scorer, row.Scorer);
/** `$__timeFilter(col)`: both ends cut to whole seconds, both inclusive. */
export const inRange = (ns: string): boolean => BigInt(ns) >= FROM_NS && BigInt(ns) <= TO_NS;

/** What `FROM scores FINAL` reads: the newest version of each (Rule, Scorer, TraceId, SpanId). */
export function effective(rows: ScoreRow[]): ScoreRow[] {
  const newest = new Map<string, ScoreRow>();
  for (const row of rows) {
    const key = `${row.Rule}|${row.Scorer}|${row.TraceId}|${row.SpanId}`;
    const seen = newest.get(key);
    if (seen === undefined || BigInt(row.ScoredAt) > BigInt(seen.ScoredAt)) newest.set(key, row);
  }
  return [...newest.values()];
}

const seconds = (ns: string): number => Number(BigInt(ns) / 1_000_000_000n);

/** Per (bucket start, Rule, Scorer): mean score (null when every run failed) and error share. */
export function perBucket(rows: ScoreRow[], sel: Selection, intervalS: number): Map<string, { mean: number | null; errorRate: number }> {
  const groups = new Map<string, ScoreRow[]>();
  for (const row of effective(rows)) {
    if (!inRange(row.Timestamp) || !matches(row, sel)) continue;
    const key = `${Math.floor(seconds(row.Timestamp) / intervalS) * intervalS}|${row.Rule}|${row.Scorer}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const out = new Map<string, { mean: number | null; errorRate: number }>();
  for (const [key, group] of groups) {
    const scored = group.flatMap((r) => (r.Score === null ? [] : [r.Score]));
    const mean = scored.length === 0 ? null : scored.reduce((a, b) => a + b, 0) / scored.length;
    out.set(key, { mean, errorRate: group.filter((r) => r.Error !== '').length / group.length });
  }
  return out;
}

/** Rows of the distribution panel: every tenth for every scorer with a score, zeros included. */
export function distribution(rows: ScoreRow[], sel: Selection): { range: string; Scorer: string; scores: number }[] {
  const counts = new Map<string, number[]>();
  for (const row of effective(rows)) {
    if (row.Score === null || !inRange(row.Timestamp) || !matches(row, sel)) continue;
    const perTenth = counts.get(row.Scorer) ?? new Array<number>(10).fill(0);
    perTenth[Math.min(Math.max(Math.floor(row.Score * 10), 0), 9)]! += 1;
    counts.set(row.Scorer, perTenth);
  }
  return [...counts.keys()].sort().flatMap((scorer) => counts.get(scorer)!.map((n, b) => ({ range: `${b / 10}–${(b + 1) / 10}`, Scorer: scorer, scores: n })));
}

/** Per (UTC day of ScoredAt, Scorer): tokens of rows with Details.tokens, cost of rows with a numeric cost_usd. */
export function perDay(rows: ScoreRow[], sel: Selection): { tokens: Map<string, { input: number; output: number }>; cost: Map<string, number> } {
  const tokens = new Map<string, { input: number; output: number }>();
  const cost = new Map<string, number>();
  for (const row of effective(rows)) {
    if (!inRange(row.ScoredAt) || !matches(row, sel)) continue;
    const key = `${Math.floor(seconds(row.ScoredAt) / 86_400) * 86_400}|${row.Scorer}`;
    const details = JSON.parse(row.Details) as { tokens?: { input: number; output: number }; cost_usd?: number | null };
    if (details.tokens !== undefined) {
      const sum = tokens.get(key) ?? { input: 0, output: 0 };
      tokens.set(key, { input: sum.input + details.tokens.input, output: sum.output + details.tokens.output });
    }
    if (typeof details.cost_usd === 'number') cost.set(key, (cost.get(key) ?? 0) + details.cost_usd);
  }
  return { tokens, cost };
}

/** The lowest scores, most recent first among equals: `score|timestamp ns` per row. */
export function lowest(rows: ScoreRow[], sel: Selection, limit: number): string[] {
  return effective(rows)
    .filter((r) => r.Score !== null && inRange(r.Timestamp) && matches(r, sel))
    .sort((a, b) => a.Score! - b.Score! || (BigInt(b.Timestamp) > BigInt(a.Timestamp) ? 1 : BigInt(b.Timestamp) < BigInt(a.Timestamp) ? -1 : 0))
    .slice(0, limit)
    .map((r) => `${r.Score}|${r.Timestamp}`);
}

/** Distinct scored spans per rule, most first. */
export function spansPerRule(rows: ScoreRow[], sel: Selection): { Rule: string; spans: number }[] {
  const spans = new Map<string, Set<string>>();
  for (const row of rows) {
    if (!inRange(row.Timestamp) || !matches(row, sel)) continue;
    spans.set(row.Rule, (spans.get(row.Rule) ?? new Set()).add(`${row.TraceId}|${row.SpanId}`));
  }
  return [...spans].map(([Rule, set]) => ({ Rule, spans: set.size })).sort((a, b) => b.spans - a.spans || (a.Rule < b.Rule ? -1 : 1));
}

/** What a variable's query should list, given the selections of the variables before it. */
export function variableOptions(rows: ScoreRow[], column: 'Project' | 'Rule' | 'Scorer', sel: Partial<Selection>): string[] {
  const all: Selection = { project: 'all', rule: 'all', scorer: 'all', ...sel };
  return [...new Set(rows.filter((r) => inRange(r.Timestamp) && matches(r, all)).map((r) => r[column]))].sort();
}
