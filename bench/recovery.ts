import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/admin/logger.js';
import { ClickHouseStorage } from '../src/storage/clickhouse-storage.js';
import { metricSum, metricsText } from '../test/helpers/admin-api.js';
import { startDaemon, type RunningDaemon } from '../test/helpers/daemon-process.js';
import { buildLlmSpanRequests } from './llm-span-request.js';
import { statusMiB } from './proc-stats.js';

/**
 * `npm run bench:recovery`: how fast scoring recovery works off a backlog on this machine.
 *
 * A daemon (embedded ClickHouse) stores RECOVERY_SPANS LLM-style spans (default 50,000) with
 * its rule disabled, so none is scored; it stops, and a second daemon on the same store and
 * instance id starts with the rule enabled and the default recovery settings. Its start-up
 * sweep takes the spans at once (this instance stored them before it started) and sweeps
 * again while a sweep stops at `max_spans` (10,000). The figure is selected spans scored
 * (`spanscore_scoring_recovered_spans_total`) per second from the second daemon's ready line
 * until the backlog is gone, with its peak RSS; nothing else is sent meanwhile.
 *
 * RECOVERY_SCORER (default ExactMatch) picks the scorer: a cheap one measures recovery itself
 * (reading pages back, checking, queueing, writing scores), a costly one the scorers.
 */

const SPANS_PER_REQUEST = 1_000;
const RULE = 'bench-recovery';

function post(address: string, body: Buffer, agent: Agent): Promise<number> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port: Number(port), path: '/v1/traces', method: 'POST', agent, headers: { 'Content-Type': 'application/x-protobuf', 'Content-Length': body.length } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends every request, four at a time, again after a refusal (as an exporter would). */
async function store(address: string, requests: Buffer[]): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const body = requests[next++]!;
      for (;;) {
        const status = await post(address, body, agent);
        if (status === 200) break;
        if (status !== 503 && status !== 429) throw new Error(`storing the bench spans: HTTP ${status}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  agent.destroy();
}

function config(dataDir: string, scorer: string, enabled: boolean): string {
  return `
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:0 }
storage:
  clickhouse:
    embedded: { path: ${dataDir} }
admin: { endpoint: 127.0.0.1:0, max_query_rows: 100000 }
service: { instance_id: bench-recovery }
rules:
  - name: ${RULE}
    scorers: [${scorer}]
    apply_to: { span_names: [chat, llm.completion] }
    enabled: ${enabled}
`;
}

async function main(): Promise<void> {
  const spans = Number(process.env.RECOVERY_SPANS ?? 50_000);
  const scorer = process.env.RECOVERY_SCORER ?? 'ExactMatch';
  const dir = mkdtempSync(join(tmpdir(), 'spanscore-bench-recovery-'));
  const dataDir = join(dir, 'clickhouse');
  let daemon: RunningDaemon | undefined;
  try {
    daemon = await startDaemon(config(dataDir, scorer, false));
    const requests = buildLlmSpanRequests(Math.ceil(spans / SPANS_PER_REQUEST), SPANS_PER_REQUEST);
    const storeStarted = Date.now();
    await store(daemon.addresses.http!, requests);
    const storeMs = Date.now() - storeStarted;
    const stored = metricSum(await metricsText(daemon.addresses.admin), 'spanscore_storage_stored_spans_total');
    if (await daemon.stop('SIGTERM')) throw new Error('the storing daemon did not stop cleanly');

    daemon = await startDaemon(config(dataDir, scorer, true));
    const readyAt = Date.now();
    const pid = daemon.child.pid!;
    const admin = daemon.addresses.admin;
    let recovered = 0;
    let firstAt: number | undefined;
    let lastLog = readyAt;
    for (;;) {
      const text = await metricsText(admin);
      recovered = metricSum(text, 'spanscore_scoring_recovered_spans_total', { rule: RULE });
      if (recovered > 0) firstAt ??= Date.now();
      if (recovered >= stored && metricSum(text, 'spanscore_scoring_recovery_backlog_spans') === 0) break;
      if (Date.now() - lastLog >= 5_000) {
        lastLog = Date.now();
        console.log(`  ${((lastLog - readyAt) / 1000).toFixed(0)} s: ${recovered} recovered, backlog ${metricSum(text, 'spanscore_scoring_recovery_backlog_spans')}, RSS ${statusMiB(pid, 'VmRSS').toFixed(0)} MiB`);
      }
      if (Date.now() - readyAt > 30 * 60_000) throw new Error(`only ${recovered} of ${stored} spans recovered in 30 minutes`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const doneAt = Date.now();
    const peakRssMiB = statusMiB(pid, 'VmHWM');
    // What the daemon wrote, read from its store once it has stopped (its shutdown flushes the last scores).
    if (await daemon.stop('SIGTERM')) throw new Error('the recovering daemon did not stop cleanly');
    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'spanscore', logger: silentLogger() });
    const written = Number(
      (await storage.query<{ spans: string }>(`SELECT uniqExact(TraceId, SpanId) AS spans FROM scores WHERE Rule = {rule:String}`, { rule: RULE }))[0]!.spans,
    );
    await storage.close();
    const sweepLogs = daemon.logs.filter((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('scoring recovery: scored'));
    const sweeps = sweepLogs.length;
    for (const entry of sweepLogs) console.log(`  sweep: ${entry.spans} spans in ${entry.durationMs} ms (found ${entry.found}, left ${entry.backlog})`);
    const seconds = (doneAt - readyAt) / 1000;
    console.log(
      `recovery (${scorer}, embedded ClickHouse): ${stored} spans stored unscored in ${(storeMs / 1000).toFixed(1)} s; ` +
        `after the restart ${recovered} recovered (${written} with a score row) in ${seconds.toFixed(1)} s over ${sweeps} sweep(s), ` +
        `first after ${(((firstAt ?? doneAt) - readyAt) / 1000).toFixed(1)} s: ${Math.round(recovered / seconds)} spans/s; peak RSS ${peakRssMiB.toFixed(0)} MiB`,
    );
  } finally {
    await daemon?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
