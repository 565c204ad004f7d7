import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startDaemon } from '../helpers/daemon-process.js';
import { otlpJsonRequest, postJson, randomTraceId } from '../helpers/otlp-json.js';

const dir = mkdtempSync(join(tmpdir(), 'spanscore-cli-'));

function writeConfig(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('spanscore validate', () => {
  it('exits 0 for the shipped config', async () => {
    const result = await runCli(['validate', '--config', 'config/spanscore.yaml']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/valid\. 1 rule/);
  });

  it('exits 1 listing every error with file, line and key path', async () => {
    const file = writeConfig(
      'bad.yaml',
      `storage:\n  clickhouse:\n    embedded: { path: ./x }\n    databse: oops\nrules:\n  - name: r\n    scorers: []\n    sampling_rate: 2\n`,
    );
    const result = await runCli(['validate', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${file}:4:5: storage.clickhouse.databse: unknown key`);
    expect(result.stderr).toMatch(new RegExp(`${file}:7:\\d+: rules\\[0\\]\\.scorers: a rule needs at least one scorer`));
    expect(result.stderr).toMatch(new RegExp(`${file}:8:\\d+: rules\\[0\\]\\.sampling_rate: must be a number from 0 to 1`));
  });

  it('run refuses to start on an invalid config', async () => {
    const file = writeConfig('bad-run.yaml', `storage:\n  clickhouse: {}\n`);
    const result = await runCli(['run', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/exactly one of `url`/);
    expect(result.stderr).toMatch(/refuses to start/);
  });
});

describe('spanscore query', () => {
  it('reads the embedded store when the daemon is stopped, and explains when it is held', async () => {
    const dataDir = join(dir, 'clickhouse');
    const config = `
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:0 }
storage:
  clickhouse:
    embedded: { path: ${dataDir} }
admin: { endpoint: 127.0.0.1:0 }
`;
    const file = writeConfig('query.yaml', config);
    const daemon = await startDaemon(config);
    const traceId = randomTraceId();
    expect((await postJson(daemon.addresses.http!, otlpJsonRequest([{ traceId }]).body)).status).toBe(200);

    const held = await runCli(['query', '--config', file, 'SELECT count() FROM otel_traces']);
    expect(held.code).toBe(1);
    expect(held.stderr).toMatch(/in use by another process/);
    expect(held.stderr).toContain(dataDir);

    expect(await daemon.stop('SIGTERM')).toBe(0);

    const json = await runCli(['query', '--config', file, '--format', 'json', 'SELECT TraceId, SpanName FROM otel_traces']);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([{ TraceId: traceId, SpanName: 'chat' }]);

    const table = await runCli(['query', '--config', file, 'SELECT TraceId, SpanName FROM otel_traces']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^TraceId\\s+SpanName\\n-+\\s+-+\\n${traceId}\\s+chat\\n\\(1 row\\)\\n$`));

    const write = await runCli(['query', '--config', file, 'DROP TABLE otel_traces']);
    expect(write.code).toBe(1);
    expect(write.stderr).toMatch(/read-only|readonly/i);
    const still = await runCli(['query', '--config', file, '--format', 'json', 'SELECT count() AS n FROM otel_traces']);
    expect(Number(JSON.parse(still.stdout)[0].n)).toBe(1);
  });
});

describe('shipped deployment configs', () => {
  it('deploy/spanscore-clickhouse-server.yaml validates', async () => {
    const hash = (key: string) => `sha256:${createHash('sha256').update(key).digest('hex')}`;
    const env = { CLICKHOUSE_PASSWORD: 'x', SPANSCORE_INGEST_KEY_HASH: hash('ssk_apps'), SPANSCORE_OPERATOR_KEY_HASH: hash('ssk_ops') };
    const result = await runCli(['validate', '--config', 'deploy/spanscore-clickhouse-server.yaml'], { env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ClickHouse at clickhouse:8123');
    // Without the key hashes it refuses, rather than listen on 0.0.0.0 without keys.
    const refused = await runCli(['validate', '--config', 'deploy/spanscore-clickhouse-server.yaml'], { env: { CLICKHOUSE_PASSWORD: 'x' } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('SPANSCORE_INGEST_KEY_HASH');
  });
});
