import { z } from 'zod';
import type { SpanscoreConfig } from '../../config/spanscore-config.js';
import type { RuleSpec, ScorerSpec } from '../../scoring/rule-spec.js';
import { ApiError, invalidArgument, notFound, parseOrThrow } from './api-error.js';
import type { ApiCall, ApiResult, ApiRoute } from './api-router.js';
import type { RequestAuth } from './request-auth.js';
import { findRule, ruleProject, scorerSpec, scorersOf, spanProject } from './rule-lookup.js';
import { readVisibleSpans } from './span-lookup.js';

/** Spans one request may score: each may be an LLM call the client waits for. */
export const MAX_SPANS_PER_REQUEST = 100;

export const spanIdSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{16}$/, 'must be a span id: 16 hex digits')
  .transform((id) => id.toLowerCase());
export const traceIdSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{32}$/, 'must be a trace id: 32 hex digits')
  .transform((id) => id.toLowerCase());

const scoreBody = z
  .strictObject({
    span_ids: z.array(spanIdSchema).min(1, 'give at least one span id').max(MAX_SPANS_PER_REQUEST, `at most ${MAX_SPANS_PER_REQUEST} spans per request`),
    trace_id: traceIdSchema.optional(),
    rule: z.string().min(1).optional(),
    scorers: z.array(z.string().min(1)).min(1, 'give at least one scorer').optional(),
  })
  .superRefine((body, ctx) => {
    if ((body.rule === undefined) === (body.scorers === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['rule'], message: 'give exactly one of `rule` (a configured rule) or `scorers` (a list of scorer names)' });
    }
  });

/** The rule a `scorers: [...]` request scores under: its scores are stored with Rule = `manual`. */
export const MANUAL_RULE = 'manual';

export const scoreRoutes: ApiRoute[] = [{ method: 'POST', path: '/score', handler: scoreByHand }];

/**
 * `POST /score`: scores the given stored spans now with a rule's scorers (or a list of
 * scorers), storing the scores with Source `manual`. Needs `update` on every span's project
 * (the scores land there) and on the rule's (every project for a configured rule without one).
 */
async function scoreByHand(call: ApiCall): Promise<ApiResult> {
  call.auth.need('update');
  const body = parseOrThrow(scoreBody, await call.body());
  const config = call.ctx.config();
  const { rule, scorers } = body.rule !== undefined ? namedRule(config, body.rule, call.auth) : manualRule(config, body.scorers!);
  // The ad-hoc rule belongs to no project: the spans' projects are what its scores touch.
  if (body.rule !== undefined) call.auth.needProject('update', ruleProject(rule));

  const ids = [...new Set(body.span_ids)];
  const spans = await readVisibleSpans(call.ctx.reader, call.auth, ids, body.trace_id);
  const found = new Set(spans.map((span) => span.SpanId));
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length > 0) {
    throw notFound(`span${missing.length === 1 ? '' : 's'} not found${body.trace_id ? ` in trace ${body.trace_id}` : ''}: ${missing.join(', ')}`);
  }
  if (spans.length > ids.length) {
    // Span ids are unique in practice; scoring the same id in several traces was not what was asked.
    const shared = ids.filter((id) => spans.filter((span) => span.SpanId === id).length > 1);
    throw invalidArgument('trace_id', `required: span id${shared.length === 1 ? '' : 's'} ${shared.join(', ')} occur in several traces`);
  }
  for (const project of new Set(spans.map(spanProject))) call.auth.needProject('update', project);
  const scored = await call.ctx.onDemand.scoreSpans({ spans, rule, scorers, source: 'manual' });
  return { body: { rule: rule.name, scored } };
}

function namedRule(config: SpanscoreConfig, name: string, auth: RequestAuth): { rule: RuleSpec; scorers: Map<string, ScorerSpec> } {
  const rule = findRule(config, name, auth);
  return { rule, scorers: scorersOf(config, rule) };
}

function manualRule(config: SpanscoreConfig, names: string[]): { rule: RuleSpec; scorers: Map<string, ScorerSpec> } {
  const scorers = new Map<string, ScorerSpec>();
  const issues = [];
  for (const [index, name] of names.entries()) {
    const spec = scorerSpec(config, name);
    if (spec) scorers.set(name, spec);
    else issues.push({ field: `scorers[${index}]`, message: `no scorer named ${JSON.stringify(name)} is declared, and it is not a built-in` });
  }
  if (issues.length === 1) throw invalidArgument(issues[0]!.field, issues[0]!.message);
  if (issues.length > 1) throw new ApiError(400, 'INVALID_ARGUMENT', issues.map((i) => `${i.field}: ${i.message}`).join('; '), issues);
  const rule: RuleSpec = {
    name: MANUAL_RULE,
    description: 'scored by hand',
    scorers: [...scorers.keys()],
    samplingRate: 1,
    applyTo: { rootSpans: true, spanNames: [] },
    enabled: true,
    scope: 'span',
    idleSeconds: 0,
  };
  return { rule, scorers };
}
