import { Agent, request } from 'node:http';
import { buildLlmSpanRequests } from './llm-span-request.js';

/**
 * The load generator, run as its own process so that its CPU is not the daemon's:
 * `concurrency` senders POST pre-encoded OTLP/HTTP protobuf requests back to back for
 * `durationMs`, and the figures are printed as one JSON line on stdout.
 */
interface LoadOptions {
  address: string;
  concurrency: number;
  durationMs: number;
  spansPerRequest: number;
}

const options = JSON.parse(process.argv[2]!) as LoadOptions;
const bodies = buildLlmSpanRequests(32, options.spansPerRequest);
const [host, port] = [options.address.slice(0, options.address.lastIndexOf(':')), Number(options.address.slice(options.address.lastIndexOf(':') + 1))];
const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });

function post(body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      { host, port, method: 'POST', path: '/v1/traces', agent, headers: { 'Content-Type': 'application/x-protobuf', 'Content-Length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

const latencies: number[] = [];
const statuses = new Map<number, number>();
let acked = 0;
const start = performance.now();
const end = start + options.durationMs;

async function sender(index: number): Promise<void> {
  let n = index;
  while (performance.now() < end) {
    const t0 = performance.now();
    const status = await post(bodies[n++ % bodies.length]!);
    latencies.push(performance.now() - t0);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status === 200) acked += options.spansPerRequest;
    else await new Promise((r) => setTimeout(r, 50));
  }
}

await Promise.all(Array.from({ length: options.concurrency }, (_, i) => sender(i)));
const elapsedMs = performance.now() - start;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
process.stdout.write(
  `${JSON.stringify({ ackedSpans: acked, elapsedMs, requests: latencies.length, statuses: Object.fromEntries(statuses), p50Ms: pct(0.5), p99Ms: pct(0.99) })}\n`,
);
agent.destroy();
