import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterChildren, type FilterExpr } from '../../src/filter/filter-ast.js';
import { formatFilter } from '../../src/filter/filter-format.js';
import { parseFilter } from '../../src/filter/filter-parser.js';
import { FilterTypeError, inferTypes } from '../../src/filter/filter-static-types.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS, type FieldConventions } from '../../src/scoring/field-conventions.js';
import { FilterHarness, freshTraceId, jsResults, type ClickHouseCase, type Tri } from './clickhouse-filter-harness.js';
import { differentialCaseArb } from './filter-generators.js';

/**
 * The differential test of the two filter back ends (docs/filter-language.md): random span sets
 * and random, mostly well-typed filters (printed with formatFilter and parsed again, so the real
 * parser is in the loop), evaluated by the JS predicate and by the compiled SQL in a real
 * ClickHouse. The three-valued result (TRUE / FALSE / NULL) must be identical for every filter
 * and span, not just the selected sets.
 *
 * Reproducible: FILTER_DIFF_SEED (default below) and FILTER_DIFF_SETS pick the run. A failure
 * prints the seed, the case, the filter, the span, both results, and the smallest
 * sub-expression that still disagrees; keep it in filter-regressions.test.ts.
 */

const SEED = Number(process.env['FILTER_DIFF_SEED'] ?? 20_251_126);
const SPAN_SETS = Number(process.env['FILTER_DIFF_SETS'] ?? 480);
const FILTERS_PER_SET = 5;

/** Every fourth span set runs under non-default conventions: other keys, a metadata prefix without a metadata JSON attribute, an empty list. */
const ALT_CONVENTIONS: FieldConventions = {
  input: ['in', 'input.value'],
  output: [],
  expected: ['expected', 'output'],
  metadataPrefix: 'meta.',
  metadataAttribute: '',
};

interface PreparedCase extends ClickHouseCase {
  index: number;
  spans: SpanRow[];
  filters: FilterExpr[];
  conventions: FieldConventions;
}

interface Disagreement {
  caseIndex: number;
  filter: FilterExpr;
  span: SpanRow;
  conventions: FieldConventions;
  clickhouse: Tri;
  js: Tri;
}

let harness: FilterHarness;

beforeAll(async () => {
  harness = await FilterHarness.open('filter_differential');
});

afterAll(async () => {
  await harness.close();
});

function describeSpan(span: SpanRow): string {
  const { SpanName, SpanKind, StatusCode, StatusMessage, ParentSpanId, Duration, Timestamp, ServiceName, ScopeName, SpanAttributes, ResourceAttributes } = span;
  return JSON.stringify({ SpanName, SpanKind, StatusCode, StatusMessage, ParentSpanId, Duration, Timestamp, ServiceName, ScopeName, SpanAttributes, ResourceAttributes });
}

/** Sub-expressions of `expr` that can stand as a filter on their own (statically boolean-like), smallest text first. */
function candidateSubFilters(expr: FilterExpr): FilterExpr[] {
  const out: FilterExpr[] = [];
  const visit = (e: FilterExpr) => {
    try {
      inferTypes(e);
      out.push(e);
    } catch (error) {
      if (!(error instanceof FilterTypeError)) throw error;
    }
    filterChildren(e).forEach(visit);
  };
  visit(expr);
  return out.sort((a, b) => formatFilter(a).length - formatFilter(b).length);
}

/** The smallest sub-filter that still disagrees on the span (the whole filter when none smaller does). */
async function minimize(d: Disagreement): Promise<{ filter: string; clickhouse: Tri; js: Tri }> {
  const candidates = candidateSubFilters(d.filter);
  const traceId = freshTraceId();
  const span = { ...d.span, TraceId: traceId };
  await harness.insert([span]);
  const [results] = await harness.evaluate([{ traceId, spanIds: [span.SpanId], filters: candidates }], d.conventions);
  for (let i = 0; i < candidates.length; i++) {
    const js = jsResults(candidates[i]!, [span], d.conventions)[0]!;
    const ch = results![i]![0]!;
    if (js !== ch) return { filter: formatFilter(candidates[i]!), clickhouse: ch, js };
  }
  return { filter: formatFilter(d.filter), clickhouse: d.clickhouse, js: d.js };
}

describe('filter differential: JS predicate vs ClickHouse SQL', () => {
  it(`agrees on every span of ${SPAN_SETS * FILTERS_PER_SET} random filter × span-set cases (seed ${SEED})`, async () => {
    const started = performance.now();
    const samples = fc.sample(differentialCaseArb(FILTERS_PER_SET), { seed: SEED, numRuns: SPAN_SETS });

    let refused = 0;
    let unparsable = 0;
    const cases: PreparedCase[] = samples.map((sample, index) => {
      const traceId = freshTraceId();
      const spans = sample.spans.map((span, j) => ({ ...span, TraceId: traceId, SpanId: (index * 8 + j).toString(16).padStart(16, '0') }));
      const conventions = index % 4 === 3 ? ALT_CONVENTIONS : DEFAULT_FIELD_CONVENTIONS;
      const filters: FilterExpr[] = [];
      for (const generated of sample.filters) {
        let expr: FilterExpr;
        try {
          expr = parseFilter(formatFilter(generated));
        } catch {
          unparsable++;
          continue;
        }
        try {
          inferTypes(expr);
        } catch (error) {
          if (!(error instanceof FilterTypeError)) throw error;
          refused++;
          continue;
        }
        filters.push(expr);
      }
      return { index, traceId, spans, spanIds: spans.map((span) => span.SpanId), filters, conventions };
    });
    const allSpans = cases.flatMap((c) => c.spans);
    for (let i = 0; i < allSpans.length; i += 5000) await harness.insert(allSpans.slice(i, i + 5000));

    const disagreements: Disagreement[] = [];
    let compared = 0;
    let filterCases = 0;
    const counts = { true: 0, false: 0, null: 0 };
    for (const conventions of [DEFAULT_FIELD_CONVENTIONS, ALT_CONVENTIONS]) {
      const group = cases.filter((c) => c.conventions === conventions);
      const results = await harness.evaluate(group, conventions);
      group.forEach((c, gi) => {
        c.filters.forEach((filter, fi) => {
          filterCases++;
          const clickhouse = results[gi]![fi]!;
          const js = jsResults(filter, c.spans, conventions);
          c.spans.forEach((span, si) => {
            compared++;
            counts[String(js[si]) as 'true' | 'false' | 'null']++;
            if (clickhouse[si] !== js[si]) disagreements.push({ caseIndex: c.index, filter, span, conventions, clickhouse: clickhouse[si]!, js: js[si]! });
          });
          // The selected sets (redundant with the above, stated as the property users rely on).
          const selected = (rs: Tri[]) => c.spanIds.filter((_, si) => rs[si] === true);
          if (disagreements.length === 0) expect(selected(clickhouse)).toEqual(selected(js));
        });
      });
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `filter differential (seed ${SEED}): ${filterCases} filter × span-set cases, ${compared} span evaluations ` +
        `(TRUE ${counts.true}, FALSE ${counts.false}, NULL ${counts.null}), ${refused} generated filters refused by the type check, ` +
        `${unparsable} unparsable, ${harness.queries} queries, ${seconds} s`,
    );

    if (disagreements.length > 0) {
      const reports: string[] = [];
      for (const d of disagreements.slice(0, 5)) {
        const minimal = await minimize(d);
        reports.push(
          `case ${d.caseIndex} (seed ${SEED}${d.conventions === ALT_CONVENTIONS ? ', ALT_CONVENTIONS' : ''}):\n` +
            `  filter:     ${formatFilter(d.filter)}\n` +
            `  span:       ${describeSpan(d.span)}\n` +
            `  ClickHouse: ${d.clickhouse}   JS: ${d.js}\n` +
            `  smallest disagreeing sub-filter: ${minimal.filter}   (ClickHouse: ${minimal.clickhouse}, JS: ${minimal.js})`,
        );
      }
      expect.fail(`${disagreements.length} disagreements between the back ends; first ones:\n${reports.join('\n')}`);
    }

    expect(filterCases).toBeGreaterThanOrEqual(2000);
    // The generator must exercise all three outcomes, and the type check must refuse only a few.
    for (const outcome of ['true', 'false', 'null'] as const) expect(counts[outcome] / compared).toBeGreaterThan(0.1);
    expect(refused + unparsable).toBeLessThan(SPAN_SETS * FILTERS_PER_SET * 0.1);
  });
});
