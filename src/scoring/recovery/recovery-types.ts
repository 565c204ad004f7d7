import type { Counter, Gauge } from 'prom-client';
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
  /** Between the end of a sweep and the start of the next, unless it left a backlog behind. */
  intervalMs: number;
  /** Spans younger than this are the live pipeline's to score (other replicas', or this process's). */
  minAgeMs: number;
  /** Spans queued by one sweep at most, all rules together. */
  maxSpans: number;
  /**
   * Spans read back per query at most, by their uncompressed size in ClickHouse (byteSize);
   * a span larger than that alone is not scored (counted and logged). Default 4 MiB.
   */
  pageBytes?: number;
  /** Before the first sweep. Default: none when `ownInstanceId` is set, else the shorter of 10 s and `intervalMs`. */
  initialDelayMs?: number;
}

export const DEFAULT_PAGE_BYTES = 4 * 1024 * 1024;

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
  /**
   * True while new scoring tasks would be shed, or nearly: memory short (the limiter), or the
   * tasks in the queues near their memory budget. Recovery then waits: live tasks come first.
   */
  busy(): boolean;
  /** The memory a recovered span's tasks hold in the queues (the queues' own estimate). */
  taskBytes(span: SpanRow): number;
  /** Resolves once every score recorded so far has been written or given up on. */
  settleWrites(): Promise<void>;
  /** True while score inserts are failing and being retried. */
  writesBacklogged(): boolean;
}

/** Recovery's metrics (DaemonMetrics); each optional. */
export interface RecoveryMetrics {
  /** spanscore_scoring_recovered_total{rule}: scorer tasks queued by recovery. */
  recovered?: Counter<'rule'>;
  /** spanscore_scoring_recovered_spans_total{rule}: spans whose recovered tasks were all done, at least one scored. */
  recoveredSpans?: Counter<'rule'>;
  /** spanscore_scoring_recovery_backlog_spans: spans lacking scores the last sweep found (all rules). */
  backlog?: Gauge;
  /** spanscore_scoring_recovery_skipped_spans_total{reason}: spans recovery does not score. */
  skipped?: Counter<'reason'>;
}

export interface ScoringRecoveryOptions extends RecoveryConfig, RecoveryMetrics {
  rules: RecoverableRule[];
  host: RecoveryHost;
  storage: Pick<TraceStorage, 'query'> & Partial<Pick<TraceStorage, 'ping'>>;
  conventions: FieldConventions;
  logger: Logger;
  /**
   * This replica's `service.instance_id`, given to the first processor of a process only: the
   * spans this instance stored before that processor started were stored by an earlier process
   * (killed, or stopped at a deadline), whose live pipeline is gone, so they are recovered at
   * once rather than after `minAgeMs`. Not given after a config reload: the replaced processor
   * is still scoring what it took.
   */
  ownInstanceId?: string;
}
