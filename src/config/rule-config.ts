import type { z } from 'zod';
import { builtinScorers } from '../scoring/builtins/index.js';
import type { RuleSpec, ScorerSpec } from '../scoring/rule-spec.js';
import { ConfigError, formatPath, type ConfigIssue } from './config-error.js';
import { ruleSchema } from './config-schema.js';
import { parseRuleFilter } from './rule-filter.js';
import type { SpanscoreConfig } from './spanscore-config.js';

type RawRule = z.output<typeof ruleSchema>;
type Problem = (path: PropertyKey[], message: string) => void;

/** How long a trace must be quiet before a trace rule scores it. */
export const DEFAULT_IDLE_SECONDS = 30;

/**
 * One validated rule as a RuleSpec. `scorerExists` says whether a name is declared or a
 * built-in; problems are reported with paths relative to the rule.
 */
export function resolveRule(rule: RawRule, scorerExists: (name: string) => boolean, problem: Problem): RuleSpec {
  const filter = rule.filter === undefined ? undefined : parseRuleFilter(rule.filter, (message) => problem(['filter'], `rule "${rule.name}": ${message}`));
  if (rule.idle_seconds !== undefined && rule.scope !== 'trace') problem(['idle_seconds'], '`idle_seconds` applies to `scope: trace` rules only');
  if (!rule.apply_to.root_spans && rule.apply_to.span_names.length === 0) {
    problem(['apply_to'], `rule "${rule.name}" selects nothing: set \`root_spans: true\` and/or list \`span_names\``);
  }
  rule.scorers.forEach((name, i) => {
    if (!scorerExists(name)) {
      problem(['scorers', i], `rule "${rule.name}" names scorer "${name}", which is neither declared under \`scorers:\` nor a built-in (${Object.keys(builtinScorers).join(', ')})`);
    }
  });
  return {
    name: rule.name,
    description: rule.description,
    scorers: [...new Set(rule.scorers)],
    samplingRate: rule.sampling_rate,
    applyTo: { rootSpans: rule.apply_to.root_spans, spanNames: rule.apply_to.span_names },
    enabled: rule.enabled,
    ...(filter ? { filter: { text: rule.filter!, expr: filter } } : {}),
    ...(rule.project !== undefined && { project: rule.project }),
    scope: rule.scope,
    idleSeconds: rule.idle_seconds ?? DEFAULT_IDLE_SECONDS,
  };
}

/**
 * A rule sent to the admin API (`POST /rules/test` with a rule not in the config yet), checked
 * like one in the file against the running config's scorers. Returns the rule and the specs of
 * every scorer it names (built-ins it names directly get default options). Throws ConfigError
 * whose issue paths start at the body (`filter`, `scorers[0]`, ...).
 */
export function parseRuleBody(body: unknown, config: Pick<SpanscoreConfig, 'scorers' | 'scoring' | 'file'>): { rule: RuleSpec; scorers: Map<string, ScorerSpec> } {
  const issues: ConfigIssue[] = [];
  const parsed = ruleSchema.safeParse(body);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') issue.keys.forEach((key) => issues.push({ path: formatPath([...issue.path, key]), message: 'unknown key' }));
      else issues.push({ path: formatPath(issue.path), message: issue.message });
    }
    throw new ConfigError('rule', issues);
  }
  const scorers = new Map<string, ScorerSpec>();
  const exists = (name: string): boolean => {
    const declared = config.scorers.get(name);
    if (declared) scorers.set(name, declared);
    else if (name in builtinScorers) scorers.set(name, { name, timeoutMs: config.scoring.taskTimeoutMs, kind: 'builtin', builtin: name, options: {} });
    else return false;
    return true;
  };
  const rule = resolveRule(parsed.data, exists, (path, message) => issues.push({ path: formatPath(path), message }));
  if (issues.length > 0) throw new ConfigError('rule', issues);
  return { rule, scorers };
}
