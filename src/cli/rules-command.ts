import type { AdminApiClient } from '../admin/api/api-client.js';
import type { TestRuleResult } from '../scoring/on-demand/on-demand-scoring.js';
import { formatScore, formatTable, formatUsd, truncate } from './table-format.js';

interface RuleView {
  name: string;
  enabled: boolean;
  project: string | null;
  scope: string;
  sampling_rate: number;
  apply_to: { root_spans: boolean; span_names: string[] };
  filter: string | null;
  scorers: { name: string; state: string; reason: string }[];
  counters: { seen: number; selected: number; sampled: number; scored: number; errored: number; shed: number; skipped: number };
}

/** `spanscore rules list`: the rules in force, their scorers' state and what they did since start. */
export async function rulesListCommand(client: AdminApiClient, out: NodeJS.WritableStream): Promise<number> {
  const { rules } = await client.get<{ rules: RuleView[] }>('/rules');
  if (rules.length === 0) {
    out.write('no rules (or none of your key\'s projects)\n');
    return 0;
  }
  out.write(
    formatTable(
      rules.map((rule) => ({
        rule: rule.name,
        enabled: rule.enabled ? 'yes' : 'no',
        project: rule.project ?? '*',
        scope: rule.scope,
        sampling: `${Number((rule.sampling_rate * 100).toPrecision(6))}%`,
        apply_to: applyToText(rule.apply_to),
        filter: truncate(rule.filter ?? '', 40),
        // A scorer that is not active says why right in the list: that is what one looks for here.
        scorers: rule.scorers.map((s) => (s.state === 'active' ? s.name : `${s.name} (${s.state}${s.reason ? `: ${truncate(s.reason, 40)}` : ''})`)).join(', '),
        'seen/selected/sampled': `${rule.counters.seen}/${rule.counters.selected}/${rule.counters.sampled}`,
        scored: rule.counters.scored,
        errored: rule.counters.errored,
        shed: rule.counters.shed,
      })),
    ),
  );
  return 0;
}

function applyToText(applyTo: RuleView['apply_to']): string {
  const parts = [...(applyTo.root_spans ? ['roots'] : []), ...applyTo.span_names];
  return parts.join(', ');
}

/**
 * `spanscore rules test NAME`: scores a sample of recent stored spans with the rule, storing
 * nothing, and prints each score with what it cost, then what the rule would do per day.
 */
export async function rulesTestCommand(client: AdminApiClient, name: string, options: { hours: number; sample: number }, out: NodeJS.WritableStream): Promise<number> {
  const result = await client.post<TestRuleResult>('/rules/test', { rule: name, hours: options.hours, sample: options.sample });
  if (result.scored.length === 0) {
    out.write(`no stored span of the last ${result.hours} h matches rule ${result.rule}: nothing to score\n`);
  } else {
    out.write(
      formatTable(
        result.scored.map((s) => ({
          span: s.spanId,
          name: truncate(s.spanName, 24),
          scorer: s.scorer,
          score: formatScore(s.score),
          rationale: truncate(s.error !== '' ? `error: ${s.error}` : (s.rationale ?? ''), 60),
          tokens: s.tokens ? `${s.tokens.input}/${s.tokens.output}` : '-',
          cost: s.costUsd === undefined ? '-' : formatUsd(s.costUsd),
        })),
        { footer: false },
      ),
    );
  }
  out.write(
    [
      '',
      `matched:  ${result.matched} span${result.matched === 1 ? '' : 's'} in the last ${result.hours} h`,
      `sampled:  ${result.sampled} (kept by the rule's sampling)`,
      `per day:  ~${Math.round(result.spansPerDay)} spans scored`,
      `est. cost per day: ${formatUsd(result.estimatedCostPerDayUsd)}`,
      '(nothing was stored)',
      '',
    ].join('\n'),
  );
  return 0;
}
