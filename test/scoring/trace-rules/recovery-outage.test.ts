import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../../src/admin/logger.js';
import { INSTANCE_ATTRIBUTE } from '../../../src/pipeline/project.js';
import { ScoringProcessor } from '../../../src/scoring/scoring-processor.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../../../src/scoring/span-fields.js';
import { ClickHouseStorage } from '../../../src/storage/clickhouse-storage.js';
import { startClickHouseServer, type ClickHouseServer } from '../../helpers/clickhouse-server.js';
import { waitFor } from '../../helpers/wait-for.js';
import { hexId, spanRow } from '../../storage/storage-fixtures.js';

/**
 * A daemon may start while ClickHouse is down; the traces its previous run left pending must
 * still be recovered once ClickHouse is back, not only at the next restart.
 */
describe('trace rule recovery while ClickHouse is unreachable', () => {
  let server: ClickHouseServer;
  let storage: ClickHouseStorage;

  beforeAll(async () => {
    server = await startClickHouseServer();
    storage = new ClickHouseStorage({ url: server.url, database: 'recovery_outage', logger: silentLogger(), requestTimeoutMs: 2_000 });
    await storage.migrate();
  });

  afterAll(async () => {
    await storage?.close();
    await server?.dispose();
  });

  it('retries recovery until ClickHouse answers, then scores the pending trace once', async () => {
    const root = spanRow({
      ParentSpanId: '',
      SpanName: 'agent',
      Timestamp: String(BigInt(Date.now() - 60_000) * 1_000_000n),
      Duration: '1000000',
      ResourceAttributes: { 'service.name': 'agent-app', [INSTANCE_ATTRIBUTE]: 'restarted' },
      SpanAttributes: { output: 'x', expected: 'x' },
      TraceId: hexId(16),
    });
    await storage.insertSpans([root]);
    await server.stop();

    const scoring = new ScoringProcessor({
      rules: [{ name: 'after-outage', description: '', scorers: ['ExactMatch'], samplingRate: 1, applyTo: { rootSpans: true, spanNames: [] }, enabled: true, scope: 'trace', idleSeconds: 1 }],
      scorers: new Map(),
      conventions: DEFAULT_FIELD_CONVENTIONS,
      storage,
      metrics: new DaemonMetrics({ processMetrics: false }),
      logger: silentLogger(),
      workers: 1,
      instanceId: 'restarted',
      recorder: { flushIntervalMs: 10 },
    });
    await scoring.start();
    // The first attempt fails on the refused connection; the retry comes 5 s later.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(scoring.pendingTraces).toBe(0);
    await server.restart();

    const scores = () => storage.query<{ SpanId: string; Score: number }>("SELECT SpanId, Score FROM scores WHERE Rule = 'after-outage'");
    await waitFor(async () => (await scores()).length > 0, { timeoutMs: 20_000, what: 'the recovered trace scored' });
    await scoring.shutdown(5_000);
    expect(await scores()).toEqual([{ SpanId: root.SpanId, Score: 1 }]);
  });
});
