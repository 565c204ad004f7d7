import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon } from '../helpers/daemon-process.js';
import { otlpJsonRequest, postJson, randomSpanId, randomTraceId, type JsonSpanInput } from '../helpers/otlp-json.js';
import { waitFor } from '../helpers/wait-for.js';

// "Nothing lost": scorers that kill their worker thread every way a thread can die, on some
// spans of a few thousand, while ExactMatch runs on all of them. Every selected span must end
// with a row for every scorer: the fault as an error row, a real score otherwise.

const TRACES = 1_000;
/** Spans of each trace: the root (selected) and two children (load only). */
const SPANS_PER_TRACE = 3;
/** Faulty scorer k misbehaves on the root spans whose index % PERIOD === k: ~7 times each. */
const PERIOD = 140;
const MEMORY_MIB = 64;

interface Faulty {
  name: string;
  exportName: string;
  body: string;
  timeout?: string;
  error: (module: string) => RegExp;
}

const FAULTY: Faulty[] = [
  {
    name: 'callback-throw',
    exportName: 'callbackThrow',
    body: `return new Promise(() => { setTimeout(() => { throw new Error('x'); }, 1); });`,
    error: (module) => new RegExp(`^scorer "callback-throw" crashed its worker: threw in a callback: Error: x \\(at ${escape(module)}:\\d+:\\d+\\)$`),
  },
  {
    name: 'unhandled-rejection',
    exportName: 'unhandledRejection',
    body: `Promise.reject(new Error('nobody listens')); return new Promise((resolve) => setTimeout(() => resolve(1), 50));`,
    error: () => /^scorer "unhandled-rejection" crashed its worker: left a promise rejection unhandled: Error: nobody listens/,
  },
  { name: 'exits', exportName: 'exits', body: `process.exit(3);`, error: () => /^scorer "exits" crashed its worker: called process\.exit\(3\)$/ },
  {
    name: 'eats-memory',
    exportName: 'eatsMemory',
    body: `const hoard = []; for (;;) hoard.push(new Array(100_000).fill(hoard.length));`,
    error: () => new RegExp(`^scorer "eats-memory" crashed its worker: out of memory \\(heap limit ${MEMORY_MIB} MiB\\)$`),
  },
  { name: 'loops', exportName: 'loops', body: `for (;;) {}`, timeout: '200ms', error: () => /^scorer "loops" timed out after 200 ms$/ },
  { name: 'never', exportName: 'never', body: `return new Promise(() => {});`, timeout: '200ms', error: () => /^scorer "never" timed out after 200 ms$/ },
];
const SCORERS = [...FAULTY.map((faulty) => faulty.name), 'ExactMatch'];

function faultyModule(): string {
  return [
    `const misbehaves = (metadata, k) => Number(metadata.index) % ${PERIOD} === k;`,
    ...FAULTY.map((faulty, k) => `export function ${faulty.exportName}({ metadata }) {\n  if (!misbehaves(metadata, ${k})) return 1;\n  ${faulty.body}\n}`),
  ].join('\n');
}

/** Root span `index` of each trace plus two children, as OTLP/JSON requests of ~300 spans. */
function requests(traceIds: string[]): string[] {
  const bodies: string[] = [];
  for (let first = 0; first < traceIds.length; first += 100) {
    const spans: JsonSpanInput[] = traceIds.slice(first, first + 100).flatMap((traceId, offset) => {
      const rootId = randomSpanId();
      const attributes = { 'input.value': 'q', 'output.value': 'a', expected: 'a', 'metadata.index': first + offset };
      return [
        { traceId, spanId: rootId, name: 'chat', attributes },
        { traceId, parentSpanId: rootId, name: 'llm.completion' },
        { traceId, parentSpanId: rootId, name: 'tool.lookup' },
      ];
    });
    bodies.push(otlpJsonRequest(spans).body);
  }
  return bodies;
}

describe('scorers that crash their workers, under load', () => {
  it('every selected span gets a row per scorer: faults as error rows, the rest scored; /healthz stays up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spanscore-faults-load-'));
    const dataDir = join(dir, 'clickhouse');
    const module = join(dir, 'faulty.mjs');
    writeFileSync(module, faultyModule());
    const declared = FAULTY.map((faulty) => `  ${faulty.name}: { module: ${module}, export: ${faulty.exportName}${faulty.timeout ? `, timeout: ${faulty.timeout}` : ''} }`);
    const daemon = await startDaemon(
      daemonConfig({
        embeddedPath: dataDir,
        grpc: false,
        extra: `
scoring:
  workers: 2
  worker_memory_mib: ${MEMORY_MIB}
  task_timeout: 2s
  queue_size: 100000
scorers:
${declared.join('\n')}
rules:
  - name: roots
    scorers: [${SCORERS.join(', ')}]
    apply_to: { root_spans: true }
`,
      }),
    );
    const admin = `http://${daemon.addresses.admin}`;
    const traceIds = Array.from({ length: TRACES }, randomTraceId);
    const unhealthy: string[] = [];
    let watching = true;
    const healthWatch = (async () => {
      while (watching) {
        try {
          // Generous: on a busy 2-CPU runner ingestion alone delays answers by a few 100 ms.
          const response = await fetch(`${admin}/healthz`, { signal: AbortSignal.timeout(5_000) });
          if (response.status !== 200) unhealthy.push(`status ${response.status}`);
        } catch (error) {
          unhealthy.push(String(error));
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    try {
      for (const body of requests(traceIds)) expect((await postJson(daemon.addresses.http!, body)).status).toBe(200);
      const expected = TRACES * SCORERS.length;
      await waitFor(async () => scoresProduced(await (await fetch(`${admin}/metrics`)).text()) >= expected, {
        timeoutMs: 40_000,
        what: `${expected} scores`,
      });
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`spanscore_storage_stored_spans_total ${TRACES * SPANS_PER_TRACE}\\b`));
      expect(metrics).not.toMatch(/spanscore_scoring_shed_total\{[^}]*\} [1-9]/);
    } finally {
      watching = false;
      await healthWatch;
      expect(await daemon.stop('SIGTERM')).toBe(0);
    }
    expect(unhealthy).toEqual([]);

    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'spanscore', logger: silentLogger() });
    try {
      const rows = await storage.query<{ TraceId: string; Scorer: string; Score: number | null; Error: string }>(
        `SELECT TraceId, Scorer, Score, Error FROM scores FINAL WHERE Rule = 'roots'`,
      );
      expect(rows).toHaveLength(TRACES * SCORERS.length);
      const byKey = new Map(rows.map((row) => [`${row.TraceId} ${row.Scorer}`, row]));
      const wrong: string[] = [];
      traceIds.forEach((traceId, index) => {
        for (const [k, scorer] of SCORERS.entries()) {
          const row = byKey.get(`${traceId} ${scorer}`);
          const faulty = FAULTY[k];
          const faulted = faulty !== undefined && index % PERIOD === k;
          const ok =
            row !== undefined &&
            (faulted ? row.Score === null && faulty.error(module).test(row.Error) : row.Score === 1 && row.Error === '');
          if (!ok) wrong.push(`span ${index}, ${scorer}: ${row === undefined ? 'no row' : `score ${row.Score}, error ${JSON.stringify(row.Error)}`}`);
        }
      });
      expect(wrong.slice(0, 20)).toEqual([]);
    } finally {
      await storage.close();
    }
  });
});

/** Sum of spanscore_scores_total over its series. */
function scoresProduced(metrics: string): number {
  let total = 0;
  for (const match of metrics.matchAll(/^spanscore_scores_total\{[^}]*\} (\d+)$/gm)) total += Number(match[1]);
  return total;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
