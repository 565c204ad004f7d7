import type { AdminApiClient } from '../admin/api/api-client.js';
import { formatScore, formatTable } from './table-format.js';

interface ExplainView {
  span: { TraceId: string; SpanId: string; SpanName: string; ParentSpanId: string; ServiceName: string; project: string };
  rules: {
    rule: string;
    selected: boolean;
    reason: string | null;
    message: string;
    scorers?: { scorer: string; status: string; message: string }[];
  }[];
  other_scores: { rule: string; scorer: string; score: number | null; error: string; source: string; scored_at: string }[];
}

/**
 * `spanscore explain --span ID [--trace ID]`: why each rule did or did not score a span, and
 * for the ones that did, where each scorer's score stands.
 */
export async function explainCommand(client: AdminApiClient, options: { span: string; trace?: string }, out: NodeJS.WritableStream): Promise<number> {
  const path = options.trace !== undefined ? `/spans/${encodeURIComponent(options.trace)}/${encodeURIComponent(options.span)}/explain` : `/spans/${encodeURIComponent(options.span)}/explain`;
  const view = await client.get<ExplainView>(path);
  const { span } = view;
  out.write(
    `span ${span.SpanId} "${span.SpanName}" (${span.ParentSpanId === '' ? 'root' : `child of ${span.ParentSpanId}`}) in trace ${span.TraceId}, project ${span.project}, service ${span.ServiceName}\n\n`,
  );
  if (view.rules.length === 0) out.write('no rules are configured\n');
  else {
    out.write(
      formatTable(
        view.rules.map((r) => ({ rule: r.rule, selected: r.selected ? 'yes' : 'no', reason: r.reason ?? '', why: r.message })),
        { footer: false },
      ),
    );
  }
  const scorers = view.rules.flatMap((r) => (r.scorers ?? []).map((s) => ({ rule: r.rule, scorer: s.scorer, status: s.status, detail: s.message })));
  if (scorers.length > 0) out.write(`\n${formatTable(scorers, { footer: false })}`);
  if (view.other_scores.length > 0) {
    out.write('\nother scores (rules not configured now, or scored by hand with --scorer):\n');
    out.write(
      formatTable(
        view.other_scores.map((s) => ({ rule: s.rule, scorer: s.scorer, score: formatScore(s.score), error: s.error, source: s.source, scored_at: s.scored_at })),
        { footer: false },
      ),
    );
  }
  return 0;
}
