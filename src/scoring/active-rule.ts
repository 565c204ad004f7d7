import { compileFilter, type CompiledFilter } from '../filter/js-filter-compiler.js';
import { PROJECT_ATTRIBUTE } from '../pipeline/project.js';
import type { SpanRow } from '../pipeline/span-row.js';
import type { FieldConventions } from './field-conventions.js';
import type { RuleSpec } from './rule-spec.js';
import { SpanSelector } from './span-selector.js';
import { TraceIdSampler } from './trace-id-sampler.js';

/**
 * Live counts for one rule, for the admin API. Tasks are (span, scorer) pairs. A trace rule
 * counts the root spans it looked at, selected, filtered and sampled, one task per scorer per trace.
 */
export interface RuleCounters {
  /** Spans the rule looked at. */
  seen: number;
  /** Spans its `apply_to` matched. */
  selected: number;
  /** Selected spans for which its filter was TRUE (all selected spans when it has none). */
  filtered: number;
  /** Filtered spans whose trace the sampler kept. */
  sampled: number;
  /** Scorer tasks queued. */
  enqueued: number;
  /** Scorer tasks dropped: queue full, shutting down, or left at the drain deadline. */
  shed: number;
  /** Outcomes without error (an array-returning scorer yields several per task). */
  scored: number;
  /** Outcomes with an error. */
  errored: number;
  /** Scorer tasks not run because the scorer was paused or over budget. */
  skipped: number;
}

/** An enabled rule that can select something, ready to decide spans. */
export interface ActiveRule {
  name: string;
  scope: RuleSpec['scope'];
  idleSeconds: number;
  /** Only spans of this project; undefined = all. */
  project: string | undefined;
  scorers: string[];
  selector: SpanSelector;
  filter: CompiledFilter | undefined;
  sampler: TraceIdSampler;
  counters: RuleCounters;
}

/** The enabled rules with scorers that can select anything (apply_to, sampling above 0), counting on `counters`. */
export function activeRules(rules: readonly RuleSpec[], conventions: FieldConventions, counters: ReadonlyMap<string, RuleCounters>): ActiveRule[] {
  return rules
    .filter((rule) => rule.enabled && rule.scorers.length > 0)
    .map((rule) => ({
      name: rule.name,
      scope: rule.scope,
      idleSeconds: rule.idleSeconds,
      project: rule.project,
      scorers: rule.scorers,
      selector: new SpanSelector(rule.applyTo),
      filter: rule.filter && compileFilter(rule.filter.expr, conventions),
      sampler: new TraceIdSampler(rule.samplingRate),
      counters: counters.get(rule.name)!,
    }))
    .filter((rule) => rule.selector.selectsAnything && rule.sampler.probability > 0);
}

/**
 * Whether a rule takes a span: its project, `apply_to`, filter and sampler, in that order,
 * counting each step passed when given counters. A rule does not see other projects' spans at
 * all: its counters are its project's.
 */
export function selects(rule: ActiveRule, span: SpanRow, counters?: RuleCounters): boolean {
  if (rule.project !== undefined && rule.project !== span.ResourceAttributes[PROJECT_ATTRIBUTE]) return false;
  if (counters) counters.seen++;
  if (!rule.selector.matches(span)) return false;
  if (counters) counters.selected++;
  if (rule.filter && !rule.filter.matches(span)) return false;
  if (counters) counters.filtered++;
  if (!rule.sampler.shouldSample(span.TraceId)) return false;
  if (counters) counters.sampled++;
  return true;
}

export function emptyCounters(): RuleCounters {
  return { seen: 0, selected: 0, filtered: 0, sampled: 0, enqueued: 0, shed: 0, scored: 0, errored: 0, skipped: 0 };
}
