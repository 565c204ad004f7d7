import { z } from 'zod';
import { invalidArgument, parseOrThrow } from './api-error.js';
import { queryObject } from './api-body.js';
import type { ApiCall, ApiResult, ApiRoute } from './api-router.js';
import { lookBackMs } from './time-range.js';

/** Enough points for a sparkline or a chart; more would only be noise to send. */
export const MAX_BUCKETS = 1000;

const scoresQuery = z.strictObject({
  rule: z.string().min(1).optional(),
  scorer: z.string().min(1).optional(),
  project: z.string().min(1).optional(),
  since: lookBackMs({ min: 1000 }).default(24 * 3_600_000),
  bucket: lookBackMs({ min: 1000 }).default(3_600_000),
});

interface BucketRow {
  Rule: string;
  Scorer: string;
  bucketMs: string;
  n: string;
  errors: string;
  total: number | null;
  scored: string;
}

interface Bucket {
  count: number;
  errors: number;
  avg: number | null;
}

/**
 * Says which time the buckets follow: the scored span's start (`Timestamp`), like every trend
 * query on `scores`, not `ScoredAt`: a backfill then fills the hours its spans came from
 * instead of piling up in the hour it ran.
 */
const TIME_COLUMN = 'Timestamp';

export const scoresRoutes: ApiRoute[] = [{ method: 'GET', path: '/scores', handler: scoreTrends }];

/**
 * `GET /scores`: per rule and scorer, per time bucket: average score (failed scores excluded),
 * count, errors, from `scores FINAL` (a re-score replaces a score, it does not count twice).
 * Only scores of the key's projects; `?project=` narrows to one, refused if the key lacks it.
 */
async function scoreTrends(call: ApiCall): Promise<ApiResult> {
  call.auth.need('read');
  const query = parseOrThrow(scoresQuery, queryObject(call.query));
  if (query.project !== undefined) call.auth.needProject('read', query.project);
  const bucketMs = Math.round(query.bucket);
  if (query.since / bucketMs > MAX_BUCKETS) throw invalidArgument('bucket', `${Math.ceil(query.since / bucketMs)} buckets over \`since\`; at most ${MAX_BUCKETS}: use a larger bucket`);

  const nowMs = Date.now();
  const fromMs = nowMs - Math.round(query.since);
  const firstStart = Math.floor(fromMs / bucketMs) * bucketMs;
  const endMs = (Math.floor(nowMs / bucketMs) + 1) * bucketMs;
  const starts: number[] = [];
  for (let start = firstStart; start < endMs; start += bucketMs) starts.push(start);

  const conditions = [`${TIME_COLUMN} >= fromUnixTimestamp64Milli({fromMs:Int64})`, `${TIME_COLUMN} < fromUnixTimestamp64Milli({endMs:Int64})`];
  const params: Record<string, unknown> = { fromMs, endMs, bucketMs };
  if (query.rule !== undefined) (conditions.push('Rule = {rule:String}'), (params.rule = query.rule));
  if (query.scorer !== undefined) (conditions.push('Scorer = {scorer:String}'), (params.scorer = query.scorer));
  const projects = query.project !== undefined ? [query.project] : call.auth.visibleProjects;
  if (projects !== undefined) (conditions.push('Project IN {projects:Array(String)}'), (params.projects = projects));

  const rows = await call.ctx.storage.query<BucketRow>(
    `SELECT Rule, Scorer, intDiv(toUnixTimestamp64Milli(${TIME_COLUMN}), {bucketMs:UInt64}) * {bucketMs:UInt64} AS bucketMs,
            count() AS n, countIf(Error != '') AS errors, sum(Score) AS total, count(Score) AS scored
     FROM scores FINAL WHERE ${conditions.join(' AND ')}
     GROUP BY Rule, Scorer, bucketMs ORDER BY Rule, Scorer, bucketMs`,
    params,
    { readonly: true },
  );
  return {
    body: {
      from: new Date(fromMs).toISOString(),
      to: new Date(nowMs).toISOString(),
      bucket_seconds: bucketMs / 1000,
      time_column: TIME_COLUMN,
      buckets: starts.map((start) => new Date(start).toISOString()),
      series: toSeries(rows, starts),
    },
  };
}

/** One series per (rule, scorer), with a bucket for every start (empty ones included, for charts). */
function toSeries(rows: BucketRow[], starts: number[]) {
  const index = new Map(starts.map((start, i) => [start, i]));
  const series = new Map<string, { rule: string; scorer: string; buckets: Bucket[]; total: number; scored: number }>();
  for (const row of rows) {
    const key = JSON.stringify([row.Rule, row.Scorer]);
    let entry = series.get(key);
    if (!entry) {
      entry = { rule: row.Rule, scorer: row.Scorer, buckets: starts.map(() => ({ count: 0, errors: 0, avg: null })), total: 0, scored: 0 };
      series.set(key, entry);
    }
    const i = index.get(Number(row.bucketMs));
    if (i === undefined) continue;
    const scored = Number(row.scored);
    entry.buckets[i] = { count: Number(row.n), errors: Number(row.errors), avg: scored > 0 ? Number(row.total) / scored : null };
    entry.total += Number(row.total ?? 0);
    entry.scored += scored;
  }
  return [...series.values()].map(({ rule, scorer, buckets, total, scored }) => ({
    rule,
    scorer,
    count: buckets.reduce((sum, b) => sum + b.count, 0),
    errors: buckets.reduce((sum, b) => sum + b.errors, 0),
    avg: scored > 0 ? total / scored : null,
    buckets,
  }));
}
