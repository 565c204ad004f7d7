import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon } from '../helpers/daemon-process.js';
import { randomTraceId } from '../helpers/otlp-json.js';
import { encodeExportRequest } from '../helpers/otlp-protobuf.js';

const TRACES = 10_000;

/** Runs a fresh daemon over the trace ids and returns the set of trace ids it scored. */
async function scoredTraceIds(traceIds: string[]): Promise<Set<string>> {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'spanscore-sampling-')), 'clickhouse');
  const daemon = await startDaemon(
    daemonConfig({
      embeddedPath: dataDir,
      grpc: false,
      extra: `
scoring:
  workers: 1
rules:
  - name: sampled
    scorers: [ExactMatch]
    sampling_rate: 0.3
    apply_to: { root_spans: true }
`,
    }),
  );
  try {
    for (let i = 0; i < traceIds.length; i += 1000) {
      const response = await fetch(`http://${daemon.addresses.http}/v1/traces`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-protobuf' },
        body: encodeExportRequest(traceIds.slice(i, i + 1000)),
      });
      expect(response.status).toBe(200);
    }
    const metrics = await (await fetch(`http://${daemon.addresses.admin}/metrics`)).text();
    expect(metrics).toMatch(/spanscore_storage_stored_spans_total 10000/);
  } finally {
    expect(await daemon.stop('SIGTERM')).toBe(0);
  }
  const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'spanscore', logger: silentLogger() });
  try {
    const rows = await storage.query<{ TraceId: string }>(`SELECT TraceId FROM scores FINAL WHERE Rule = 'sampled'`);
    expect(rows.length).toBe(new Set(rows.map((r) => r.TraceId)).size);
    return new Set(rows.map((r) => r.TraceId));
  } finally {
    await storage.close();
  }
}

describe('deterministic sampling by trace id', () => {
  it('scores 30% ± 2% of 10,000 traces at 0.3, the same set on a second run', async () => {
    const traceIds = Array.from({ length: TRACES }, randomTraceId);
    const first = await scoredTraceIds(traceIds);
    expect(first.size / TRACES).toBeGreaterThanOrEqual(0.28);
    expect(first.size / TRACES).toBeLessThanOrEqual(0.32);

    // Independently of the daemon's code: W3C level-2 randomness (low 56 bits) >= (1 - p) * 2^56.
    const threshold = BigInt(Math.round(0.7 * 2 ** 56));
    const expected = new Set(traceIds.filter((t) => BigInt(`0x${t.slice(18)}`) >= threshold));
    expect(first).toEqual(expected);

    const second = await scoredTraceIds(traceIds);
    expect(second).toEqual(first);
  });
});
