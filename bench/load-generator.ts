import { Agent, request } from 'node:http';
import { createGrpcSender } from './grpc-load.js';
import { buildLlmSpanRequests } from './llm-span-request.js';
import { quantile } from './proc-stats.js';
import { stamp, toTemplates } from './request-templates.js';

/**
 * The load generator, run as its own process so that its CPU is not the daemon's:
 * `concurrency` senders export OTLP protobuf requests back to back (HTTP POST /v1/traces or
 * gRPC TraceService/Export, the same bytes) for `warmupMs + durationMs`, each request with
 * fresh trace and span ids.
 *
 * It reports on stdout, one JSON object per line:
 * - `{"type":"measuring","at":ms}` when the warm-up is over (the driver samples CPU then);
 * - `{"type":"tracked","ackAt":ms,"ids":[[traceId,spanId],...]}` for every `trackEvery`-th
 *   request acknowledged during the measured window, with the ids of its first `trackSpans`
 *   spans (time-to-score is measured on these: many requests, few spans each, so that the
 *   sample covers many acknowledgements while the rows to poll for stay few);
 * - `{"type":"done",...}` with the measured window's figures (requests completed in it).
 * Times are wall-clock milliseconds (timeOrigin + performance.now()), comparable across processes.
 */
export interface LoadOptions {
  transport: 'http' | 'grpc';
  address: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  spansPerRequest: number;
  /** Track every n-th request for time-to-score; 0 tracks none. */
  trackEvery: number;
  /** Spans tracked in a tracked request (its first ones). */
  trackSpans: number;
  /** 4 bytes, hex, top bit set: the trace id prefix of tracked requests. */
  marker: string;
}

export interface LoadResult {
  type: 'done';
  /** Spans of requests acknowledged with success within the measured window. */
  ackedSpans: number;
  /** Over warm-up and measured window: what must be in ClickHouse afterwards. */
  ackedSpansTotal: number;
  elapsedMs: number;
  requests: number;
  /** Requests per status (HTTP code, `error` for a failed connection, or gRPC status name) in the measured window. */
  statuses: Record<string, number>;
  /** The first refusal message seen for each status other than success. */
  refusals: Record<string, string>;
  p50Ms: number;
  p99Ms: number;
  /** The load generator's own CPU over the measured window, µs. */
  cpuMicros: number;
}

const BACKOFF_AFTER_REFUSAL_MS = 50;

const now = (): number => performance.timeOrigin + performance.now();
const emit = (line: object): boolean => process.stdout.write(`${JSON.stringify(line)}\n`);

/** A send's outcome: the status, and for a refusal what the daemon said (google.rpc.Status message / gRPC details). */
interface Outcome {
  status: string;
  detail?: string;
}

function httpSender(address: string, concurrency: number): { send: (body: Buffer) => Promise<Outcome>; close: () => void } {
  const separator = address.lastIndexOf(':');
  const [host, port] = [address.slice(0, separator), Number(address.slice(separator + 1))];
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const send = (body: Buffer) =>
    new Promise<Outcome>((resolve) => {
      const req = request(
        { host, port, method: 'POST', path: '/v1/traces', agent, headers: { 'Content-Type': 'application/x-protobuf', 'Content-Length': body.length } },
        (res) => {
          const status = String(res.statusCode ?? 0);
          if (status === '200') {
            res.resume();
            res.on('end', () => resolve({ status }));
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          // The refusal is a protobuf google.rpc.Status: its message is the one long printable run.
          res.on('end', () => resolve({ status, detail: Buffer.concat(chunks).toString('utf8').replace(/[\x00-\x1f\ufffd]+/g, ' ').trim() }));
        },
      );
      req.on('error', (error) => resolve({ status: 'error', detail: error.message }));
      req.end(body);
    });
  return { send, close: () => agent.destroy() };
}

async function runLoad(options: LoadOptions): Promise<void> {
  const templates = toTemplates(buildLlmSpanRequests(16, options.spansPerRequest));
  const marker = Buffer.from(options.marker, 'hex');
  const ok = options.transport === 'http' ? '200' : 'OK';
  // One gRPC channel per sender (see grpc-load.ts); HTTP senders share a keep-alive agent of `concurrency` sockets.
  const http = options.transport === 'http' ? httpSender(options.address, options.concurrency) : undefined;
  const grpc = options.transport === 'grpc' ? Array.from({ length: options.concurrency }, () => createGrpcSender(options.address)) : [];

  const latencies: number[] = [];
  const statuses = new Map<string, number>();
  const refusals: Record<string, string> = {};
  let acked = 0;
  let ackedTotal = 0;
  let sequence = 0;
  let lastCompletion = 0;
  const start = now();
  const measureStart = start + options.warmupMs;
  const end = measureStart + options.durationMs;
  let cpuAtMeasure = process.cpuUsage();
  setTimeout(() => {
    cpuAtMeasure = process.cpuUsage();
    emit({ type: 'measuring', at: now() });
  }, options.warmupMs);

  const sender = async (index: number): Promise<void> => {
    const send = http?.send ?? grpc[index]!.send;
    while (now() < end) {
      const n = sequence++;
      const tracked = options.trackEvery > 0 && now() >= measureStart && n % options.trackEvery === 0;
      const { body, ids } = stamp(templates[n % templates.length]!, tracked ? options.trackSpans : 0, marker);
      const sentAt = now();
      const { status: outcome, detail } = await send(body);
      const doneAt = now();
      if (outcome !== ok) refusals[outcome] ??= (detail ?? '').slice(0, 400);
      lastCompletion = doneAt;
      if (outcome === ok) ackedTotal += options.spansPerRequest;
      if (doneAt >= measureStart) {
        // Acknowledgement latency: refusals are fast and would flatter it, they are counted in `statuses`.
        if (outcome === ok) latencies.push(doneAt - sentAt);
        statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
        if (outcome === ok) acked += options.spansPerRequest;
        if (outcome === ok && ids !== undefined) emit({ type: 'tracked', ackAt: doneAt, ids });
      }
      // A refused request is not retried (its spans simply count as not acknowledged), but
      // a sender does not hammer a daemon that is shedding load either.
      if (outcome !== ok) await new Promise((r) => setTimeout(r, BACKOFF_AFTER_REFUSAL_MS));
    }
  };

  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => sender(i)));
  const cpu = process.cpuUsage(cpuAtMeasure);
  latencies.sort((a, b) => a - b);
  const result: LoadResult = {
    type: 'done',
    ackedSpans: acked,
    ackedSpansTotal: ackedTotal,
    elapsedMs: Math.max(1, lastCompletion - measureStart),
    requests: [...statuses.values()].reduce((a, b) => a + b, 0),
    statuses: Object.fromEntries(statuses),
    refusals,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    cpuMicros: cpu.user + cpu.system,
  };
  emit(result);
  http?.close();
  for (const g of grpc) g.close();
}

if (process.argv[2] !== undefined) await runLoad(JSON.parse(process.argv[2]) as LoadOptions);
