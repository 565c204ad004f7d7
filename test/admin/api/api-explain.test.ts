import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, randomSpanId, startApi, type ApiUnderTest, type KeyName } from './api-harness.js';

const moduleDir = mkdtempSync(join(tmpdir(), 'spanscore-explain-'));
writeFileSync(join(moduleDir, 'boom.mjs'), `export default function boom() {\n  throw new Error('boom');\n}\n`);

const RULES = `
scorers:
  boom: { module: ${join(moduleDir, 'boom.mjs')} }
rules:
  - name: alpha-roots
    project: alpha
    scorers: [ExactMatch]
  - name: beta-only
    project: beta
    scorers: [ExactMatch]
  - name: switched-off
    enabled: false
    scorers: [ExactMatch]
  - name: llm-spans
    apply_to: { span_names: [llm.call] }
    scorers: [ExactMatch]
  - name: gpt4-only
    filter: "is_root AND attributes.model = 'gpt-4'"
    scorers: [ExactMatch]
  - name: needs-absent
    filter: "duration_ms >= 0 AND (is_root AND NOT (attributes.absent != 'x'))"
    scorers: [ExactMatch]
  - name: half
    sampling_rate: 0.5
    scorers: [ExactMatch]
  - name: whole-trace
    scope: trace
    idle_seconds: 3600
    apply_to: { root_spans: true, span_names: [tool.call] }
    scorers: [ExactMatch]
  - name: exploding
    project: alpha
    scorers: [boom]
`;

let api: ApiUnderTest;
// The sampler keeps a trace at rate p when its low 56 bits are >= (1 - p) * 2^56: zeros never are.
const traceId = `${randomSpanId()}00${'0'.repeat(14)}`;
const rootId = randomSpanId();
const childId = randomSpanId();

beforeAll(async () => {
  api = await startApi(RULES);
  await api.send([
    { traceId, spanId: rootId, attributes: { model: 'gpt-3', 'input.value': 'q', 'output.value': 'a', expected: 'a' } },
    { traceId, spanId: childId, parentSpanId: rootId, name: 'tool.call', attributes: { model: 'gpt-3' } },
  ]);
  // Scores for the two rules that select the root (a daemon scores them online too; the later write wins).
  for (const rule of ['alpha-roots', 'exploding']) {
    const scored = await call(api.admin, 'POST', '/score', { key: 'admin', body: { span_ids: [rootId], trace_id: traceId, rule } });
    expect(scored.status, JSON.stringify(scored.body)).toBe(200);
  }
});

afterAll(async () => {
  await api?.stop();
});

type RuleVerdict = { rule: string; selected: boolean; reason: string | null; message: string; filter?: Record<string, unknown>; scores?: any[]; scorers?: any[] };

/** As a key of the span's project by default: it sees the rules of its project and of every project. */
async function explain(path: string, key: KeyName = 'readerAlpha'): Promise<{ span: any; rules: Record<string, RuleVerdict>; other_scores: any[] }> {
  const { status, body } = await call(api.admin, 'GET', path, { key });
  expect(status, JSON.stringify(body)).toBe(200);
  return { ...body, rules: Object.fromEntries(body.rules.map((r: RuleVerdict) => [r.rule, r])) };
}

describe('GET /spans/TRACE/SPAN/explain', () => {
  it('gives each rule, in config order, the first reason it misses the root span', async () => {
    const { span, rules } = await explain(`/spans/${traceId}/${rootId}/explain`);
    expect(span).toMatchObject({ TraceId: traceId, SpanId: rootId, SpanName: 'chat', project: 'alpha' });
    // Not beta's rule: a key for alpha is not told of it (api-project-isolation.test.ts).
    expect(Object.keys(rules)).toEqual(['alpha-roots', 'switched-off', 'llm-spans', 'gpt4-only', 'needs-absent', 'half', 'whole-trace', 'exploding']);
    const { rules: all } = await explain(`/spans/${traceId}/${rootId}/explain`, 'readerAll');
    expect(Object.keys(all)).toEqual(['alpha-roots', 'beta-only', 'switched-off', 'llm-spans', 'gpt4-only', 'needs-absent', 'half', 'whole-trace', 'exploding']);
    expect(all['beta-only']).toMatchObject({ selected: false, reason: 'project', message: 'the rule is for project "beta"; the span is in project "alpha"' });
    expect(rules['switched-off']).toMatchObject({ selected: false, reason: 'disabled' });
    expect(rules['llm-spans']).toMatchObject({ selected: false, reason: 'apply_to', message: 'its name "chat" is not in span_names (llm.call)' });
    expect(rules['gpt4-only']).toMatchObject({
      selected: false,
      reason: 'filter',
      filter: { value: false, expression: "attributes.model = 'gpt-4'", expression_value: false },
    });
    expect(rules['gpt4-only']!.message).toBe("the filter is FALSE for this span; decided by `attributes.model = 'gpt-4'`, which is FALSE");
    // NULL, not FALSE: through the nested AND and the NOT down to the comparison with a missing attribute.
    expect(rules['needs-absent']).toMatchObject({
      selected: false,
      reason: 'filter',
      filter: { value: null, expression: "attributes.absent != 'x'", expression_value: null },
    });
    expect(rules['half']).toMatchObject({ selected: false, reason: 'sampled_out', message: 'the rule samples 50% of traces by trace id, and this trace is not in the sample' });
  });

  it('lists the scores of the rules that select it, a scorer error, and pending scorers', async () => {
    const { rules } = await explain(`/spans/${traceId}/${rootId}/explain`);
    const roots = rules['alpha-roots']!;
    expect(roots).toMatchObject({ selected: true, reason: null });
    expect(roots.scores).toHaveLength(1);
    expect(roots.scores![0]).toMatchObject({ scorer: 'ExactMatch', score: 1, error: '' });
    expect(['online', 'manual']).toContain(roots.scores![0].source);
    expect(Date.parse(roots.scores![0].scored_at)).toBeGreaterThan(Date.now() - 600_000);
    expect(roots.scorers).toMatchObject([{ scorer: 'ExactMatch', status: 'scored' }]);

    const exploding = rules['exploding']!;
    expect(exploding.scorers).toHaveLength(1);
    expect(exploding.scorers![0]).toMatchObject({ scorer: 'boom', status: 'scorer_error' });
    expect(exploding.scorers![0].message).toMatch(/^the scorer failed: .*boom/);
    expect(exploding.scores![0]).toMatchObject({ scorer: 'boom', score: null });

    // A trace rule selects the root and scores it once the trace has been idle: nothing yet.
    const trace = rules['whole-trace']!;
    expect(trace).toMatchObject({ selected: true, reason: null, scores: [] });
    expect(trace.scorers).toMatchObject([{ scorer: 'ExactMatch', status: 'pending_or_shed' }]);
    expect(trace.scorers![0].message).toMatch(/idle 3600 s/);
  });

  it('explains a child span: apply_to for a roots-only rule, scope for a trace rule', async () => {
    const { span, rules } = await explain(`/spans/${childId}/explain`);
    expect(span).toMatchObject({ TraceId: traceId, SpanId: childId });
    expect(rules['alpha-roots']).toMatchObject({ selected: false, reason: 'apply_to', message: 'not a root span (the rule applies to root spans only)' });
    expect(rules['whole-trace']).toMatchObject({ selected: false, reason: 'scope' });
    expect(rules['whole-trace']!.message).toMatch(/only the trace's root span is scored/);
    // The first reason wins: the project before apply_to.
    const { rules: all } = await explain(`/spans/${childId}/explain`, 'readerAll');
    expect(all['beta-only']).toMatchObject({ reason: 'project' });
  });
});
