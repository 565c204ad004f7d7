// Inherited by the server process: a zone with a half-hour offset, so that a panel bucketing in
// the server's zone instead of on epoch seconds / UTC days gets different numbers.
process.env.TZ = 'Asia/Kolkata';

import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { PACKAGE_ROOT } from '../helpers/package-root.js';
import * as expected from './grafana-fixtures.js';
import { buildFixture, RANGE, type Selection } from './grafana-fixtures.js';
import { expandQuery, interpolateDataLink, interpolateVariables, KNOWN_MACROS, type QueryContext, type TemplateVariable } from './grafana-macros.js';

const GRAFANA = join(PACKAGE_ROOT, 'deploy', 'grafana');
const dashboard = JSON.parse(readFileSync(join(GRAFANA, 'dashboards', 'spanscore.json'), 'utf8'));
const datasources = parseYaml(readFileSync(join(GRAFANA, 'provisioning', 'datasources', 'clickhouse.yaml'), 'utf8'));
const providers = parseYaml(readFileSync(join(GRAFANA, 'provisioning', 'dashboards', 'spanscore.yaml'), 'utf8'));
const readme = readFileSync(join(GRAFANA, 'README.md'), 'utf8');

const CH_TYPE = 'grafana-clickhouse-datasource';
const chDatasource = datasources.datasources.find((d: any) => d.type === CH_TYPE);
const panels: any[] = dashboard.panels;
const variableDefs: any[] = dashboard.templating.list;
const queryVariables = variableDefs.filter((v) => v.type === 'query');
const panel = (title: string): any => {
  const found = panels.find((p) => p.title === title);
  if (found === undefined) throw new Error(`no panel "${title}"`);
  return found;
};
const chTargets = (p: any): any[] => (p.targets ?? []).filter((t: any) => t.datasource?.type === CH_TYPE);
const traceLink = (): any =>
  panel('Lowest-scoring spans').fieldConfig.overrides.find((o: any) => o.matcher.options === 'TraceId').properties.find((p: any) => p.id === 'links').value[0];

const fixture = buildFixture();
const allScores = [...fixture.scores, ...fixture.rescores];
const SELECTIONS: Record<string, Selection> = {
  'everything on All': { project: 'all', rule: 'all', scorer: 'all' },
  'one project, with a quote in its name': { project: ["o'brien"], rule: 'all', scorer: 'all' },
  'one rule and one scorer': { project: 'all', rule: ['root.json'], scorer: ['ValidJSON'] },
  'several of each': { project: ['shop', 'other'], rule: ['answers', 'tone'], scorer: ['Judge:v2', 'Factuality'] },
};
const HOUR_MS = 3_600_000;

let server: ClickHouseServer;
let storage: ClickHouseStorage;
let client: ClickHouseClient;

interface Result {
  meta: { name: string; type: string }[];
  data: Record<string, unknown>[];
}
/** Times come back as epoch seconds, so that comparisons do not depend on the server's zone. */
async function run(sql: string): Promise<Result> {
  const result = await client.query({ query: sql, format: 'JSON' });
  return (await result.json()) as unknown as Result;
}

/** Resolves the variables in dashboard order, each query seeing the selections before it, as Grafana chains them. */
async function resolveVariables(selection: Selection): Promise<TemplateVariable[]> {
  const variables: TemplateVariable[] = [];
  for (const def of queryVariables) {
    const { meta, data } = await run(expandQuery(def.query.rawSql, { ...RANGE, intervalMs: 0, variables }));
    expect(meta, `variable ${def.name} must return one column`).toHaveLength(1);
    const options = data.map((row) => String(row[meta[0]!.name]));
    const current = selection[def.name as keyof Selection];
    variables.push({ name: def.name, multi: def.multi, includeAll: def.includeAll, allValue: def.allValue, options, current });
  }
  return variables;
}

beforeAll(async () => {
  server = await startClickHouseServer();
  storage = new ClickHouseStorage({ url: server.url, database: chDatasource.jsonData.defaultDatabase, logger: silentLogger() });
  await storage.migrate();
  client = createClient({
    url: server.url,
    database: chDatasource.jsonData.defaultDatabase,
    clickhouse_settings: { date_time_output_format: 'unix_timestamp', output_format_json_quote_64bit_integers: 0 },
  });
  // Re-scores stay in parts of their own, so a panel reading without FINAL counts them twice.
  await client.command({ query: 'SYSTEM STOP MERGES scores' });
  await storage.insertSpans(fixture.spans);
  await storage.insertScores(fixture.scores);
  await storage.insertScores(fixture.rescores);
});
afterAll(async () => {
  await client?.close();
  await storage?.close();
  await server?.dispose();
});

describe('the dashboard JSON', () => {
  it('has unique panel ids and non-overlapping grid positions within 24 columns', () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) {
      expect(p.gridPos, p.title).toMatchObject({ h: expect.any(Number), w: expect.any(Number), x: expect.any(Number), y: expect.any(Number) });
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
    for (const [i, a] of panels.entries()) {
      for (const b of panels.slice(i + 1)) {
        const apart = a.gridPos.x + a.gridPos.w <= b.gridPos.x || b.gridPos.x + b.gridPos.w <= a.gridPos.x || a.gridPos.y + a.gridPos.h <= b.gridPos.y || b.gridPos.y + b.gridPos.h <= a.gridPos.y;
        expect(apart, `${a.title} overlaps ${b.title}`).toBe(true);
      }
    }
  });

  it('queries ClickHouse only through the provisioned data source, Prometheus only through the variable', () => {
    expect(chDatasource.uid).toMatch(/\S/);
    for (const v of queryVariables) {
      expect(v.datasource, v.name).toEqual({ type: CH_TYPE, uid: chDatasource.uid });
      expect(v.definition, `${v.name}: the SQL shown in the variable list is the SQL run`).toBe(v.query.rawSql);
      expect(v, v.name).toMatchObject({ multi: true, includeAll: true, refresh: 2, current: { value: ['$__all'] } });
    }
    for (const p of panels) {
      for (const t of p.targets) {
        expect(t.datasource, p.title).toEqual(p.datasource);
        if (t.datasource.type === CH_TYPE) expect(t.datasource.uid, p.title).toBe(chDatasource.uid);
        else expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${prometheus}' });
      }
    }
    expect(variableDefs.find((v) => v.name === 'prometheus')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(traceLink().internal.datasourceUid).toBe(chDatasource.uid);
    expect(traceLink().internal.query.datasource).toEqual({ type: CH_TYPE, uid: chDatasource.uid });
  });

  it('uses only macros the expander knows and only variables the dashboard defines', () => {
    const sqls = [
      ...queryVariables.map((v) => v.query.rawSql as string),
      ...panels.flatMap((p) => chTargets(p).map((t) => t.rawSql as string)),
      traceLink().internal.query.rawSql as string,
    ];
    const names = new Set(variableDefs.map((v) => v.name));
    for (const sql of sqls) {
      for (const [, macro] of sql.matchAll(/\$__(\w+)/g)) expect(KNOWN_MACROS, sql).toContain(macro);
      for (const [, name] of sql.matchAll(/\$\{?(?!__)(\w+)/g)) expect(names.has(name!), `$${name} in ${sql}`).toBe(true);
    }
    expect(sqls.length).toBeGreaterThanOrEqual(10);
  });

  it('gives SQL targets the format their panel draws: time series 0, tables and bars 1', () => {
    const formats: Record<string, number> = { timeseries: 0, table: 1, barchart: 1, bargauge: 1 };
    for (const p of panels) for (const t of chTargets(p)) expect({ panel: p.title, editorType: t.editorType, format: t.format }).toEqual({ panel: p.title, editorType: 'sql', format: formats[p.type] });
  });
});

describe('the provisioning files and README', () => {
  it('provisions the ClickHouse data source with secrets from the environment and the traces table', async () => {
    expect(datasources.apiVersion).toBe(1);
    const { jsonData, secureJsonData } = chDatasource;
    expect(jsonData).toMatchObject({ defaultDatabase: 'spanscore', protocol: expect.stringMatching(/^(http|native)$/) });
    for (const value of [jsonData.host, jsonData.port, jsonData.username, secureJsonData.password]) expect(String(value)).toMatch(/^\$\{?\w+\}?$/);
    expect(jsonData.traces).toMatchObject({ defaultDatabase: 'spanscore', defaultTable: 'otel_traces', otelEnabled: true });
    const columns = (await run("SELECT name FROM system.columns WHERE database = 'spanscore' AND table = 'otel_traces'")).data.map((r) => r.name);
    for (const [key, column] of Object.entries(jsonData.traces).filter(([k]) => k.endsWith('Column'))) expect(columns, key).toContain(column);
    for (const prefix of [jsonData.traces.traceEventsColumnPrefix, jsonData.traces.traceLinksColumnPrefix]) {
      expect(columns.filter((c) => String(c).startsWith(`${prefix}.`)), prefix).not.toHaveLength(0);
    }
    const lookup = `otel_traces${jsonData.traces.traceTimestampTableSuffix}`;
    expect((await run(`SELECT count() AS n FROM system.tables WHERE database = 'spanscore' AND name = '${lookup}'`)).data).toEqual([{ n: 1 }]);
  });

  it('loads the dashboards folder from the path the README mounts it at', () => {
    const provider = providers.providers[0];
    expect(provider).toMatchObject({ type: 'file', options: { path: expect.stringMatching(/^\//) } });
    expect(readme).toContain(provider.options.path);
    expect(readme).toContain('/etc/grafana/provisioning');
  });

  it('describes every panel in the README', () => {
    for (const p of panels) expect(readme, p.title).toContain(p.title);
  });
});

describe('the data in ClickHouse', () => {
  it('holds the re-scores as separate rows, so that only FINAL reads the newest version', async () => {
    const { data } = await run('SELECT count() AS rows, (SELECT count() FROM scores FINAL) AS final FROM scores');
    expect(fixture.rescores.length).toBeGreaterThan(20);
    expect(data).toEqual([{ rows: allScores.length, final: fixture.scores.length }]);
  });
});

describe.each(Object.entries(SELECTIONS))('with %s', (_name, selection) => {
  let variables: TemplateVariable[];
  const context = (intervalMs = HOUR_MS): QueryContext => ({ ...RANGE, intervalMs, variables });
  const panelRows = async (title: string, intervalMs?: number): Promise<Result> => {
    const [target] = chTargets(panel(title));
    const result = await run(expandQuery(target.rawSql, context(intervalMs)));
    checkShape(panel(title), result);
    return result;
  };

  beforeAll(async () => {
    variables = await resolveVariables(selection);
  });

  it('lists in each variable the values in the time range that the variables before it allow', () => {
    const options = Object.fromEntries(variables.map((v) => [v.name, v.options]));
    expect(options).toEqual({
      project: expected.variableOptions(allScores, 'Project', {}),
      rule: expected.variableOptions(allScores, 'Rule', { project: selection.project }),
      scorer: expected.variableOptions(allScores, 'Scorer', { project: selection.project, rule: selection.rule }),
    });
    expect(options.project).not.toContain('archived');
    for (const v of variables) if (v.current !== 'all') for (const value of v.current) expect(v.options).toContain(value);
  });

  it.each([HOUR_MS, 90 * 60_000])('draws the mean score per rule and scorer, in %i ms buckets', async (intervalMs) => {
    const { data } = await panelRows('Score trend by rule and scorer', intervalMs);
    const want = expected.perBucket(allScores, selection, intervalMs / 1000);
    expect(want.size).toBeGreaterThan(5);
    expect(data.map((r) => `${r.time}|${r.Rule}|${r.Scorer}`).sort()).toEqual([...want.keys()].sort());
    for (const r of data) {
      const mean = want.get(`${r.time}|${r.Rule}|${r.Scorer}`)!.mean;
      if (mean === null) expect(r.score).toBeNull();
      else expect(r.score as number).toBeCloseTo(mean, 9);
    }
  });

  it('draws the share of failed runs per rule and scorer', async () => {
    const { data } = await panelRows('Scorer error rate');
    const want = expected.perBucket(allScores, selection, HOUR_MS / 1000);
    expect(data).toHaveLength(want.size);
    for (const r of data) expect(r.error_rate as number).toBeCloseTo(want.get(`${r.time}|${r.Rule}|${r.Scorer}`)!.errorRate, 9);
    if (selection.scorer === 'all') expect(data.some((r) => (r.error_rate as number) > 0)).toBe(true);
  });

  it('counts every non-null score in exactly one tenth', async () => {
    const { data } = await panelRows('Score distribution');
    const want = expected.distribution(allScores, selection);
    expect(want.length).toBeGreaterThanOrEqual(10);
    expect(data).toEqual(want);
    const nonNull = expected.effective(allScores).filter((r) => r.Score !== null && expected.inRange(r.Timestamp) && expected.matches(r, selection));
    expect(data.reduce((sum, r) => sum + (r.scores as number), 0)).toBe(nonNull.length);
  });

  it('sums the LLM tokens and cost of each UTC day from Details', async () => {
    const want = expected.perDay(allScores, selection);
    const tokens = await panelRows('LLM tokens per day');
    expect(new Map(tokens.data.map((r) => [`${r.time}|${r.Scorer}`, { input: r.input_tokens, output: r.output_tokens }]))).toEqual(want.tokens);
    const cost = await panelRows('LLM cost per day (USD)');
    expect(cost.data.map((r) => `${r.time}|${r.Scorer}`).sort()).toEqual([...want.cost.keys()].sort());
    for (const r of cost.data) expect(r.cost_usd as number).toBeCloseTo(want.cost.get(`${r.time}|${r.Scorer}`)!, 12);
    if (selection.scorer === 'all' || selection.scorer.includes('Factuality')) expect(want.cost.size).toBeGreaterThan(1);
  });

  it('lists the lowest scores, ascending, limited, newest versions only', async () => {
    const { data } = await panelRows('Lowest-scoring spans');
    const limit = Number(/LIMIT (\d+)/.exec(chTargets(panel('Lowest-scoring spans'))[0].rawSql)![1]);
    const want = expected.lowest(allScores, selection, limit);
    expect(want.length).toBeGreaterThan(10);
    expect(data.map((r) => `${r.Score}|${nanos(r.Timestamp)}`)).toEqual(want);
    if (selection.project === 'all' && selection.rule === 'all') expect(data).toHaveLength(limit);
    const newest = new Map(expected.effective(allScores).map((s) => [`${s.Rule}|${s.Scorer}|${s.TraceId}|${s.SpanId}`, s.Score]));
    for (const r of data) expect(newest.get(`${r.Rule}|${r.Scorer}|${r.TraceId}|${r.SpanId}`)).toBe(r.Score);
  });

  it('counts distinct scored spans per rule', async () => {
    const { data } = await panelRows('Scored spans per rule');
    expect(data).toEqual(expected.spansPerRule(allScores, selection));
  });
});

describe('the trace link of the lowest-scoring spans table', () => {
  it('opens the whole trace in the trace view, focused on the scored span', async () => {
    const variables = await resolveVariables(SELECTIONS['everything on All']!);
    const rows = (await run(expandQuery(chTargets(panel('Lowest-scoring spans'))[0].rawSql, { ...RANGE, intervalMs: HOUR_MS, variables }))).data;
    const row = Object.fromEntries(Object.entries(rows[0]!).map(([k, v]) => [k, String(v)]));
    const link = traceLink();
    expect(link.internal.query).toMatchObject({ editorType: 'sql', format: 3, queryType: 'traces' });
    expect(interpolateDataLink(link.internal.panelsState.trace.spanId, { value: row.TraceId!, row })).toBe(row.SpanId);

    const sql = expandQuery(interpolateDataLink(link.internal.query.rawSql, { value: row.TraceId!, row }), { ...RANGE, intervalMs: HOUR_MS, variables: [] });
    const { meta, data } = await run(sql);
    const frameFields = ['traceID', 'spanID', 'parentSpanID', 'operationName', 'serviceName', 'startTime', 'duration', 'tags', 'serviceTags', 'logs', 'kind', 'statusCode'];
    expect(meta.map((m) => m.name)).toEqual(expect.arrayContaining(frameFields));
    for (const field of ['startTime', 'duration', 'statusCode']) expect(meta.find((m) => m.name === field)!.type).toMatch(/Float|Int/);

    const stored = fixture.spans.filter((s) => s.TraceId === row.TraceId);
    expect(data.map((s) => s.spanID).sort()).toEqual(stored.map((s) => s.SpanId).sort());
    for (const s of data) {
      const original = stored.find((o) => o.SpanId === s.spanID)!;
      expect(s.startTime as number).toBeCloseTo(Number(BigInt(original.Timestamp) / 1000n) / 1000, 3);
      expect(s.duration as number).toBeCloseTo(Number(original.Duration) / 1e6, 6);
      expect(s.parentSpanID).toBe(original.ParentSpanId);
    }
    const scoringSpans = data.filter((s) => s.parentSpanID === row.SpanId);
    expect(scoringSpans.length).toBe(allScores.filter((s) => s.SpanId === row.SpanId).length);
    expect(scoringSpans[0]!.tags).toEqual(expect.arrayContaining([{ key: 'spanscore.rule', value: expect.any(String) }]));
    const event = stored.find((s) => s.SpanId === row.SpanId)!.Events[0]!;
    expect(data.find((s) => s.spanID === row.SpanId)!.logs).toEqual([
      { name: event.Name, timestamp: Number(BigInt(event.Timestamp) / 1000n) / 1000, fields: [{ key: 'gen_ai.prompt', value: 'hi' }] },
    ]);
  });
});

describe('the shed panel', () => {
  it('reads a counter and label the daemon really exports, and All matches every rule', async () => {
    const [target] = panel('Shed scoring tasks (Prometheus)').targets;
    const metrics = new DaemonMetrics({ processMetrics: false });
    metrics.scoringShed.inc({ rule: 'answers' });
    const exposition = await metrics.registry.metrics();
    for (const [, metric, labels] of (target.expr as string).matchAll(/(spanscore_\w+)\{([^}]*)\}/g)) {
      for (const [, label] of labels!.matchAll(/(\w+)=~?"/g)) expect(exposition).toContain(`${metric}{${label}="answers"}`);
    }
    expect(target.expr).toContain('spanscore_scoring_shed_total');
    const variables = await resolveVariables(SELECTIONS['everything on All']!);
    // Shed tasks leave no score, so a rule that only sheds is in no option list: All must not enumerate them.
    expect(interpolateVariables(target.expr, variables)).toContain('rule=~".*"');
  });
});

describe('the expander', () => {
  const variable = (current: TemplateVariable['current']): TemplateVariable => ({ name: 'project', multi: true, includeAll: true, options: ['a', "o'b"], current });
  const at = (variables: TemplateVariable[], intervalMs = 20_000): QueryContext => ({ from: new Date(1415792726_000), to: new Date(1447328726_000), intervalMs, variables });

  it("expands the plugin's macros as its documentation shows", () => {
    expect(expandQuery('$__timeFilter(time) AND t >= $__fromTime AND t <= $__toTime', at([]))).toBe(
      'time >= toDateTime(1415792726) AND time <= toDateTime(1447328726) AND t >= toDateTime(1415792726) AND t <= toDateTime(1447328726)',
    );
    expect(expandQuery('$__timeInterval(column) $__interval_s', at([]))).toBe('toStartOfInterval(toDateTime(column), INTERVAL 20 second) 20');
    expect(expandQuery('$__interval_s', at([], 1500))).toBe('1');
  });

  it('replaces $__conditionalAll by 1=1 on All and by the quoted condition otherwise', () => {
    const sql = 'WHERE $__conditionalAll(P IN (${project:singlequote}), $project)';
    expect(expandQuery(sql, at([variable('all')]))).toBe('WHERE 1=1');
    expect(expandQuery(sql, at([variable(["o'b", 'a'])]))).toBe("WHERE P IN ('o\\'b','a')");
  });

  it('refuses unknown macros, variables and formats, and nested macro arguments', () => {
    expect(() => expandQuery('$__timeFilters(t)', at([]))).toThrow(/unknown macro/);
    expect(() => expandQuery('x IN (${projects:singlequote})', at([variable('all')]))).toThrow(/left unexpanded/);
    expect(() => expandQuery('x IN (${project:singlequotes})', at([variable(['a'])]))).toThrow(/format/);
    expect(() => expandQuery('$__timeFilter(toDateTime(t))', at([]))).toThrow(/plain column/);
  });
});

/** A DateTime64(9) printed as `seconds.nanos` → ns since epoch as a decimal string. */
function nanos(value: unknown): string {
  const [whole, fraction = ''] = String(value).split('.');
  return String(BigInt(whole!) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0')));
}

/** What Grafana needs of a panel's result, read from the panel's own settings. */
function checkShape(p: any, { meta, data }: Result): void {
  const names = meta.map((m) => m.name);
  const type = (name: string): string => meta.find((m) => m.name === name)?.type ?? '(missing)';
  if (chTargets(p)[0].format === 0) {
    // sqlds turns long results into one series per string-column value and needs time ascending.
    expect(names[0], p.title).toBe('time');
    expect(type('time'), p.title).toMatch(/^DateTime/);
    const times = data.map((r) => Number(r.time));
    expect(times, p.title).toEqual([...times].sort((a, b) => a - b));
    expect(meta.some((m) => /Int|Float/.test(m.type)), p.title).toBe(true);
    for (const [, label] of JSON.stringify(p.fieldConfig.defaults.displayName ?? '').matchAll(/__field\.labels\.(\w+)/g)) expect(type(label!), p.title).toMatch(/String/);
  }
  for (const o of p.fieldConfig.overrides) if (o.matcher.id === 'byName') expect(names, p.title).toContain(o.matcher.options);
  for (const t of p.transformations ?? []) {
    if (t.id === 'groupingToMatrix') for (const f of [t.options.rowField, t.options.columnField, t.options.valueField]) expect(names, p.title).toContain(f);
  }
  const reduceFields = p.options?.reduceOptions?.fields;
  if (reduceFields) expect(meta.filter((m) => new RegExp(reduceFields.slice(1, -1)).test(m.name) && /Int|Float/.test(m.type)), p.title).not.toHaveLength(0);
}
