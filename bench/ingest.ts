import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startClickHouseServer, type ClickHouseServer } from '../test/helpers/clickhouse-server.js';
import { startDaemon } from '../test/helpers/daemon-process.js';

/**
 * `npm run bench`: sustained OTLP/HTTP protobuf ingest into the daemon from a separate
 * load-generator process, for both storage modes. Prints spans/s acknowledged, the
 * daemon's CPU per span (its own process only: /proc/PID/stat utime+stime) and its peak
 * RSS (VmHWM).
 */
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const SPANS_PER_REQUEST = Number(process.env.BENCH_SPANS_PER_REQUEST ?? 1000);
const CLOCK_TICKS = 100; // USER_HZ on Linux

function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of /proc/PID/stat (1-based), i.e. 11 and 12 after the comm field.
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS;
}

function peakRssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

interface LoadResult {
  ackedSpans: number;
  elapsedMs: number;
  requests: number;
  statuses: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
}

function runLoad(address: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'load-generator.js'), JSON.stringify({ address, concurrency: CONCURRENCY, durationMs: DURATION_MS, spansPerRequest: SPANS_PER_REQUEST })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`load generator exited ${code}`))));
  });
}

async function benchMode(mode: 'embedded' | 'clickhouse-server'): Promise<Record<string, string | number>> {
  let server: ClickHouseServer | undefined;
  const storage =
    mode === 'embedded'
      ? `    embedded: { path: ${join(mkdtempSync(join(tmpdir(), 'spanscore-bench-')), 'clickhouse')} }`
      : `    url: ${(server = await startClickHouseServer()).url}`;
  const daemon = await startDaemon(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:0 }
storage:
  clickhouse:
${storage}
admin: { endpoint: 127.0.0.1:0 }
service: { log_level: warn }
`);
  try {
    const pid = daemon.child.pid!;
    const cpuBefore = cpuMicros(pid);
    const load = await runLoad(daemon.addresses.http!);
    const cpu = cpuMicros(pid) - cpuBefore;
    return {
      mode,
      'spans/s': Math.round((load.ackedSpans / load.elapsedMs) * 1000),
      'daemon CPU µs/span': load.ackedSpans > 0 ? Number((cpu / load.ackedSpans).toFixed(1)) : 'n/a',
      'ack p50 ms': Number(load.p50Ms.toFixed(1)),
      'ack p99 ms': Number(load.p99Ms.toFixed(1)),
      'peak RSS MiB': Math.round(peakRssMiB(pid)),
      'acked spans': load.ackedSpans,
      statuses: JSON.stringify(load.statuses),
    };
  } finally {
    await daemon.stop('SIGTERM');
    await server?.stop();
  }
}

const rows = [];
for (const mode of ['embedded', 'clickhouse-server'] as const) {
  process.stderr.write(`bench: ${mode}, ${CONCURRENCY} senders x ${SPANS_PER_REQUEST}-span requests for ${DURATION_MS / 1000}s...\n`);
  rows.push(await benchMode(mode));
}
console.table(rows);
