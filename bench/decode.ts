import { spawnSync } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { decodeProtobuf } from '../src/receivers/otlp-decoder.js';
import { otlpSchema, PROTO_DIR } from '../src/receivers/otlp-schema.js';
import { decodeProtobufFast } from '../src/receivers/span-row-reader.js';
import { PACKAGE_ROOT } from '../test/helpers/package-root.js';
import { buildLlmSpanRequests } from './llm-span-request.js';

/**
 * OTLP/protobuf request decoding, single thread, on the LLM span load shape (1,000-span
 * requests of ~800-byte spans, ~10 attributes each): protobufjs' decode alone, the current
 * path (decode + mapExportRequest = `decodeProtobuf`) and the hand-written reader
 * (`decodeProtobufFast`). Prints spans/s and µs/span per variant.
 *
 * Each variant runs in a process of its own (as in the daemon, where one path runs: no
 * shared JIT feedback or garbage from the others), warmed up, then timed over several
 * rounds; the processes take turns, and the best round of each variant is kept (the least
 * disturbed by other work on the machine).
 *
 *   node .bench-build/bench/decode.js [cycles]
 */
// otlp-schema.ts finds proto/ two levels above itself: from .bench-build/src/receivers that is
// .bench-build/proto, which tsc does not copy. Point it at the package's own.
if (!existsSync(PROTO_DIR)) symlinkSync(join(PACKAGE_ROOT, 'proto'), PROTO_DIR.replace(/\/$/, ''), 'dir');

const REQUESTS = 32;
const SPANS_PER_REQUEST = 1000;
const CYCLES = Number(process.argv[2] ?? 2);
const ROUNDS = 5;
/** Passes over all requests per round. */
const PASSES = 3;

type Variant = 'protobufjs' | 'current' | 'fast';
const VARIANTS: Record<Variant, string> = {
  protobufjs: 'protobufjs decode only',
  current: 'current: decodeProtobuf (decode + map)',
  fast: 'fast: decodeProtobufFast',
};

function decoder(variant: Variant): (body: Buffer) => number {
  switch (variant) {
    case 'protobufjs': {
      const requestType = otlpSchema().exportTraceServiceRequest;
      return (body) => {
        const reader = protobuf.Reader.create(body);
        reader.stringVerify = reader.string;
        const request = requestType.decode(reader) as unknown as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] };
        return request.resourceSpans[0]!.scopeSpans[0]!.spans.length;
      };
    }
    case 'current':
      return (body) => decodeProtobuf(body).rows.length;
    case 'fast':
      return (body) => decodeProtobufFast(body).rows.length;
  }
}

/** In a child: best ns/span of one variant over ROUNDS rounds, after warm-up. */
function measure(variant: Variant): number {
  const requests = buildLlmSpanRequests(REQUESTS, SPANS_PER_REQUEST);
  const decode = decoder(variant);
  const round = (): number => {
    let spans = 0;
    const started = process.hrtime.bigint();
    for (let pass = 0; pass < PASSES; pass++) for (const body of requests) spans += decode(body);
    const elapsedNs = Number(process.hrtime.bigint() - started);
    if (spans !== REQUESTS * SPANS_PER_REQUEST * PASSES) throw new Error(`decoded ${spans} spans`);
    return elapsedNs / spans;
  };
  round();
  round();
  let best = Infinity;
  for (let i = 0; i < ROUNDS; i++) best = Math.min(best, round());
  return best;
}

const child = process.argv[2]?.startsWith('--variant=') ? (process.argv[2].slice('--variant='.length) as Variant) : undefined;
if (child !== undefined) {
  process.stdout.write(JSON.stringify({ nsPerSpan: measure(child) }));
} else {
  // Same rows from both paths on these requests, or the figures mean nothing.
  const requests = buildLlmSpanRequests(4, SPANS_PER_REQUEST);
  if (JSON.stringify(requests.map((body) => decodeProtobuf(body))) !== JSON.stringify(requests.map((body) => decodeProtobufFast(body)))) {
    throw new Error('decodeProtobufFast and decodeProtobuf disagree on the bench requests');
  }
  const bytesPerSpan = requests.reduce((sum, body) => sum + body.length, 0) / (requests.length * SPANS_PER_REQUEST);
  const best = new Map<Variant, number>();
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url), `--variant=${variant}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (run.status !== 0) throw new Error(`${variant}: child exited ${run.status}`);
      const { nsPerSpan } = JSON.parse(run.stdout) as { nsPerSpan: number };
      best.set(variant, Math.min(best.get(variant) ?? Infinity, nsPerSpan));
    }
  }
  console.log(`${REQUESTS} requests x ${SPANS_PER_REQUEST} spans, ${bytesPerSpan.toFixed(0)} bytes/span; best round of ${CYCLES} processes x ${ROUNDS} rounds x ${PASSES} passes per variant`);
  for (const [variant, nsPerSpan] of best) {
    console.log(`${VARIANTS[variant].padEnd(40)} ${(1e9 / nsPerSpan).toFixed(0).padStart(9)} spans/s  ${(nsPerSpan / 1000).toFixed(3)} µs/span`);
  }
  const current = best.get('current')!;
  const fast = best.get('fast')!;
  console.log(`fast / current: ${((fast / current) * 100).toFixed(1)}% of the time (${(current / fast).toFixed(2)}x faster)`);
}
