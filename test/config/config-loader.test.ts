import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { issuesOf, minimal } from './config-test-kit.js';
import { loadConfig, parseConfigText } from '../../src/config/config-loader.js';

describe('config loader', () => {
  it('applies the documented defaults to a minimal file', () => {
    const config = parseConfigText(minimal, 'spanscore.yaml', {});
    expect(config.receivers.grpc).toEqual({ endpoint: '127.0.0.1:4317', maxRecvMessageSizeBytes: 16 * 1024 * 1024 });
    expect(config.receivers.http).toEqual({ endpoint: '127.0.0.1:4318', maxBodyBytes: 20 * 1024 * 1024, readHeaderTimeoutMs: 10_000, readTimeoutMs: 30_000 });
    expect(config.receivers.maxAttributeValueLength).toBe(65_536);
    // Embedded storage: the engine's memory is the daemon's, so the default limit is 2 GiB.
    expect(config.memoryLimiter).toEqual({ checkIntervalMs: 500, limitBytes: 2048 * 1024 * 1024, softLimitBytes: 1536 * 1024 * 1024, scoringLimitBytes: 512 * 1024 * 1024 });
    const server = parseConfigText('storage:\n  clickhouse:\n    url: http://ch:8123\n', 'f.yaml', {});
    expect(server.memoryLimiter).toMatchObject({ limitBytes: 512 * 1024 * 1024, softLimitBytes: 384 * 1024 * 1024 });
    expect(config.scoring.recovery).toEqual({ enabled: true, windowMs: 3_600_000, intervalMs: 300_000, minAgeMs: 120_000, maxSpans: 10_000, pageBytes: 4 * 1024 * 1024 });
    expect(config.scoring.workerMemoryMib).toBe(256);
    expect(config.storage!.database).toBe('spanscore');
    expect(config.storage!.embeddedPath).toBe(join(process.cwd(), 'data/x'));
    expect(config.storage!.url).toBeUndefined();
    expect(config.rules).toEqual([]);
    expect(config.admin.endpoint).toBe('127.0.0.1:13133');
    expect(config.scoring.conventions.input[0]).toBe('input.value');
  });

  it('loads the shipped config/spanscore.yaml', () => {
    const config = loadConfig('config/spanscore.yaml', {});
    expect(config.rules.map((r) => r.name)).toEqual(['demo-root-spans']);
    expect(config.rules[0]!.applyTo.rootSpans).toBe(true);
    expect(config.storage!.embeddedPath).toMatch(/data\/clickhouse$/);
  });

  it('substitutes ${env:NAME} and ${env:NAME:-default} in values', () => {
    const config = parseConfigText(
      `${minimal}
admin:
  endpoint: \${env:ADMIN_HOST}:\${env:ADMIN_PORT:-9999}
`,
      'f.yaml',
      { ADMIN_HOST: '127.0.0.2' },
    );
    expect(config.admin.endpoint).toBe('127.0.0.2:9999');
  });

  it('names the key path and line of an unset variable', () => {
    const issues = issuesOf(`${minimal}admin:\n  endpoint: \${env:NOPE}\n`);
    expect(issues).toContainEqual(expect.objectContaining({ path: 'admin.endpoint', line: 7, message: expect.stringContaining('NOPE') }));
  });

  it('refuses unknown keys, naming each with its line', () => {
    const issues = issuesOf(`${minimal}recievers: {}\nadmin:\n  endpiont: x\n`);
    expect(issues).toContainEqual(expect.objectContaining({ path: 'recievers', line: 6, message: expect.stringContaining('unknown key') }));
    expect(issues).toContainEqual(expect.objectContaining({ path: 'admin.endpiont', line: 8 }));
  });

  it('lists every error of a rule at once with its line', () => {
    const text = `${minimal}rules:
  - name: a
    scorers: [Levenshtein]
    sampling_rate: 1.5
  - name: a
    scorers: [nosuch]
    sampling_rate: "10%"
  - name: c
    scorers: [ExactMatch]
    filter: "metadata.model = 'x'"
`;
    const issues = issuesOf(text);
    expect(issues).toContainEqual(expect.objectContaining({ path: 'rules[0].sampling_rate', line: 9 }));
    // zod stops at the first failing stage, so the cross-checks show once shapes are valid.
    const fixed = text.replace('1.5', '0.5');
    const later = issuesOf(fixed);
    expect(later).toContainEqual(expect.objectContaining({ path: 'rules[1].name', line: 10, message: expect.stringContaining('duplicate') }));
    expect(later).toContainEqual(expect.objectContaining({ path: 'rules[1].scorers[0]', line: 11, message: expect.stringContaining('"nosuch"') }));
    // A valid filter is accepted; the third rule's is fine.
    expect(later.filter((i) => i.path === 'rules[2].filter')).toEqual([]);
  });

  it('refuses a filter that does not parse, naming the rule, the line and the position in the filter', () => {
    const issues = issuesOf(`${minimal}rules:\n  - name: bad-filter\n    scorers: [ExactMatch]\n    filter: "metadata.model = 'x' AND"\n`);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: 'rules[0].filter', line: 9 });
    expect(issues[0]!.message).toContain('rule "bad-filter": filter: expected an expression after AND at 1:');
    expect(issues[0]!.message).toContain("metadata.model = 'x' AND");
  });

  it('refuses an unknown field and a wrong argument count in a filter', () => {
    const issues = issuesOf(
      `${minimal}rules:\n  - name: a\n    scorers: [ExactMatch]\n    filter: "nmae = 'x'"\n  - name: b\n    scorers: [ExactMatch]\n    filter: "lower(name, 1) = 'x'"\n`,
    );
    expect(issues).toContainEqual(expect.objectContaining({ path: 'rules[0].filter', message: expect.stringContaining('unknown field "nmae" at 1:1') }));
    expect(issues).toContainEqual(expect.objectContaining({ path: 'rules[1].filter', message: expect.stringContaining('lower takes 1 argument, got 2') }));
    const typed = issuesOf(`${minimal}rules:\n  - name: c\n    scorers: [ExactMatch]\n    filter: "name AND is_root"\n`);
    expect(typed).toContainEqual(expect.objectContaining({ path: 'rules[0].filter', message: expect.stringContaining('AND needs boolean operands') }));
  });

  it('parses percentages and durations', () => {
    const config = parseConfigText(
      `${minimal}scoring:\n  task_timeout: 1m30s\nscorers:\n  lev:\n    builtin: Levenshtein\n    timeout: 250ms\nrules:\n  - name: r\n    scorers: [lev, ExactMatch]\n    sampling_rate: "12.5%"\n    apply_to: { span_names: [llm] }\n`,
      'f.yaml',
      {},
    );
    expect(config.rules[0]!.samplingRate).toBeCloseTo(0.125, 12);
    expect(config.rules[0]!.applyTo).toEqual({ rootSpans: false, spanNames: ['llm'] });
    expect(config.scorers.get('lev')).toMatchObject({ kind: 'builtin', builtin: 'Levenshtein', timeoutMs: 250 });
    expect(config.scorers.get('ExactMatch')).toMatchObject({ kind: 'builtin', timeoutMs: 90_000 });
  });

  it('requires exactly one storage mode and a valid endpoint', () => {
    const issues = issuesOf(`storage:\n  clickhouse:\n    database: x\nadmin:\n  endpoint: localhost\n`);
    expect(issues).toContainEqual(expect.objectContaining({ path: 'storage.clickhouse', message: expect.stringContaining('exactly one') }));
    expect(issues).toContainEqual(expect.objectContaining({ path: 'admin.endpoint', line: 5, message: expect.stringContaining('host:port') }));
  });

  it('reports YAML syntax errors with their line', () => {
    const issues = issuesOf(`storage:\n  clickhouse:\n    url: [unclosed\n`);
    expect(issues[0]!.message).toMatch(/YAML syntax/);
    expect(issues[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it('checks that a module scorer file exists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spanscore-config-'));
    const module = join(dir, 'mine.mjs');
    writeFileSync(module, 'export default () => 1;\n');
    const ok = parseConfigText(`${minimal}scorers:\n  mine:\n    module: ${module}\n`, 'f.yaml', {});
    expect(ok.scorers.get('mine')).toMatchObject({ kind: 'module', module, exportName: 'default' });
    const issues = issuesOf(`${minimal}scorers:\n  mine:\n    module: ${join(dir, 'missing.mjs')}\n`);
    expect(issues).toContainEqual(expect.objectContaining({ path: 'scorers.mine.module', line: 8, message: expect.stringContaining('not found') }));
  });
});
