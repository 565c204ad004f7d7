import type { Counter } from 'prom-client';
import type { Logger } from '../../admin/logger.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import type { TraceStorage } from '../../storage/trace-storage.js';
import type { FieldConventions } from '../field-conventions.js';
import type { RuleSpec } from '../rule-spec.js';
import type { ScoringTask } from '../scoring-queue.js';

/** `scoring.recovery` of the config, as SpanscoreConfig holds it. */
export interface RecoveryConfig {
  enabled: boolean;
  /** How far back a sweep looks (span start times). */
  windowMs: number;
  /** Between the end of a sweep and the start of the next. */
  intervalMs: number;
  /** Spans younger than this are the live pipeline's to score. */
  minAgeMs: number;
  /** Spans queued by one sweep at most, all rules together. */
  maxSpans: number;
  /** Before the first sweep. Default: the shorter of 10 s and `intervalMs`. */
  initialDelayMs?: number;
}

/** A `scope: span` rule as recovery needs it. */
export interface RecoverableRule {
  spec: RuleSpec;
  /** Its scorers, each once. */
  scorers: readonly string[];
  /** The live pipeline's decision for a span (project, apply_to, filter, sampler), uncounted. */
  selects(span: SpanRow): boolean;
}

/** What the ScoringProcessor lends recovery. */
export interface RecoveryHost {
  /** The queue in front of a scorer (for its room), once the processor has started. */
  queueFor(scorer: string): { readonly depth: number; readonly capacity: number } | undefined;
  /** Queues a task as the live pipeline does (counted as enqueued); false when refused. */
  offer(task: ScoringTask): boolean;
  /** False for an LLM scorer that is paused or over budget: its tasks would only be skipped. */
  scorerAvailable(scorer: string): boolean;
  /** Resolves once every score recorded so far has been written or given up on. */
  settleWrites(): Promise<void>;
  /** True while score inserts are failing and being retried. */
  writesBacklogged(): boolean;
}

export interface ScoringRecoveryOptions extends RecoveryConfig {
  rules: RecoverableRule[];
  host: RecoveryHost;
  storage: Pick<TraceStorage, 'query'> & Partial<Pick<TraceStorage, 'ping'>>;
  conventions: FieldConventions;
  logger: Logger;
  /** spanscore_scoring_recovered_total{rule}: scorer tasks queued by recovery. */
  recovered?: Counter<'rule'>;
}
