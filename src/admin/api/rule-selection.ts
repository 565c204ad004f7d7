import { PROJECT_ATTRIBUTE } from '../../pipeline/project.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import type { FieldConventions } from '../../scoring/field-conventions.js';
import type { RuleSpec } from '../../scoring/rule-spec.js';
import { SpanSelector } from '../../scoring/span-selector.js';
import { TraceIdSampler } from '../../scoring/trace-id-sampler.js';
import { formatFilter } from '../../filter/filter-format.js';
import { blameFilter } from './filter-blame.js';

/** Why a rule does not score a span, in the order the checks are made. */
export type MissReason = 'project' | 'disabled' | 'apply_to' | 'filter' | 'sampled_out' | 'scope';

export type RuleSelection =
  | { selected: true; message: string }
  | { selected: false; reason: MissReason; message: string; filter?: FilterVerdict };

/** The filter's part of a `filter` miss: its text, its value, and the sub-expression to blame. */
export interface FilterVerdict {
  text: string;
  value: boolean | null;
  expression: string;
  expression_value: boolean | null;
}

/**
 * Whether a rule scores a span, and if not the first reason why, decided the way the scoring
 * processor decides it (project, enabled, apply_to, filter, sampler) with the same selector,
 * compiled filter and sampler classes, so the answer cannot drift from what really happens.
 */
export function selectRule(rule: RuleSpec, span: SpanRow, conventions: FieldConventions): RuleSelection {
  // The stored attribute as the processor reads it, without the service-name fallback.
  const project = span.ResourceAttributes[PROJECT_ATTRIBUTE];
  if (rule.project !== undefined && rule.project !== project) {
    const where = project === undefined ? 'the span has no project' : `the span is in project ${JSON.stringify(project)}`;
    return miss('project', `the rule is for project ${JSON.stringify(rule.project)}; ${where}`);
  }
  if (!rule.enabled) return miss('disabled', 'the rule is disabled (`enabled: false`)');
  if (!new SpanSelector(rule.applyTo).matches(span)) return miss('apply_to', applyToMessage(rule, span));
  if (rule.filter) {
    const blame = blameFilter(rule.filter.expr, conventions, span);
    if (blame.value !== true) {
      const part = blame.expression === formatFilter(rule.filter.expr) ? '' : `; decided by \`${blame.expression}\`, which is ${shown(blame.expressionValue)}`;
      const filter: FilterVerdict = { text: rule.filter.text, value: blame.value, expression: blame.expression, expression_value: blame.expressionValue };
      return { ...miss('filter', `the filter is ${shown(blame.value)} for this span${part}`), filter };
    }
  }
  const sampler = new TraceIdSampler(rule.samplingRate);
  if (!sampler.shouldSample(span.TraceId)) {
    return miss('sampled_out', `the rule samples ${percent(rule.samplingRate)} of traces by trace id, and this trace is not in the sample`);
  }
  if (rule.scope === 'trace' && span.ParentSpanId !== '') {
    return miss('scope', `a trace rule: only the trace's root span is scored (with the whole trace), once the trace has been idle ${rule.idleSeconds} s`);
  }
  return {
    selected: true,
    message: rule.scope === 'trace' ? `selected: the whole trace is scored on this root span once it has been idle ${rule.idleSeconds} s` : 'selected',
  };
}

function miss(reason: MissReason, message: string): RuleSelection & { selected: false } {
  return { selected: false, reason, message };
}

function applyToMessage(rule: RuleSpec, span: SpanRow): string {
  const { rootSpans, spanNames } = rule.applyTo;
  const name = JSON.stringify(span.SpanName);
  const names = spanNames.length > 0 ? `span_names (${spanNames.join(', ')})` : '';
  if (rootSpans && names) return `not a root span, and its name ${name} is not in ${names}`;
  if (rootSpans) return 'not a root span (the rule applies to root spans only)';
  return `its name ${name} is not in ${names || 'span_names'}`;
}

function shown(value: boolean | null): string {
  return value === null ? 'NULL' : value ? 'TRUE' : 'FALSE';
}

function percent(rate: number): string {
  return `${Number((rate * 100).toPrecision(6))}%`;
}
