import type { FilterExpr } from '../../filter/filter-ast.js';
import type { RuleSpec, ScorerSpec } from '../rule-spec.js';

/** One scorer outcome on one span, as the admin API shows it. */
export interface ScoredResult {
  traceId: string;
  spanId: string;
  spanName: string;
  rule: string;
  /** The outcome's scorer name (a module returning several scores yields several results). */
  scorer: string;
  score: number | null;
  /** Empty when the scorer worked. */
  error: string;
  /** From the outcome metadata `rationale` (LLM judges). */
  rationale?: string;
  /** From the outcome metadata `tokens` (LLM scorers). */
  tokens?: { input: number; output: number };
  /** From the outcome metadata `cost_usd`: null when the model has no price. */
  costUsd?: number | null;
  details: Record<string, unknown>;
}

export interface TestRuleResult {
  rule: string;
  hours: number;
  /** Stored spans of the window the rule's project, apply_to and filter select. */
  matched: number;
  /** Of those, the ones whose trace the rule's sampling keeps. */
  sampled: number;
  /** Scores of the `sample` most recent matches (sampled or not); nothing of it is stored. */
  scored: ScoredResult[];
  /** Spans the rule would score per day at this traffic: matched / hours * 24 * sampling rate. */
  spansPerDay: number;
  /** spansPerDay * mean cost per scored span of the sample; null when no scorer reported a cost. */
  estimatedCostPerDayUsd: number | null;
}

export interface BackfillRequest {
  rule: RuleSpec;
  scorers: Map<string, ScorerSpec>;
  /** Narrows the rule's selection further. */
  extraFilter?: { text: string; expr: FilterExpr };
  /** Spans started at or after, ns since epoch (decimal string). */
  fromNs?: string;
  /** Spans started before, ns since epoch (decimal string). */
  toNs?: string;
  /** At most this many spans, the most recent ones. */
  limit: number;
  /** Score spans that already have scores of this rule again. */
  force: boolean;
}

export interface BackfillEstimate {
  /** Spans the backfill would go through (at most `limit`). */
  spans: number;
  /** Of those, the ones with a score of this rule already (reported even with `force`). */
  alreadyScored: number;
  /** spans - alreadyScored, or spans with `force`. */
  toScore: number;
  /** toScore * the sum over the rule's scorers of their mean recent cost; null when none has any. */
  estimatedCostUsd: number | null;
}

/**
 * Counts are in spans: done = skipped + scored + errored, and done = total when the job is done.
 */
export interface BackfillJobStatus {
  id: string;
  rule: string;
  state: 'running' | 'done' | 'failed';
  /** Spans the job goes through (known once its selection query ran; 0 before). */
  total: number;
  done: number;
  /** Spans not scored: they already had a score of the rule (or left otel_traces meanwhile). */
  skipped: number;
  /** Spans all of whose scorers produced a score, stored. */
  scored: number;
  /** Spans where at least one scorer failed or was not run (paused, over budget); what worked is stored. */
  errored: number;
  /** ISO 8601. */
  startedAt: string;
  finishedAt?: string;
  error?: string;
  /** Known once the selection query ran. */
  estimatedCostUsd: number | null;
}
