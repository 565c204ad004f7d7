import { buildLlmSpanRequests } from './llm-span-request.js';
import { exportRequestType } from './request-templates.js';

/**
 * Floor: protobufjs decode alone of the load's requests (ExportTraceServiceRequest, one
 * thread, no mapping to rows, no I/O), run as its own process. What the daemon's CPU per
 * span cannot go below while it decodes with protobufjs. Prints one JSON line.
 */
export interface DecodeFloorResult {
  spansPerSecond: number;
  /** Process CPU per span (the decoding thread, plus V8's GC threads, as in the daemon's figure). */
  microsPerSpan: number;
  requests: number;
}

const WARMUP_MS = 1_000;

function decodeFor(ms: number, bodies: Buffer[], decode: (body: Buffer) => unknown): { requests: number; elapsedMs: number } {
  const start = performance.now();
  let requests = 0;
  let sink = 0;
  while (performance.now() - start < ms) {
    const message = decode(bodies[requests % bodies.length]!) as { resourceSpans: unknown[] };
    sink += message.resourceSpans.length; // keeps the result alive so the decode is not optimised away
    requests++;
  }
  if (sink < 0) console.error(sink);
  return { requests, elapsedMs: performance.now() - start };
}

if (process.argv[2] !== undefined) {
  const { spansPerRequest, durationMs } = JSON.parse(process.argv[2]) as { spansPerRequest: number; durationMs: number };
  const bodies = buildLlmSpanRequests(16, spansPerRequest);
  const type = exportRequestType();
  const decode = (body: Buffer) => type.decode(body);
  decodeFor(WARMUP_MS, bodies, decode);
  const cpuBefore = process.cpuUsage();
  const { requests, elapsedMs } = decodeFor(durationMs, bodies, decode);
  const cpu = process.cpuUsage(cpuBefore);
  const spans = requests * spansPerRequest;
  const result: DecodeFloorResult = {
    spansPerSecond: (spans / elapsedMs) * 1000,
    microsPerSpan: (cpu.user + cpu.system) / spans,
    requests,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
