import type { ApiKeys } from '../../auth/api-keys.js';
import type { SpanscoreConfig } from '../../config/spanscore-config.js';
import type { ScorerStatus } from '../../llm/scorer-governor.js';
import type { OnDemandScoring } from '../../scoring/on-demand/on-demand-scoring.js';
import type { RuleCounters } from '../../scoring/scoring-processor.js';
import type { SpanReader } from '../../storage/span-reader.js';
import type { TraceStorage } from '../../storage/trace-storage.js';

/**
 * What the admin API reads and drives in the running daemon. Getters, not values: a config
 * reload swaps the keys, rules and scoring stage, and the API must see the ones in force.
 */
export interface AdminContext {
  /** The API keys in force (ApiKeys.enabled is false when the config declares none). */
  keys(): ApiKeys;
  config(): SpanscoreConfig;
  /** Live counters since start (carried over reloads for unchanged rules), by rule name. */
  ruleCounters(): Record<string, RuleCounters>;
  /** State of every LLM / autoevals scorer, by name; heuristics and modules are always active. */
  scorerStatuses(): Record<string, ScorerStatus>;
  storage: TraceStorage;
  reader: SpanReader;
  onDemand: OnDemandScoring;
}
