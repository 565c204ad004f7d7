import { z } from 'zod';
import { ConfigError } from '../../config/config-error.js';
import { parseRuleBody } from '../../config/rule-config.js';
import type { SpanscoreConfig } from '../../config/spanscore-config.js';
import type { ScorerStatus } from '../../llm/scorer-governor.js';
import { runsInWorkers, type RuleSpec, type ScorerSpec } from '../../scoring/rule-spec.js';
import type { RuleCounters } from '../../scoring/scoring-processor.js';
import { ApiError, invalidArgument, parseOrThrow, refusingBadArguments } from './api-error.js';
import { queryObject } from './api-body.js';
import type { ApiCall, ApiResult, ApiRoute } from './api-router.js';
import type { RequestAuth } from './request-auth.js';
import { checkFilterSize, filterBodyLimit } from './filter-size.js';
import { findRule, ruleProject, scorerSpec, scorersOf } from './rule-lookup.js';

/** Most spans one test run scores: each may be an LLM call, paid for and waited on. */
export const MAX_TEST_SAMPLE = 50;

const listQuery = z.strictObject({ project: z.string().min(1).optional() });

const testBody = z.strictObject({
  rule: z.unknown().refine((v) => v !== undefined, 'required: a rule name, or a whole rule like one under `rules:`'),
  hours: z.number().positive().max(24 * 366).default(24),
  sample: z.number().int().min(1).max(MAX_TEST_SAMPLE).default(5),
});

export const rulesRoutes: ApiRoute[] = [
  { method: 'GET', path: '/rules', handler: listRules },
  { method: 'POST', path: '/rules/test', handler: testRule, maxBodyBytes: filterBodyLimit },
];

/**
 * `GET /rules`: the rules in force with their scorers' state and live counters. A key sees the
 * rules of its projects (a rule without a project belongs to every project, so only to keys for
 * all of them); `?project=P` narrows to one project and is refused for a project it lacks.
 */
async function listRules(call: ApiCall): Promise<ApiResult> {
  call.auth.need('read');
  const { project } = parseOrThrow(listQuery, queryObject(call.query));
  if (project !== undefined) call.auth.needProject('read', project);
  const config = call.ctx.config();
  const counters = call.ctx.ruleCounters();
  const statuses = call.ctx.scorerStatuses();
  const rules = config.rules
    .filter((rule) => call.auth.covers(ruleProject(rule)))
    .filter((rule) => project === undefined || rule.project === undefined || rule.project === project)
    .map((rule) => describeRule(rule, config, counters[rule.name], statuses));
  return { body: { rules } };
}

function describeRule(rule: RuleSpec, config: SpanscoreConfig, counters: RuleCounters | undefined, statuses: Record<string, ScorerStatus>) {
  return {
    name: rule.name,
    description: rule.description,
    enabled: rule.enabled,
    project: rule.project ?? null,
    scope: rule.scope,
    ...(rule.scope === 'trace' && { idle_seconds: rule.idleSeconds }),
    sampling_rate: rule.samplingRate,
    apply_to: { root_spans: rule.applyTo.rootSpans, span_names: rule.applyTo.spanNames },
    filter: rule.filter?.text ?? null,
    scorers: rule.scorers.map((name) => describeScorer(name, scorerSpec(config, name), statuses[name])),
    counters: counters ?? { seen: 0, selected: 0, filtered: 0, sampled: 0, enqueued: 0, shed: 0, scored: 0, errored: 0, skipped: 0 },
  };
}

function describeScorer(name: string, spec: ScorerSpec | undefined, status: ScorerStatus | undefined) {
  const kind = spec?.kind ?? 'builtin';
  const budget = spec !== undefined && !runsInWorkers(spec) ? (spec.runtime?.budgetUsdPerDay ?? null) : null;
  if (status) {
    return { name, kind, state: status.state, reason: status.reason, spent_today_usd: status.spentTodayUsd, budget_usd_per_day: status.budgetUsdPerDay ?? null };
  }
  // Heuristics and modules cannot be paused; an LLM scorer without a status is not loaded
  // because no enabled rule uses it.
  const loaded = spec === undefined || runsInWorkers(spec);
  return { name, kind, state: loaded ? 'active' : 'not loaded', reason: loaded ? '' : 'no enabled rule uses it', spent_today_usd: 0, budget_usd_per_day: budget };
}

/**
 * `POST /rules/test`: scores a sample of the last `hours` of stored spans with a configured
 * rule, or with a rule sent whole (checked like one in the file), storing nothing.
 */
async function testRule(call: ApiCall): Promise<ApiResult> {
  call.auth.need('read');
  const body = parseOrThrow(testBody, await call.body());
  const config = call.ctx.config();
  const { rule, scorers } = resolveTestRule(body.rule, config, call.auth);
  call.auth.needProject('read', ruleProject(rule));
  const result = await refusingBadArguments('rule', () => call.ctx.onDemand.testRule({ rule, scorers, hours: body.hours, sample: body.sample }));
  return { body: result };
}

function resolveTestRule(value: unknown, config: SpanscoreConfig, auth: RequestAuth): { rule: RuleSpec; scorers: Map<string, ScorerSpec> } {
  if (typeof value === 'string') {
    if (value === '') throw invalidArgument('rule', 'empty rule name');
    const rule = findRule(config, value, auth);
    return { rule, scorers: scorersOf(config, rule) };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArgument('rule', 'must be a rule name or a rule object');
  }
  const filter = (value as { filter?: unknown }).filter;
  if (typeof filter === 'string') checkFilterSize('rule.filter', filter, config);
  try {
    return parseRuleBody(value, config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const issues = error.issues.map((issue) => ({ field: issue.path === '' ? 'rule' : `rule.${issue.path}`, message: issue.message }));
    throw new ApiError(400, 'INVALID_ARGUMENT', issues.map((i) => `${i.field}: ${i.message}`).join('; '), issues);
  }
}
