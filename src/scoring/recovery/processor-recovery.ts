import type { Registry } from 'prom-client';
import type { DaemonMetrics } from '../../admin/daemon-metrics.js';
import type { Logger } from '../../admin/logger.js';
import type { ScorerStatus } from '../../llm/scorer-governor.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import type { TraceStorage } from '../../storage/trace-storage.js';
import type { FieldConventions } from '../field-conventions.js';
import type { RuleSpec } from '../rule-spec.js';
import type { ScoreRecorder } from '../score-recorder.js';
import type { ScoringQueue, ScoringTask } from '../scoring-queue.js';
import { recoveredCounter } from './recovered-metric.js';
import type { RecoveryConfig } from './recovery-types.js';
import { ScoringRecovery } from './scoring-recovery.js';

/** What the ScoringProcessor has that its recovery needs. */
export interface ProcessorParts {
  config: RecoveryConfig | undefined;
  /** Every configured rule (rule-sql needs the specs). */
  rules: readonly RuleSpec[];
  /** The enabled span rules that select something, with the live selection. */
  spanRules: ReadonlyArray<{ name: string; scorers: readonly string[]; selects(span: SpanRow): boolean }>;
  storage: Partial<Pick<TraceStorage, 'query' | 'ping'>>;
  /** Filled by the processor's `start`; read at each sweep. */
  queues: ReadonlyMap<string, ScoringQueue>;
  recorder: Pick<ScoreRecorder, 'settle' | 'backlogged'>;
  scorerStatuses: () => Record<string, ScorerStatus>;
  /** Queues a task counted as enqueued for its rule; false when refused. */
  offer: (task: ScoringTask) => boolean;
  /** See RecoveryHost.busy / taskBytes. */
  busy: () => boolean;
  taskBytes: (span: SpanRow) => number;
  /** Given to the first processor of a process: see ScoringRecoveryOptions.ownInstanceId. */
  ownInstanceId?: string;
  metrics: Partial<Pick<DaemonMetrics, 'scoringRecoveryBacklog' | 'scoringRecoveredSpans' | 'scoringRecoverySkipped'>>;
  conventions: FieldConventions;
  logger: Logger;
  /** Where spanscore_scoring_recovered_total goes; none, no counter. */
  registry: Registry | undefined;
}

/** The processor's ScoringRecovery, or undefined when recovery is off or there is nothing to recover for. */
export function createProcessorRecovery(parts: ProcessorParts): ScoringRecovery | undefined {
  const { config, storage } = parts;
  if (config === undefined || !config.enabled || parts.spanRules.length === 0) return undefined;
  if (storage.query === undefined) throw new Error('scoring recovery needs a storage that can query');
  const specs = new Map(parts.rules.map((rule) => [rule.name, rule]));
  return new ScoringRecovery({
    ...config,
    rules: parts.spanRules.map((rule) => ({ spec: specs.get(rule.name)!, scorers: [...new Set(rule.scorers)], selects: (span: SpanRow) => rule.selects(span) })),
    host: {
      queueFor: (scorer) => parts.queues.get(scorer),
      offer: parts.offer,
      busy: parts.busy,
      taskBytes: parts.taskBytes,
      scorerAvailable: (scorer) => (parts.scorerStatuses()[scorer]?.state ?? 'active') === 'active',
      settleWrites: () => parts.recorder.settle(),
      writesBacklogged: () => parts.recorder.backlogged,
    },
    storage: { query: storage.query.bind(storage), ...(storage.ping && { ping: storage.ping.bind(storage) }) },
    conventions: parts.conventions,
    logger: parts.logger,
    ...(parts.registry && { recovered: recoveredCounter(parts.registry) }),
    ...(parts.metrics.scoringRecoveredSpans && { recoveredSpans: parts.metrics.scoringRecoveredSpans }),
    ...(parts.metrics.scoringRecoveryBacklog && { backlog: parts.metrics.scoringRecoveryBacklog }),
    ...(parts.metrics.scoringRecoverySkipped && { skipped: parts.metrics.scoringRecoverySkipped }),
    ...(parts.ownInstanceId !== undefined && { ownInstanceId: parts.ownInstanceId }),
  });
}
