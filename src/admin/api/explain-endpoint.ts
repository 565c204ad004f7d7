import type { ScorerStatus } from '../../llm/scorer-governor.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import type { RuleSpec } from '../../scoring/rule-spec.js';
import type { RuleCounters } from '../../scoring/scoring-processor.js';
import type { AdminContext } from './admin-context.js';
import { ApiError, notFound, parseOrThrow } from './api-error.js';
import type { ApiCall, ApiResult, ApiRoute } from './api-router.js';
import { selectRule } from './rule-selection.js';
import { ruleVisible, spanProject } from './rule-lookup.js';
import { readVisibleSpans } from './span-lookup.js';
import { spanIdSchema, traceIdSchema } from './score-endpoint.js';
import { nsToIso } from './time-range.js';

interface StoredScore {
  Rule: string;
  Scorer: string;
  Score: number | null;
  Error: string;
  Source: string;
  scoredNs: string;
}

export type ScorerVerdict = 'scored' | 'scorer_error' | 'pending_or_shed' | 'scorer_paused' | 'scorer_over_budget';

export const explainRoutes: ApiRoute[] = [
  { method: 'GET', path: '/spans/:trace/:span/explain', handler: explainInTrace },
  { method: 'GET', path: '/spans/:span/explain', handler: explainBySpanId },
];

async function explainInTrace(call: ApiCall): Promise<ApiResult> {
  call.auth.need('read');
  const traceId = parseOrThrow(traceIdSchema, call.params.trace, ['trace_id']);
  const spanId = parseOrThrow(spanIdSchema, call.params.span, ['span_id']);
  const [span] = await readVisibleSpans(call.ctx.reader, call.auth, [spanId], traceId);
  if (span === undefined) throw notFound(`span ${spanId} not found in trace ${traceId}`);
  return explain(call, span);
}

/** Span ids are unique in practice; when one is not, the caller must say which trace. */
async function explainBySpanId(call: ApiCall): Promise<ApiResult> {
  call.auth.need('read');
  const spanId = parseOrThrow(spanIdSchema, call.params.span, ['span_id']);
  const spans = await readVisibleSpans(call.ctx.reader, call.auth, [spanId]);
  if (spans.length === 0) throw notFound(`span ${spanId} not found`);
  const traces = [...new Set(spans.map((span) => span.TraceId))];
  if (traces.length > 1) {
    throw new ApiError(400, 'INVALID_ARGUMENT', `trace_id: span id ${spanId} is in ${traces.length} traces (${traces.join(', ')}); give the trace id`, [
      { field: 'trace_id', message: 'required: the span id is ambiguous' },
    ]);
  }
  return explain(call, spans[0]!);
}

/**
 * `GET /spans/TRACE/SPAN/explain`: for each rule, in config order, whether it scores the span
 * and the first reason it does not; for the rules that do, the scores so far and, for each
 * scorer without one, the likeliest reason (paused, over budget, else queued or shed).
 */
async function explain(call: ApiCall, span: SpanRow): Promise<ApiResult> {
  const project = spanProject(span);
  call.auth.needProject('read', project);
  const config = call.ctx.config();
  const stored = await storedScores(call.ctx, span);
  const statuses = call.ctx.scorerStatuses();
  const counters = call.ctx.ruleCounters();
  // Rules of other projects are not the key's to know of (nor do they apply to the span).
  const shown = config.rules.filter((rule) => ruleVisible(rule, call.auth));
  const ruleNames = new Set(shown.map((rule) => rule.name));
  const rules = shown.map((rule) => {
    const selection = selectRule(rule, span, config.scoring.conventions);
    if (!selection.selected) return { rule: rule.name, ...selection };
    const rows = stored.filter((row) => row.Rule === rule.name);
    return {
      rule: rule.name,
      ...selection,
      reason: null,
      scores: rows.map(scoreView),
      scorers: rule.scorers.flatMap((scorer) => scorerVerdicts(rule, scorer, rows, statuses[scorer], counters[rule.name])),
    };
  });
  return {
    body: {
      span: { ...span, project },
      rules,
      // Scores under rules not listed: scored by hand with a list of scorers, removed rules (or, rarely, a rule moved to another project).
      other_scores: stored.filter((row) => !ruleNames.has(row.Rule)).map((row) => ({ rule: row.Rule, ...scoreView(row) })),
    },
  };
}

async function storedScores(ctx: AdminContext, span: SpanRow): Promise<StoredScore[]> {
  return ctx.storage.query<StoredScore>(
    `SELECT Rule, Scorer, Score, Error, Source, toString(toUnixTimestamp64Nano(ScoredAt)) AS scoredNs
     FROM scores FINAL WHERE TraceId = {traceId:String} AND SpanId = {spanId:String} ORDER BY Rule, Scorer`,
    { traceId: span.TraceId, spanId: span.SpanId },
    { readonly: true },
  );
}

function scoreView(row: StoredScore) {
  return { scorer: row.Scorer, score: row.Score === null ? null : Number(row.Score), error: row.Error, source: row.Source, scored_at: nsToIso(row.scoredNs) };
}

/** A module may return several named scores, stored as `<scorer>.<name>`: they all belong to the scorer. */
function scorerVerdicts(rule: RuleSpec, scorer: string, rows: StoredScore[], status: ScorerStatus | undefined, counters: RuleCounters | undefined) {
  const own = rows.filter((row) => row.Scorer === scorer || row.Scorer.startsWith(`${scorer}.`));
  if (own.length > 0) {
    return own.map((row) => {
      const verdict: ScorerVerdict = row.Error === '' ? 'scored' : 'scorer_error';
      return { scorer: row.Scorer, status: verdict, message: verdict === 'scored' ? `scored ${row.Score} (${row.Source})` : `the scorer failed: ${row.Error}` };
    });
  }
  if (status?.state === 'paused') return [{ scorer, status: 'scorer_paused' as ScorerVerdict, message: `the scorer is paused: ${status.reason}` }];
  if (status?.state === 'over budget') return [{ scorer, status: 'scorer_over_budget' as ScorerVerdict, message: `the scorer is over its daily budget: ${status.reason}` }];
  const waiting =
    rule.scope === 'trace'
      ? `not scored yet: the trace is scored once it has been idle ${rule.idleSeconds} s, or the task was shed under load`
      : 'not scored yet: still queued, or shed under load';
  const shed = counters && counters.shed > 0 ? ` (this rule has shed ${counters.shed} scorer task${counters.shed === 1 ? '' : 's'} since start)` : '';
  return [
    {
      scorer,
      status: 'pending_or_shed' as ScorerVerdict,
      message: `${waiting}${shed}; a span stored before the rule was in force is never scored online: use \`spanscore score\` or a backfill`,
    },
  ];
}
