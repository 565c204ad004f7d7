import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFilter } from '../../../src/filter/js-filter-compiler.js';
import { PROJECT_ATTRIBUTE } from '../../../src/pipeline/project.js';
import type { SpanRow } from '../../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../../../src/scoring/field-conventions.js';
import { ruleSelectionSql, samplingSql, timeRangeSql, allOf } from '../../../src/scoring/on-demand/rule-sql.js';
import type { RuleSpec } from '../../../src/scoring/rule-spec.js';
import { SpanSelector } from '../../../src/scoring/span-selector.js';
import { TraceIdSampler } from '../../../src/scoring/trace-id-sampler.js';
import { hexId, spanRow } from '../../storage/storage-fixtures.js';
import { filter, minutesAgo, rule, startHarness, type Harness } from './on-demand-fixtures.js';

/**
 * The SQL form of a rule's selection and sampling against the live pipeline's JS: the same
 * spans, the same traces, for every kind of criterion.
 */

let h: Harness;

beforeAll(async () => {
  h = await startHarness('rule-sql-test');
});

afterAll(async () => {
  await h.onDemand.close();
  await h.storage.close();
});

describe('sampling in SQL', () => {
  const RATES = [0, 1e-9, 0.001, 0.1, 0.25, 0.5, 0.7, 0.999, 1 - 1e-12, 1];

  /** Ids on both sides of each rate's threshold, in both cases, and malformed ones. */
  function edgeIds(): string[] {
    const ids = ['', 'abc', 'zz', `${hexId(8)}\n`, `${hexId(9)}g`, hexId(8), hexId(7), `${hexId(9)}Z${hexId(6).slice(1)}`, hexId(16).toUpperCase(), `ü${hexId(16)}`];
    for (const rate of RATES) {
      const threshold = TraceIdSampler.thresholdFor(rate);
      for (const delta of [-1n, 0n, 1n]) {
        const value = threshold + delta;
        if (value < 0n || value >= 1n << 56n) continue;
        const tail = value.toString(16).padStart(14, '0');
        ids.push(`${hexId(9)}${tail}`, `${hexId(9)}${tail}`.toUpperCase(), `${hexId(9).slice(0, 3)}${tail}`);
      }
    }
    return ids;
  }

  it('keeps exactly the traces TraceIdSampler keeps, at every rate (2,000 random ids and the edges)', async () => {
    const ids = [...Array.from({ length: 2_000 }, () => hexId(16)), ...edgeIds()];
    for (const rate of RATES) {
      const sampling = samplingSql(rate);
      const rows = await h.storage.query<{ TraceId: string; kept: number }>(
        `SELECT TraceId, toUInt8(${sampling.sql}) AS kept FROM (SELECT arrayJoin({ids:Array(String)}) AS TraceId)`,
        { ...sampling.params, ids },
        { readonly: true },
      );
      const sampler = new TraceIdSampler(rate);
      const disagreements = rows.filter((row) => (Number(row.kept) === 1) !== sampler.shouldSample(row.TraceId));
      expect(rows).toHaveLength(ids.length);
      expect(disagreements, `rate ${rate}`).toEqual([]);
    }
  });

  it('keeps about the rate of random traces (the predicate is not trivially true or false)', async () => {
    const ids = Array.from({ length: 2_000 }, () => hexId(16));
    const sampling = samplingSql(0.25);
    const [row] = await h.storage.query<{ kept: string }>(`SELECT countIf(${sampling.sql}) AS kept FROM (SELECT arrayJoin({ids:Array(String)}) AS TraceId)`, {
      ...sampling.params,
      ids,
    });
    expect(Number(row!.kept)).toBeGreaterThan(400);
    expect(Number(row!.kept)).toBeLessThan(600);
  });

  it('refuses a rate outside 0..1 like the sampler', () => {
    expect(() => samplingSql(1.5)).toThrow(RangeError);
    expect(() => samplingSql(Number.NaN)).toThrow(RangeError);
  });
});

describe('rule selection in SQL', () => {
  const service = `svc-${hexId(4)}`;
  const spans: SpanRow[] = [];

  beforeAll(async () => {
    const projects = ['alpha', 'beta', undefined, ''];
    const names = ['POST /ask', 'chat', 'db query', "it's"];
    const topics = ['billing', 'support', undefined];
    for (let index = 0; index < 240; index++) {
      const project = projects[index % projects.length];
      const topic = topics[Math.floor(index / 4) % topics.length];
      const resource: Record<string, string> = { 'service.name': service };
      if (project !== undefined) resource[PROJECT_ATTRIBUTE] = project;
      spans.push(
        spanRow({
          ServiceName: service,
          Timestamp: minutesAgo(index, index),
          ParentSpanId: index % 3 === 0 ? '' : hexId(8),
          SpanName: names[Math.floor(index / 12) % names.length],
          ResourceAttributes: resource,
          SpanAttributes: { ...(topic !== undefined && { topic }), output: `answer ${index}`, 'input.value': JSON.stringify({ n: index % 7 }) },
        }),
      );
    }
    await h.storage.insertSpans(spans);
  });

  function jsSelects(spec: RuleSpec, span: SpanRow, extra?: string): boolean {
    if (spec.project !== undefined && span.ResourceAttributes[PROJECT_ATTRIBUTE] !== spec.project) return false;
    if (!new SpanSelector(spec.applyTo).matches(span)) return false;
    if (spec.filter && !compileFilter(spec.filter.expr, DEFAULT_FIELD_CONVENTIONS).matches(span)) return false;
    if (extra !== undefined && !compileFilter(filter(extra).expr, DEFAULT_FIELD_CONVENTIONS).matches(span)) return false;
    return true;
  }

  const cases: Array<{ label: string; spec: RuleSpec; extra?: string }> = [
    { label: 'root spans', spec: rule({ name: 'r', scorers: [] }) },
    { label: 'span names', spec: rule({ name: 'r', scorers: [], applyTo: { rootSpans: false, spanNames: ['chat', "it's"] } }) },
    { label: 'root spans or a name', spec: rule({ name: 'r', scorers: [], applyTo: { rootSpans: true, spanNames: ['db query'] } }) },
    { label: 'nothing', spec: rule({ name: 'r', scorers: [], applyTo: { rootSpans: false, spanNames: [] } }) },
    { label: 'a project', spec: rule({ name: 'r', scorers: [], project: 'alpha', applyTo: { rootSpans: true, spanNames: ['chat'] } }) },
    { label: 'the empty project', spec: rule({ name: 'r', scorers: [], project: '', applyTo: { rootSpans: true, spanNames: ['chat'] } }) },
    { label: 'a filter', spec: rule({ name: 'r', scorers: [], filter: filter("attributes.topic = 'billing' OR input.n >= 5") }) },
    { label: 'a filter that is NULL for some spans', spec: rule({ name: 'r', scorers: [], filter: filter("attributes.topic != 'support'"), applyTo: { rootSpans: true, spanNames: ['chat'] } }) },
    {
      label: 'everything and an extra filter',
      spec: rule({ name: 'r', scorers: [], project: 'beta', filter: filter("output LIKE 'answer 1%'"), applyTo: { rootSpans: true, spanNames: ['chat', 'db query'] } }),
      extra: 'input.n < 4',
    },
  ];

  for (const { label, spec, extra } of cases) {
    it(`selects what the pipeline selects: ${label}`, async () => {
      const selection = ruleSelectionSql(spec, DEFAULT_FIELD_CONVENTIONS, extra === undefined ? undefined : filter(extra));
      const where = allOf(selection, { sql: 'ServiceName = {test_service:String}', params: { test_service: service } });
      const rows = await h.storage.query<{ SpanId: string }>(`SELECT SpanId FROM otel_traces WHERE ${where.sql}`, where.params, { readonly: true });
      const expected = spans.filter((span) => jsSelects(spec, span, extra)).map((span) => span.SpanId);
      expect(rows.map((row) => row.SpanId).sort()).toEqual(expected.sort());
      if (label !== 'nothing') expect(expected.length).toBeGreaterThan(0);
    });
  }

  it('bounds a time range as [from, to)', async () => {
    const from = spans[50]!.Timestamp;
    const to = spans[10]!.Timestamp;
    const where = allOf(timeRangeSql(from, to), { sql: 'ServiceName = {test_service:String}', params: { test_service: service } });
    const rows = await h.storage.query<{ SpanId: string }>(`SELECT SpanId FROM otel_traces WHERE ${where.sql}`, where.params, { readonly: true });
    expect(rows.map((row) => row.SpanId).sort()).toEqual(spans.slice(11, 51).map((span) => span.SpanId).sort());
  });

  it('never puts rule text into the SQL', () => {
    const spec = rule({ name: 'r', scorers: [], project: "x' OR 1=1 --", applyTo: { rootSpans: false, spanNames: ["'); DROP TABLE scores; --"] }, filter: filter("attributes['a''b'] = 'c''d'") });
    const { sql } = ruleSelectionSql(spec, DEFAULT_FIELD_CONVENTIONS);
    expect(sql).not.toContain('OR 1=1');
    expect(sql).not.toContain('DROP');
    expect(sql).not.toContain("c'd");
  });
});
