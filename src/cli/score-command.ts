import type { AdminApiClient } from '../admin/api/api-client.js';
import type { ScoredResult } from '../scoring/on-demand/on-demand-scoring.js';
import { formatScore, formatTable, truncate } from './table-format.js';

export interface ScoreOptions {
  spans: string[];
  trace?: string;
  rule?: string;
  scorers?: string[];
}

/**
 * `spanscore score --span ID... --rule NAME`: scores stored spans now and stores the scores
 * (Source `manual`). Exit 1 when a scorer failed, so scripts notice.
 */
export async function scoreCommand(client: AdminApiClient, options: ScoreOptions, out: NodeJS.WritableStream): Promise<number> {
  const { rule, scored } = await client.post<{ rule: string; scored: ScoredResult[] }>('/score', {
    span_ids: options.spans,
    ...(options.trace !== undefined && { trace_id: options.trace }),
    ...(options.rule !== undefined && { rule: options.rule }),
    ...(options.scorers !== undefined && options.scorers.length > 0 && { scorers: options.scorers }),
  });
  out.write(
    formatTable(
      scored.map((s) => ({
        trace: s.traceId,
        span: s.spanId,
        name: truncate(s.spanName, 24),
        scorer: s.scorer,
        score: formatScore(s.score),
        detail: truncate(s.error !== '' ? `error: ${s.error}` : (s.rationale ?? ''), 60),
      })),
      { footer: false },
    ),
  );
  const failed = scored.filter((s) => s.error !== '').length;
  out.write(`\n${scored.length - failed} score${scored.length - failed === 1 ? '' : 's'} stored under rule ${rule} (source manual)${failed > 0 ? `, ${failed} failed` : ''}\n`);
  return failed > 0 ? 1 : 0;
}
