import type { SpanscoreConfig } from '../../config/spanscore-config.js';
import { PROJECT_ATTRIBUTE, resolveProject } from '../../pipeline/project.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import { builtinScorers } from '../../scoring/builtins/index.js';
import type { RuleSpec, ScorerSpec } from '../../scoring/rule-spec.js';
import { notFound } from './api-error.js';
import type { RequestAuth } from './request-auth.js';

/** What a lookup needs of the key that asks. */
type Viewer = Pick<RequestAuth, 'covers'>;

/**
 * Whether a key may know that a rule exists: a rule of a project it covers, or of every
 * project (no `project`: it scores the key's spans too, though acting on it takes a key for
 * every project, a 403). A rule of another project is as good as absent.
 */
export function ruleVisible(rule: Pick<RuleSpec, 'project'>, viewer: Viewer): boolean {
  return rule.project === undefined || viewer.covers(rule.project);
}

/**
 * The configured rule of that name, or 404 listing the names the key may know of. A rule of
 * another project gets exactly the answer of a name no rule has: a 403 would tell the key
 * that another project has a rule of that name.
 */
export function findRule(config: SpanscoreConfig, name: string, viewer: Viewer): RuleSpec {
  const rule = config.rules.find((candidate) => candidate.name === name && ruleVisible(candidate, viewer));
  if (rule) return rule;
  const names = config.rules.filter((r) => ruleVisible(r, viewer)).map((r) => r.name);
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
