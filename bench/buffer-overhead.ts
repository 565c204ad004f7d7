import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { silentLogger } from '../src/admin/logger.js';
import type { SpanRow } from '../src/pipeline/span-row.js';
import { BufferLog } from '../src/storage/buffer/buffer-log.js';
import { BufferMetrics } from '../src/storage/buffer/buffer-metrics.js';
import { BufferingInserter } from '../src/storage/buffer/buffering-inserter.js';

/**
 * What the durable buffer costs the daemon per span while ClickHouse is up: the same batches
 * (the group commit's mean insert of ~4,000 spans in the ingest benchmark) handed to an insert
 * that returns at once, directly and through the BufferingInserter (a token, a timer and a race
 * per batch; nothing is written to disk). The end-to-end ingest rows (`server http` against
 * `server http + buffer`) carry too much noise from ClickHouse sharing the two cores to show a
 * difference this small, so it is measured here, in CPU time of this process.
 *
 *   node .bench-build/bench/buffer-overhead.js [batches]
 */
const SPANS_PER_BATCH = 4_000;
const batches = Number(process.argv[2] ?? 20_000);
const rows = Array.from({ length: SPANS_PER_BATCH }, () => ({}) as SpanRow);

async function cpuMicros(run: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  await run();
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

const dir = mkdtempSync(join(tmpdir(), 'spanscore-bench-buffer-'));
try {
  const insert = async (_rows: SpanRow[], _token: string): Promise<void> => undefined;
  const inserter = new BufferingInserter({
    log: await BufferLog.open(dir, { maxBytes: 1 << 30, fsync: true }),
    insert,
    spillAfterMs: 5_000,
    onReplayed: () => undefined,
    metrics: new BufferMetrics(new Registry()),
    logger: silentLogger(),
  });
  inserter.start();
  const direct = async () => {
    for (let i = 0; i < batches; i++) await insert(rows, 'token');
  };
  const buffered = async () => {
    for (let i = 0; i < batches; i++) await inserter.insert(rows);
  };
  // Warm-up, then the best of five rounds each, taking turns.
  await direct();
  await buffered();
  let bestDirect = Infinity;
  let bestBuffered = Infinity;
  for (let round = 0; round < 5; round++) {
    bestDirect = Math.min(bestDirect, await cpuMicros(direct));
    bestBuffered = Math.min(bestBuffered, await cpuMicros(buffered));
  }
  const spans = batches * SPANS_PER_BATCH;
  const perBatch = (bestBuffered - bestDirect) / batches;
  console.log(
    `buffer overhead with ClickHouse up: ${perBatch.toFixed(2)} µs of CPU per batch of ${SPANS_PER_BATCH} spans = ` +
      `${((bestBuffered - bestDirect) / spans * 1000).toFixed(3)} ns per span (direct ${(bestDirect / batches).toFixed(2)} µs/batch, ` +
      `through the buffer ${(bestBuffered / batches).toFixed(2)} µs/batch, ${batches} batches, best of 5); nothing written to disk: ${inserter.bufferedSpans} spans buffered`,
  );
  await inserter.stop();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
