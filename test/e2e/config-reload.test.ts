import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { startOpenAiServer, type OpenAiServer } from '../helpers/openai-server.js';
import { sendTraces } from '../helpers/otel-sender.js';
import { otlpJsonRequest, postJson } from '../helpers/otlp-json.js';
import { createHash } from 'node:crypto';
import { waitFor } from '../helpers/wait-for.js';

/**
 * A judge paused by a 401 stays paused (no requests) until a reload; SIGHUP and file changes
 * reload; a broken file is refused and the running rules go on.
 */
describe('config reload', () => {
  let server: OpenAiServer;
  let keyIsValid = false;

  beforeAll(async () => {
    server = await startOpenAiServer(() => (keyIsValid ? { kind: 'choice', choice: 'Y' } : { kind: 'error', status: 401, message: 'Incorrect API key provided' }));
  });

  afterAll(async () => {
    await server.close();
  });

  it('resumes a paused judge on SIGHUP, refuses a broken file, and picks up a new rule from the file', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'spanscore-reload-')), 'clickhouse');
    const config = (extraRules = '') =>
      daemonConfig({
        embeddedPath: dataDir,
        grpc: false,
        extra: `
scoring: { workers: 1 }
scorers:
  judge:
    prompt: "Is {{output}} right?"
    choice_scores: { "Y": 1, "N": 0 }
    model: gpt-test
    base_url: ${server.baseUrl}
    retry: { max_retries: 0 }
rules:
  - name: answers
    scorers: [judge, ExactMatch]
${extraRules}`,
      });
    const daemon = await startDaemon(config());
    const metrics = async () => (await fetch(`http://${daemon.addresses.admin}/metrics`)).text();
    const send = async () => (await sendTraces('http/protobuf', daemon.addresses.http!, { count: 1 })).traces[0]!.traceId;
    const logged = (pattern: RegExp) => daemon.logs.filter((entry) => pattern.test(String(entry['msg']))).length;
    const traces: string[] = [];
    try {
      traces.push(await send());
      await waitFor(async () => /spanscore_scorer_state\{scorer="judge",state="paused"\} 1/.test(await metrics()), { timeoutMs: 10_000 });
      traces.push(await send());
      await waitFor(async () => /spanscore_scorer_skipped_total\{scorer="judge",reason="paused"\} 1/.test(await metrics()), { timeoutMs: 10_000 });
      expect(server.requests).toHaveLength(1);

      keyIsValid = true;
      daemon.child.kill('SIGHUP');
      await waitFor(() => logged(/^config reloaded/) === 1, { timeoutMs: 10_000 });
      expect(await metrics()).toMatch(/spanscore_scorer_state\{scorer="judge",state="active"\} 1/);
      traces.push(await send());
      await waitFor(() => server.requests.length === 2, { timeoutMs: 10_000 });

      writeFileSync(daemon.configFile, `${config()}\n  - name: broken\n    scorers: [NoSuchScorer]\n`);
      await waitFor(() => logged(/^config reload refused/) === 1, { timeoutMs: 10_000 });
      const refusal = daemon.logs.find((entry) => /^config reload refused/.test(String(entry['msg'])))!;
      expect(String(refusal['msg'])).toMatch(/rules\[1\]\.scorers\[0\].*NoSuchScorer/);
      traces.push(await send());
      await waitFor(() => server.requests.length === 3, { timeoutMs: 10_000 });

      writeFileSync(daemon.configFile, config(`  - name: similar\n    scorers: [Levenshtein]\n`));
      await waitFor(() => logged(/^config reloaded/) === 2, { timeoutMs: 10_000 });
      traces.push(await send());
      await waitFor(() => server.requests.length === 4, { timeoutMs: 10_000 });
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0);
    }

    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'spanscore', logger: silentLogger() });
    try {
      const rows = await storage.query<{ TraceId: string; Rule: string; Scorer: string; Score: number | null; Error: string }>(
        `SELECT TraceId, Rule, Scorer, Score, Error FROM scores FINAL ORDER BY Rule, Scorer`,
      );
      const of = (trace: number) => rows.filter((row) => row.TraceId === traces[trace]).map((row) => `${row.Rule}/${row.Scorer}=${row.Score ?? 'error'}`);
      expect(of(0)).toEqual(['answers/ExactMatch=1', 'answers/judge=error']);
      expect(rows.find((row) => row.TraceId === traces[0] && row.Scorer === 'judge')!.Error).toMatch(/401.*paused/);
      expect(of(1)).toEqual(['answers/ExactMatch=1']);
      expect(of(2)).toEqual(['answers/ExactMatch=1', 'answers/judge=1']);
      expect(of(3)).toEqual(['answers/ExactMatch=1', 'answers/judge=1']);
      expect(of(4)).toEqual(['answers/ExactMatch=1', 'answers/judge=1', 'similar/Levenshtein=1']);
    } finally {
      await storage.close();
    }
  });

  it('swaps API keys on reload: a new key works at once, a removed one is refused', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'spanscore-reload-keys-')), 'clickhouse');
    const hash = (key: string) => `sha256:${createHash('sha256').update(key).digest('hex')}`;
    const withKey = (key: string) => daemonConfig({ embeddedPath: dataDir, grpc: false, extra: `auth:\n  keys:\n    - { name: k, hash: "${hash(key)}", permissions: [ingest] }\n` });
    const daemon: RunningDaemon = await startDaemon(withKey('ssk_old'));
    const send = async (key: string) => (await postJson(daemon.addresses.http!, otlpJsonRequest([{}]).body, { authorization: `Bearer ${key}` })).status;
    try {
      expect(await send('ssk_old')).toBe(200);
      expect(await send('ssk_new')).toBe(401);
      writeFileSync(daemon.configFile, withKey('ssk_new'));
      daemon.child.kill('SIGHUP');
      await waitFor(() => daemon.logs.some((entry) => /^config reloaded/.test(String(entry['msg']))), { timeoutMs: 10_000 });
      expect(await send('ssk_new')).toBe(200);
      expect(await send('ssk_old')).toBe(401);
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0);
    }
  });
});
