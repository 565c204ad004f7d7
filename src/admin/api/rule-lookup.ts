import type { SpanscoreConfig } from '../../config/spanscore-config.js';
import { PROJECT_ATTRIBUTE, resolveProject } from '../../pipeline/project.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import { builtinScorers } from '../../scoring/builtins/index.js';
import type { RuleSpec, ScorerSpec } from '../../scoring/rule-spec.js';
import { notFound } from './api-error.js';

/** The configured rule of that name, or 404 listing the names there are. */
export function findRule(config: SpanscoreConfig, name: string): RuleSpec {
  const rule = config.rules.find((candidate) => candidate.name === name);
  if (rule) return rule;
  const names = config.rules.map((r) => r.name);
  throw notFound(`no rule named ${JSON.stringify(name)}${names.length > 0 ? ` (rules: ${names.join(', ')})` : ' (no rules are configured)'}`);
}

/**
 * The specs of the named scorers: declared ones, else built-ins with default options (as the
 * scoring processor does for a rule naming a built-in directly). undefined for an unknown name.
 */
export function scorerSpec(config: SpanscoreConfig, name: string): ScorerSpec | undefined {
  const declared = config.scorers.get(name);
  if (declared) return declared;
  if (Object.hasOwn(builtinScorers, name)) return { name, kind: 'builtin', builtin: name, options: {}, timeoutMs: config.scoring.taskTimeoutMs };
  return undefined;
}

/** Every scorer of a configured rule (the config guarantees they exist). */
export function scorersOf(config: SpanscoreConfig, rule: RuleSpec): Map<string, ScorerSpec> {
  const specs = new Map<string, ScorerSpec>();
  for (const name of rule.scorers) {
    const spec = scorerSpec(config, name);
    if (spec) specs.set(name, spec);
  }
  return specs;
}

/** What a key must cover to act on a rule: its project, or every project for a rule without one. */
export function ruleProject(rule: Pick<RuleSpec, 'project'>): string {
  return rule.project ?? '*';
}

/** A stored span's project (spans stored before projects existed fall back to their service). */
export function spanProject(span: SpanRow): string {
  return resolveProject(undefined, span.ResourceAttributes[PROJECT_ATTRIBUTE], span.ServiceName);
}
