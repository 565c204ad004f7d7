import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/daemon-process.js';

const dir = mkdtempSync(join(tmpdir(), 'spanscore-validate-'));

async function validate(name: string, text: string): Promise<{ file: string; code: number | null; lines: string[]; stderr: string }> {
  const file = join(dir, name);
  writeFileSync(file, text);
  const result = await runCli(['validate', '--config', file], { cwd: dir });
  return { file, code: result.code, lines: result.stdout.split('\n').filter((line) => line !== ''), stderr: result.stderr };
}

describe('spanscore validate describes the pipeline', () => {
  it('embedded storage with a forwarding exporter and a scoring exporter', async () => {
    const { file, code, lines, stderr } = await validate(
      'embedded.yaml',
      `
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:14317 }
      http: { endpoint: 127.0.0.1:14318 }
storage:
  clickhouse:
    embedded: { path: ./data/ch }
exporters:
  otlp/tempo:
    endpoint: http://tempo:4317
  otlp/evals:
    endpoint: https://evals.example/otlp
    protocol: http/protobuf
    forward: scoring
scorers:
  json: { builtin: ValidJSON }
  lev: { builtin: Levenshtein }
  exact: { builtin: ExactMatch }
rules:
  - { name: roots, scorers: [json] }
  - { name: later, scorers: [lev], enabled: false }
`,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(lines).toEqual([
      `${file}: valid. 2 rule(s) (1 enabled), 3 scorer(s).`,
      '  receivers: OTLP/gRPC 127.0.0.1:14317, OTLP/HTTP 127.0.0.1:14318',
      `  storage: embedded ClickHouse at ${join(dir, 'data/ch')}`,
      '  received spans: stored in ClickHouse (acknowledged once stored), then forwarded to otlp/tempo (grpc tempo:4317, plaintext); a full sending queue sheds',
      '  scoring: 1 enabled rule(s): roots; scores: scores table + scoring spans in ClickHouse; scoring spans forwarded to otlp/tempo and otlp/evals; recovery: on (last 1h, every 5m)',
      '  self-telemetry: off',
    ]);
  });

  it('a durable buffer: says when spans are acknowledged while ClickHouse is away, and refuses a bad size naming the key', async () => {
    const good = await validate('buffer.yaml', `
storage:
  clickhouse:
    url: http://clickhouse:8123
    buffer: { path: ./buffer, max_size_mib: 512 }
`);
    expect(good.code).toBe(0);
    expect(good.lines).toContain(
      `  received spans: stored in ClickHouse (acknowledged once stored, or while ClickHouse is away once written and fsynced to the durable buffer ${join(dir, 'buffer')}, at most 512 MiB, replayed when it is back)`,
    );
    const bad = await validate('bad-buffer.yaml', `
storage:
  clickhouse:
    url: http://clickhouse:8123
    buffer: { path: ./buffer, max_size_mib: -1, fsync: sometimes }
`);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad-buffer\.yaml:5:\d+: storage\.clickhouse\.buffer\.max_size_mib/);
    expect(bad.stderr).toMatch(/storage\.clickhouse\.buffer\.fsync/);
  });

  it('a forward-only pipeline: acknowledged once queued, scores as forwarded scoring spans, recovery off', async () => {
    const { code, lines, stderr } = await validate(
      'forward-only.yaml',
      `
exporters:
  otlp/gateway:
    endpoint: gateway.observability:4317
    forward: received
  otlp/evals:
    endpoint: https://evals.example
    protocol: http/protobuf
    forward: scoring
rules:
  - { name: roots, scorers: [ValidJSON] }
service:
  telemetry:
    traces: { endpoint: "http://jaeger:4318/v1/traces", sampling_ratio: 0.25 }
`,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(lines.slice(2)).toEqual([
      '  storage: none: forward-only (the admin API calls that read ClickHouse answer 501)',
      '  received spans: forwarded to otlp/gateway (grpc gateway.observability:4317); acknowledged once queued for forwarding, refused with 503/UNAVAILABLE (retryable) while a queue is full',
      '  scoring: 1 enabled rule(s): roots; scores: scoring spans forwarded to otlp/evals (no scores table without storage); recovery: off (it reads ClickHouse)',
      '  self-telemetry: traces via http/protobuf to http://jaeger:4318/v1/traces, 25% of root operations sampled',
    ]);
  });

  it('says when received spans are scored and then dropped', async () => {
    const { code, lines } = await validate(
      'scores-only.yaml',
      `
exporters:
  otlp:
    endpoint: evals:4317
    forward: scoring
  otlp/also:
    endpoint: evals2:4317
    forward: scoring
rules:
  - { name: roots, scorers: [ValidJSON] }
`,
    );
    expect(code).toBe(0);
    expect(lines).toContain('  received spans: scored, then dropped (neither stored nor forwarded)');
    expect(lines).toContain('  scoring: 1 enabled rule(s): roots; scores: scoring spans forwarded to otlp and otlp/also (no scores table without storage); recovery: off (it reads ClickHouse)');
  });

  it('a ClickHouse server, several forwarders, a trace rule and recovery off', async () => {
    const { code, lines } = await validate(
      'server.yaml',
      `
storage:
  clickhouse: { url: "http://clickhouse:8123" }
exporters:
  otlp/a:
    endpoint: https://a.example:4317
    forward: received
  otlp/b:
    endpoint: https://b.example
    protocol: http/json
    forward: both
    sending_queue: { enabled: false }
scoring:
  recovery: { enabled: false }
rules:
  - { name: traces, scorers: [ValidJSON], scope: trace }
`,
    );
    expect(code).toBe(0);
    expect(lines).toContain('  storage: ClickHouse at clickhouse:8123');
    expect(lines).toContain(
      '  received spans: stored in ClickHouse (acknowledged once stored), then forwarded to otlp/a (grpc a.example:4317) and otlp/b (http/json https://b.example/v1/traces, no sending queue); a full sending queue sheds',
    );
    expect(lines).toContain('  scoring: 1 enabled rule(s): traces (trace); scores: scores table + scoring spans in ClickHouse; scoring spans forwarded to otlp/b; recovery: off');
  });

  it('refuses a pipeline that would lose scores, naming the key and line (exit 1, nothing on stdout)', async () => {
    const { file, code, lines, stderr } = await validate(
      'lossy.yaml',
      `rules:
  - { name: roots, scorers: [ValidJSON] }
exporters:
  otlp:
    endpoint: 127.0.0.1:4317
    forward: received
`,
    );
    expect(code).toBe(1);
    expect(lines).toEqual([]);
    expect(stderr).toContain(`${file}: 2 error(s):`);
    expect(stderr).toContain(`${file}:3:1: exporters: without \`storage.clickhouse\` scores exist only as scoring spans, and no exporter forwards them (rules roots would score into nothing)`);
    // The default gRPC receiver listens on 127.0.0.1:4317: forwarding there is a loop.
    expect(stderr).toContain(`${file}:5:5: exporters.otlp.endpoint: 127.0.0.1:4317 is this spanscore's own otlp/grpc receiver (127.0.0.1:4317)`);
  });
});
