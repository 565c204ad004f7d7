import { status as GrpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { otlpJsonRequest, postJson, randomTraceId } from '../helpers/otlp-json.js';
import { sendTraces } from '../helpers/otel-sender.js';
import { exportRaw } from '../helpers/raw-grpc.js';
import { encodeExportRequest } from '../helpers/otlp-protobuf.js';

describe('ClickHouse down, then back', () => {
  let server: ClickHouseServer;
  let daemon: RunningDaemon;
  let storage: ClickHouseStorage;

  beforeAll(async () => {
    server = await startClickHouseServer();
    storage = new ClickHouseStorage({ url: server.url, database: 'spanscore', logger: silentLogger() });
    daemon = await startDaemon(
      daemonConfig({
        url: server.url,
        clickhouse: '    request_timeout: 2s',
        extra: `rules:\n  - name: roots\n    scorers: [ExactMatch]\n`,
      }),
    );
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await storage?.close();
    await server?.stop();
  });

  it('answers 503 / UNAVAILABLE while down, acknowledges nothing unstored, and stores retried requests after', async () => {
    const before = randomTraceId();
    expect((await postJson(daemon.addresses.http!, otlpJsonRequest([{ traceId: before }]).body)).status).toBe(200);

    await server.stop();

    const down = randomTraceId();
    const response = await postJson(daemon.addresses.http!, otlpJsonRequest([{ traceId: down }]).body);
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    const grpc = await exportRaw(daemon.addresses.grpc!, encodeExportRequest(randomTraceId()));
    expect(grpc.error?.code).toBe(GrpcStatus.UNAVAILABLE);
    const ready = await fetch(`http://${daemon.addresses.admin}/readyz`);
    expect(ready.status).toBe(503);

    // The stock exporter retries 503s with backoff; bring ClickHouse back while it does.
    const sending = sendTraces('http/protobuf', daemon.addresses.http!, { count: 2, serviceName: 'outage' });
    await new Promise((r) => setTimeout(r, 1500));
    await server.restart();
    const { exporter, traces } = await sending;
    expect(exporter.failed).toEqual([]);
    expect(exporter.acknowledged).toHaveLength(6);

    const stored = await storage.query<{ TraceId: string; n: string }>(
      `SELECT TraceId, count() AS n FROM otel_traces WHERE SpanName NOT LIKE 'score %' GROUP BY TraceId`,
    );
    const byTrace = new Map(stored.map((r) => [r.TraceId, Number(r.n)]));
    expect(byTrace.get(before)).toBe(1);
    expect(byTrace.has(down)).toBe(false);
    for (const t of traces) expect(byTrace.get(t.traceId)).toBe(3);
    expect((await fetch(`http://${daemon.addresses.admin}/readyz`)).status).toBe(200);
  });
});
