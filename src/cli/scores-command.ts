import type { AdminApiClient } from '../admin/api/api-client.js';
import { formatScore, formatTable, sparkline } from './table-format.js';

interface ScoresView {
  from: string;
  to: string;
  bucket_seconds: number;
  time_column: string;
  buckets: string[];
  series: { rule: string; scorer: string; avg: number | null; count: number; errors: number; buckets: { avg: number | null }[] }[];
}

export interface ScoresOptions {
  since: string;
  bucket: string;
  rule?: string;
  scorer?: string;
  project?: string;
}

/**
 * `spanscore scores`: per rule and scorer over `--since`: average, count, errors, and the
 * trend as a sparkline with one character per `--bucket` (on a fixed 0..1 scale).
 */
export async function scoresCommand(client: AdminApiClient, options: ScoresOptions, out: NodeJS.WritableStream): Promise<number> {
  const view = await client.get<ScoresView>('/scores', { since: options.since, bucket: options.bucket, rule: options.rule, scorer: options.scorer, project: options.project });
  const span = `${view.from} .. ${view.to}, ${view.buckets.length} buckets of ${humanSeconds(view.bucket_seconds)} by the scored span's start time (${view.time_column})`;
  if (view.series.length === 0) {
    out.write(`no scores ${span}\n`);
    return 0;
  }
  out.write(
    formatTable(
      view.series.map((s) => ({
        rule: s.rule,
        scorer: s.scorer,
        avg: formatScore(s.avg),
        count: s.count,
        errors: s.errors,
        trend: sparkline(s.buckets.map((b) => b.avg)),
      })),
      { footer: false },
    ),
  );
  out.write(`\n${span}\n`);
  return 0;
}

function humanSeconds(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
