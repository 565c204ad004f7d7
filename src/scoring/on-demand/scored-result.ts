import type { SpanRow } from '../../pipeline/span-row.js';
import type { ScoreOutcome } from '../scorer-args.js';
import type { ScoredResult } from './on-demand-types.js';

/** An outcome as the admin API shows it; LLM scorers' metadata surfaces as typed fields. */
export function toScoredResult(span: SpanRow, rule: string, outcome: ScoreOutcome): ScoredResult {
  const metadata = outcome.metadata ?? {};
  const result: ScoredResult = {
    traceId: span.TraceId,
    spanId: span.SpanId,
    spanName: span.SpanName,
    rule,
    scorer: outcome.scorer,
    score: outcome.score,
    error: outcome.error,
    details: metadata,
  };
  if (typeof metadata.rationale === 'string') result.rationale = metadata.rationale;
  const tokens = metadata.tokens as { input?: unknown; output?: unknown } | undefined;
  if (typeof tokens === 'object' && tokens !== null && typeof tokens.input === 'number' && typeof tokens.output === 'number') {
    result.tokens = { input: tokens.input, output: tokens.output };
  }
  if (Object.hasOwn(metadata, 'cost_usd')) result.costUsd = reportedCost(outcome);
  return result;
}

/** The outcome's `cost_usd` when it is a number; null when absent or null (an unpriced model). */
export function reportedCost(outcome: ScoreOutcome): number | null {
  const cost = outcome.metadata?.cost_usd;
  return typeof cost === 'number' && Number.isFinite(cost) ? cost : null;
}

/**
 * Mean cost per span over spans scored together, each span costing the sum of its outcomes'
 * costs; null when no outcome reported one (heuristic scorers only, or unpriced models), so
 * "free" and "unknown" stay apart.
 */
export function meanCostPerSpan(spans: Array<{ outcomes: ScoreOutcome[] }>): number | null {
  if (spans.length === 0) return null;
  let total = 0;
  let priced = false;
  for (const span of spans) {
    for (const outcome of span.outcomes) {
      const cost = reportedCost(outcome);
      if (cost === null) continue;
      priced = true;
      total += cost;
    }
  }
  return priced ? total / spans.length : null;
}
