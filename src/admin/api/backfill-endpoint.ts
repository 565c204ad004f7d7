import { z } from 'zod';
import { parseRuleFilter } from '../../config/rule-filter.js';
import type { BackfillRequest } from '../../scoring/on-demand/on-demand-scoring.js';
import { invalidArgument, notFound, parseOrThrow, refusingBadArguments } from './api-error.js';
import type { ApiCall, ApiResult, ApiRoute } from './api-router.js';
import { checkFilterSize, filterBodyLimit } from './filter-size.js';
import { findRule, ruleProject, scorersOf } from './rule-lookup.js';
import { lookBackMs, nsBeforeNow, timePointNs } from './time-range.js';

export const DEFAULT_BACKFILL_LIMIT = 50;
/** Job ids remembered with their project; older ones fall back to their rule's project. */
const REMEMBERED_JOBS = 1000;

const backfillBody = z
  .strictObject({
    rule: z.string().min(1),
    /** Narrows the rule's own filter (both must hold), in the filter language. */
    filter: z.string().min(1).optional(),
    from: timePointNs.optional(),
    to: timePointNs.optional(),
    since: lookBackMs({ min: 1000 }).optional(),
    limit: z.number().int().positive().default(DEFAULT_BACKFILL_LIMIT),
    force: z.boolean().default(false),
    dry_run: z.boolean().default(false),
  })
  .superRefine((body, ctx) => {
    if (body.since !== undefined && body.from !== undefined) ctx.addIssue({ code: 'custom', path: ['since'], message: 'give `since` or `from`, not both' });
  });

/**
 * `POST /backfill` scores stored spans a rule selects (most recent first, at most `limit`),
 * skipping spans it already scored unless `force`; `dry_run` only estimates. The job runs in
 * the background; `GET /jobs/ID` reports its progress.
 */
export function backfillRoutes(): ApiRoute[] {
  // A job outlives its rule's config entry (a reload may remove it): keep what it covered.
  const jobProjects = new Map<string, string>();

  async function backfill(call: ApiCall): Promise<ApiResult> {
    call.auth.need('update');
    const body = parseOrThrow(backfillBody, await call.body());
    const config = call.ctx.config();
    const cap = config.admin.backfillMaxSpans;
    if (body.limit > cap) throw invalidArgument('limit', `${body.limit} is over the cap of ${cap} spans per backfill (admin.backfill_max_spans)`);
    const rule = findRule(config, body.rule, call.auth);
    const project = ruleProject(rule);
    call.auth.needProject('update', project);
    let extraFilter: BackfillRequest['extraFilter'];
    if (body.filter !== undefined) {
      checkFilterSize('filter', body.filter, config);
      let problem = '';
      const expr = parseRuleFilter(body.filter, (message) => (problem = message.replace(/^filter: /, '')));
      if (expr === undefined) throw invalidArgument('filter', problem);
      extraFilter = { text: body.filter, expr };
    }
    const request: BackfillRequest = {
      rule,
      scorers: scorersOf(config, rule),
      ...(extraFilter && { extraFilter }),
      ...((body.from ?? body.since) !== undefined && { fromNs: body.from ?? nsBeforeNow(body.since!) }),
      ...(body.to !== undefined && { toNs: body.to }),
      limit: body.limit,
      force: body.force,
    };
    const estimate = await refusingBadArguments('body', () => call.ctx.onDemand.estimateBackfill(request));
    if (body.dry_run) return { body: { estimate } };
    const job = await refusingBadArguments('body', () => call.ctx.onDemand.startBackfill(request));
    jobProjects.set(job.id, project);
    if (jobProjects.size > REMEMBERED_JOBS) jobProjects.delete(jobProjects.keys().next().value!);
    return { status: 202, body: { estimate, job } };
  }

  async function jobStatus(call: ApiCall): Promise<ApiResult> {
    call.auth.need('read');
    const id = call.params.id!;
    const job = call.ctx.onDemand.job(id);
    const rule = job && call.ctx.config().rules.find((r) => r.name === job.rule);
    const project = jobProjects.get(id) ?? (rule ? ruleProject(rule) : '*');
    // Another project's job is answered as no job at all: a 403 would confirm the id is one.
    if (job === undefined || (project !== '*' && !call.auth.covers(project))) {
      throw notFound(`no backfill job ${JSON.stringify(id)} (jobs are kept in memory until the daemon restarts)`);
    }
    call.auth.needProject('read', project);
    return { body: job };
  }

  return [
    { method: 'POST', path: '/backfill', handler: backfill, maxBodyBytes: filterBodyLimit },
    { method: 'GET', path: '/jobs/:id', handler: jobStatus },
  ];
}
