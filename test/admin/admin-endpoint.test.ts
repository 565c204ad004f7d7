import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon } from '../helpers/daemon-process.js';
import { otlpJsonRequest, postJson, randomTraceId } from '../helpers/otlp-json.js';

describe('admin endpoint', () => {
  it('serves health, readiness and Prometheus metrics, and logs a ready line; SIGINT exits 0', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'spanscore-admin-')), 'clickhouse');
    const daemon = await startDaemon(
      daemonConfig({ embeddedPath: dataDir, extra: `rules:\n  - name: roots\n    scorers: [ExactMatch]\n` }),
    );
    try {
      const admin = `http://${daemon.addresses.admin}`;
      const ready = daemon.logs.find((l) => String(l.msg).startsWith('spanscore ready'))!;
      expect(ready.msg).toContain(daemon.addresses.http!);
      expect(ready.msg).toContain(daemon.addresses.grpc!);
      expect(await (await fetch(`${admin}/healthz`)).json()).toEqual({ status: 'ok' });
      const readyz = await fetch(`${admin}/readyz`);
      expect(readyz.status).toBe(200);
      expect((await fetch(`${admin}/nope`)).status).toBe(404);
      expect((await fetch(`${admin}/healthz`, { method: 'POST' })).status).toBe(405);

      const { body } = otlpJsonRequest([{ traceId: randomTraceId() }, { traceId: randomTraceId() }, { traceId: 'zz' }]);
      expect((await postJson(daemon.addresses.http!, body)).status).toBe(200);
      expect((await postJson(daemon.addresses.http!, '{')).status).toBe(400);

      // Scores are asynchronous: wait for both to be counted.
      let text = '';
      for (let i = 0; i < 100 && !/spanscore_scores_total\{scorer="ExactMatch",outcome="ok"\} 2/.test(text); i++) {
        await new Promise((r) => setTimeout(r, 100));
        text = await (await fetch(`${admin}/metrics`)).text();
      }
      expect(text).toMatch(/spanscore_receiver_accepted_spans_total\{transport="http"\} 2/);
      expect(text).toMatch(/spanscore_receiver_refused_spans_total\{transport="http"\} 1/);
      expect(text).toMatch(/spanscore_receiver_requests_total\{transport="http",status="200"\} 1/);
      expect(text).toMatch(/spanscore_receiver_requests_total\{transport="http",status="400"\} 1/);
      expect(text).toMatch(/spanscore_storage_stored_spans_total 2/);
      expect(text).toMatch(/spanscore_storage_insert_batch_rows_count\{table="otel_traces"\} \d+/);
      expect(text).toMatch(/spanscore_storage_insert_duration_seconds_count\{table="otel_traces",outcome="ok"\} \d+/);
      expect(text).toMatch(/spanscore_scoring_queue_depth\{queue="workers"\} 0/);
      expect(text).toMatch(/spanscore_scores_total\{scorer="ExactMatch",outcome="ok"\} 2/);
      expect(text).toMatch(/# TYPE spanscore_scoring_shed_total counter/);
      expect(text).toMatch(/spanscore_process_resident_memory_bytes \d+/);
    } finally {
      expect(await daemon.stop('SIGINT')).toBe(0);
    }
  });
});
