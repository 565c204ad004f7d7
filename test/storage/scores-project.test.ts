import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../src/admin/logger.js';
import { ApiKeys } from '../../src/auth/api-keys.js';
import { HttpReceiver } from '../../src/receivers/http-receiver.js';
import { ScoreRecorder } from '../../src/scoring/score-recorder.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { openEmbeddedConnection } from '../../src/storage/embedded-connection.js';
import { SpanReader } from '../../src/storage/span-reader.js';
import { encodeRequest, httpRequest, requestObject, spanObject } from '../receivers/receiver-test-kit.js';
import { scoreRow } from './storage-fixtures.js';

const dataDir = mkdtempSync(join(tmpdir(), 'spanscore-project-'));
const logger = silentLogger();
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The scores table as versions before projects created it. */
const SCORES_WITHOUT_PROJECT = (database: string) => `CREATE TABLE \`${database}\`.scores (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ScoringSpanId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    Rule LowCardinality(String) CODEC(ZSTD(1)),
    Scorer LowCardinality(String) CODEC(ZSTD(1)),
    Score Nullable(Float64) CODEC(ZSTD(1)),
    Error String CODEC(ZSTD(1)),
    Details String CODEC(ZSTD(1)),
    Source LowCardinality(String) CODEC(ZSTD(1)),
    ScoredAt DateTime64(9) CODEC(Delta, ZSTD(1)),
    DurationNs UInt64 CODEC(T64, ZSTD(1)),
    INDEX idx_timestamp Timestamp TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ScoredAt)
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Rule, Scorer, TraceId, SpanId)`;

describe('scores.Project', () => {
  let storage: ClickHouseStorage;
  beforeAll(async () => {
    storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'project_current', logger });
    await storage.migrate();
  });
  afterAll(async () => {
    await storage?.close();
  });

  it('migrate adds the column to a scores table created without it, keeping its rows', async () => {
    const database = 'project_upgrade';
    // By hand, in a session of our own: what an older spanscore left behind.
    const client = createClient({ connection: await openEmbeddedConnection(dataDir) });
    try {
      await client.command({ query: `CREATE DATABASE ${database}` });
      await client.command({ query: SCORES_WITHOUT_PROJECT(database) });
      await client.command({
        query: `INSERT INTO ${database}.scores (Timestamp, TraceId, SpanId, ServiceName, Rule, Scorer, Score, ScoredAt)
                VALUES ('2023-11-14 22:13:20', 'old-trace', 'old-span', 'legacy', 'r', 's', 1, '2023-11-14 22:13:21')`,
      });
    } finally {
      await client.close();
    }

    const upgraded = new ClickHouseStorage({ embeddedPath: dataDir, database, logger });
    try {
      await upgraded.migrate();
      await upgraded.migrate(); // and again: the upgrade is a no-op once done
      const columns = await upgraded.query<{ name: string; type: string }>('DESCRIBE TABLE scores');
      const names = columns.map((c) => c.name);
      expect(names.slice(0, 7)).toEqual(['Timestamp', 'TraceId', 'SpanId', 'ScoringSpanId', 'ServiceName', 'Project', 'SpanName']);
      expect(columns.find((c) => c.name === 'Project')?.type).toBe('LowCardinality(String)');

      const row = scoreRow({ Project: 'shop' });
      await upgraded.insertScores([row]);
      const rows = await upgraded.query<{ TraceId: string; Project: string }>("SELECT TraceId, Project FROM scores ORDER BY TraceId = 'old-trace' DESC");
      expect(rows).toEqual([
        { TraceId: 'old-trace', Project: '' },
        { TraceId: row.TraceId, Project: 'shop' },
      ]);
    } finally {
      await upgraded.close();
    }
  });

  it('records the project of spans received over OTLP with their scores', async () => {
    const receiver = new HttpReceiver({
      endpoint: '127.0.0.1:0',
      consumer: { consume: (rows) => storage.insertSpans(rows) },
      metrics: new DaemonMetrics({ processMetrics: false }),
      logger,
      auth: () => new ApiKeys([]),
      instanceId: 'replica-1',
    });
    const address = await receiver.start();
    const traceIds = ['aa', 'bb'].map((byte) => Buffer.alloc(16, Number.parseInt(byte, 16)));
    try {
      const send = (traceId: Buffer, headers: Record<string, string>) =>
        httpRequest(address, {
          headers: { 'Content-Type': 'application/x-protobuf', ...headers },
          body: encodeRequest(requestObject([spanObject({ traceId })])),
        });
      expect((await send(traceIds[0]!, { 'x-spanscore-project': 'support' })).status).toBe(200);
      expect((await send(traceIds[1]!, {})).status).toBe(200);
    } finally {
      await receiver.shutdown(1000);
    }

    const reader = new SpanReader(storage);
    const stored = await Promise.all(traceIds.map(async (id) => (await reader.byTrace(id.toString('hex')))[0]!));
    expect(stored.map((span) => [span.ResourceAttributes['spanscore.project'], span.ResourceAttributes['spanscore.instance']])).toEqual([
      ['support', 'replica-1'],
      ['checkout', 'replica-1'],
    ]);

    const recorder = new ScoreRecorder({ storage, metrics: new DaemonMetrics({ processMetrics: false }), logger });
    const outcome = { scorer: 'exact', score: 1, error: '', metadata: {}, durationNs: 10, startedAt: '1700000001000000000' };
    for (const span of stored) recorder.record(span, 'answers', outcome);
    await recorder.flush();
    const scores = await storage.query<{ TraceId: string; ServiceName: string; Project: string }>(
      'SELECT TraceId, ServiceName, Project FROM scores FINAL WHERE TraceId IN {ids:Array(String)} ORDER BY TraceId',
      { ids: traceIds.map((id) => id.toString('hex')) },
    );
    expect(scores).toEqual([
      { TraceId: traceIds[0]!.toString('hex'), ServiceName: 'checkout', Project: 'support' },
      { TraceId: traceIds[1]!.toString('hex'), ServiceName: 'checkout', Project: 'checkout' },
    ]);
    const scoringSpans = await storage.query<{ project: string }>(
      "SELECT ResourceAttributes['spanscore.project'] AS project FROM otel_traces WHERE ScopeName = 'spanscore' ORDER BY TraceId",
    );
    expect(scoringSpans).toEqual([{ project: 'support' }, { project: 'checkout' }]);
  });
});
