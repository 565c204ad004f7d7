import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon } from '../helpers/daemon-process.js';
import { otlpJsonRequest, postJson, randomTraceId } from '../helpers/otlp-json.js';

describe('scorers that fail', () => {
  it('a throwing, a looping and a garbage-returning scorer yield error rows; the pipeline goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spanscore-faulty-'));
    const dataDir = join(dir, 'clickhouse');
    writeFileSync(join(dir, 'throws.mjs'), `export default function throws(args) {\n  throw new Error('boom on ' + args.span.name);\n}\n`);
    writeFileSync(join(dir, 'loops.mjs'), `export default function loops() {\n  for (;;) {}\n}\n`);
    writeFileSync(join(dir, 'garbage.mjs'), `export default () => 'definitely';\n`);
    const daemon = await startDaemon(
      daemonConfig({
        embeddedPath: dataDir,
        grpc: false,
        extra: `
scoring:
  workers: 2
scorers:
  throws: { module: ${join(dir, 'throws.mjs')} }
  loops: { module: ${join(dir, 'loops.mjs')}, timeout: 300ms }
  garbage: { module: ${join(dir, 'garbage.mjs')} }
rules:
  - name: everything
    scorers: [throws, loops, garbage, ExactMatch]
`,
      }),
    );
    const firstWave = [randomTraceId(), randomTraceId(), randomTraceId()];
    const secondWave = [randomTraceId(), randomTraceId()];
    try {
      expect((await postJson(daemon.addresses.http!, otlpJsonRequest(firstWave.map((traceId) => ({ traceId }))).body)).status).toBe(200);
      // Let the first wave hit the faulty scorers before more traffic arrives.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await postJson(daemon.addresses.http!, otlpJsonRequest(secondWave.map((traceId) => ({ traceId }))).body)).status).toBe(200);
      expect((await fetch(`http://${daemon.addresses.admin}/healthz`)).status).toBe(200);
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0);
    }

    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'spanscore', logger: silentLogger() });
    try {
      const rows = await storage.query<{ TraceId: string; Scorer: string; Score: number | null; Error: string; ScoringSpanId: string }>(
        `SELECT TraceId, Scorer, Score, Error, ScoringSpanId FROM scores FINAL`,
      );
      const all = [...firstWave, ...secondWave];
      expect(rows).toHaveLength(all.length * 4);
      for (const traceId of all) {
        const of = (scorer: string) => rows.find((r) => r.TraceId === traceId && r.Scorer === scorer)!;
        expect(of('ExactMatch')).toMatchObject({ Score: 1, Error: '' });
        expect(of('throws').Score).toBeNull();
        expect(of('throws').Error).toContain('boom on chat');
        expect(of('throws').Error).toContain(`${join(dir, 'throws.mjs')}:2`);
        expect(of('loops').Score).toBeNull();
        expect(of('loops').Error).toMatch(/timed out after 300 ?ms/);
        expect(of('garbage').Score).toBeNull();
        expect(of('garbage').Error).toMatch(/not a score/);
      }
      const failedSpans = await storage.query<{ n: string }>(
        `SELECT count() AS n FROM otel_traces WHERE SpanName IN ('score throws', 'score loops', 'score garbage') AND StatusCode = 'Error'`,
      );
      expect(Number(failedSpans[0]!.n)).toBe(all.length * 3);
    } finally {
      await storage.close();
    }
  });
});
