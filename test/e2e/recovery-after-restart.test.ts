import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { metricSum, metricsText, sql } from '../helpers/admin-api.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { sendTraces } from '../helpers/otel-sender.js';
import { waitFor } from '../helpers/wait-for.js';
import { unscoredRootsSql } from '../helpers/score-coverage.js';

/**
 * `kill -9` while a slow scorer has most of the selected spans queued, and a restart with the
 * default recovery settings (`min_age` 2 min, `interval` 5 min): the restarted daemon knows its
 * own live pipeline held nothing before it started, so it scores the spans this replica
 * stored at once, not after `min_age` and the next sweep (7 minutes and more).
 */

const SERVICE = 'recovery-after-restart';
const TRACES = 300;

const dir = mkdtempSync(join(tmpdir(), 'spanscore-recovery-restart-'));
// Long enough that nearly every task is still queued or running at the kill.
writeFileSync(join(dir, 'slow.mjs'), 'export default async () => { await new Promise((resolve) => setTimeout(resolve, 3_000)); return 1; };\n');
let daemon: RunningDaemon | undefined;

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const UNSCORED_SQL = unscoredRootsSql(SERVICE, 'slow-answers');

describe('restart after kill -9 with selected spans unscored', () => {
  it('scores every selected span this replica stored within seconds, with the default min_age and interval', async () => {
    const config = daemonConfig({
      embeddedPath: join(dir, 'clickhouse'),
      grpc: false,
      extra: `
service: { instance_id: recovery-e2e }
scoring: { workers: 1 }
scorers:
  slow: { module: ${join(dir, 'slow.mjs')} }
rules:
  - name: slow-answers
    scorers: [slow]
`,
    });
    daemon = await startDaemon(config);
    const { exporter } = await sendTraces('http/protobuf', daemon.addresses.http!, { count: TRACES, serviceName: SERVICE });
    expect(exporter.failed).toEqual([]);
    const admin = daemon.addresses.admin;
    const stored = await sql<{ n: string }>(admin, `SELECT uniqExact(TraceId, SpanId) AS n FROM otel_traces WHERE ServiceName = '${SERVICE}' AND ParentSpanId = ''`);
    expect(Number(stored[0]!.n)).toBe(TRACES);
    const unscoredAtKill = Number((await sql<{ n: string }>(admin, UNSCORED_SQL))[0]!.n);
    // The scorer takes 3 s a call: most of the spans are queued or being scored, none written.
    expect(unscoredAtKill).toBeGreaterThan(TRACES / 2);

    await daemon.stop('SIGKILL');
    daemon = await startDaemon(config);
    const restartedAt = Date.now();
    const restarted = daemon.addresses.admin;
    await waitFor(async () => Number((await sql<{ n: string }>(restarted, UNSCORED_SQL))[0]!.n) === 0, {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: 'every selected span scored after the restart',
    });
    const scoredAfterMs = Date.now() - restartedAt;

    const [scores] = await sql<{ spans: string; rows: string; ok: string }>(
      restarted,
      `SELECT uniqExact(TraceId, SpanId) AS spans, count() AS rows, countIf(Score = 1) AS ok FROM scores FINAL WHERE Rule = 'slow-answers'`,
    );
    expect(Number(scores!.spans)).toBe(TRACES);
    expect(Number(scores!.rows)).toBe(TRACES);
    expect(Number(scores!.ok)).toBe(TRACES);
    const metrics = await metricsText(restarted);
    expect(metricSum(metrics, 'spanscore_scoring_recovered_spans_total', { rule: 'slow-answers' })).toBeGreaterThanOrEqual(unscoredAtKill);
    expect(metricSum(metrics, 'spanscore_scoring_recovery_backlog_spans')).toBe(0);
    console.log(`recovery after restart: ${unscoredAtKill} of ${TRACES} selected spans unscored at the kill, all scored ${scoredAfterMs} ms after the restart`);
    // min_age alone is 120 s: well under it.
    expect(scoredAfterMs).toBeLessThan(60_000);
  }, 150_000);
});
