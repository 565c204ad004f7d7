import { availableParallelism } from 'node:os';
import { silentLogger } from '../src/admin/logger.js';
import { builtinScorers } from '../src/scoring/builtins/index.js';
import type { ScorerArgs } from '../src/scoring/scorer-args.js';
import { ScorerPool, type ScorerTask } from '../src/scoring/scorer-pool.js';
import { prng } from './seeded-random.js';

/**
 * Heuristic scores per second through the worker pool (`ScorerPool`), at 1, 2 and 4 workers:
 * what the pool costs on top of the scorers themselves (structured cloning both ways, thread
 * hand-offs, the watchdog), for a mix of the built-ins a config typically runs on every span.
 * Run: `npm run bench:scorers`. BENCH_SECONDS sets the measured time per configuration,
 * BENCH_WORKERS the worker counts (comma-separated).
 *
 * Each configuration keeps twice as many batches in flight as it has workers: the pool hands
 * a worker at most one batch at a time, so the spare batch is what lets a freed worker start
 * at once instead of waiting for the main thread. Batch latency is therefore the caller's
 * view, waiting for a free worker included.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2,4').split(',').map(Number);
const WARMUP_MS = 1_000;
const BATCH_SIZE = 64;
const CORPUS_SIZE = 4_096;

type PoolScorers = ConstructorParameters<typeof ScorerPool>[0]['scorers'];
const SCORERS: PoolScorers = [
  { name: 'levenshtein', timeoutMs: 0, kind: 'builtin', builtin: 'Levenshtein', options: {} },
  { name: 'exact', timeoutMs: 0, kind: 'builtin', builtin: 'ExactMatch', options: {} },
  { name: 'json-diff', timeoutMs: 0, kind: 'builtin', builtin: 'JSONDiff', options: {} },
  { name: 'valid-json', timeoutMs: 0, kind: 'builtin', builtin: 'ValidJSON', options: {} },
];

/** Deterministic PRNG (mulberry32) so every run scores the same corpus. */
const random = prng(7);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const WORDS = (
  'the order was shipped on monday and should arrive within three business days your refund ' +
  'has been issued to the original payment method please allow up to ten days for it to appear ' +
  'we are sorry for the inconvenience if you have further questions reply to this message'
).split(' ');
const LABELS = ['positive', 'negative', 'neutral', 'escalate', 'spam'];
const CITIES = ['Berlin', 'Lisbon', 'Osaka', 'Quito', 'Nairobi'];

function sentence(chars: number): string {
  const words: string[] = [];
  let length = 0;
  while (length < chars) {
    const word = pick(WORDS);
    words.push(word);
    length += word.length + 1;
  }
  return words.join(' ');
}

/** A model answer against its reference: mostly the same text, a few words swapped or dropped. */
function editedCopy(text: string): string {
  return text
    .split(' ')
    .flatMap((word) => (random() < 0.08 ? [] : random() < 0.08 ? [pick(WORDS)] : [word]))
    .join(' ');
}

function record(): Record<string, unknown> {
  return { name: pick(['Ada', 'Grace', 'Linus', 'Barbara']), age: 20 + Math.floor(random() * 50), city: pick(CITIES), tags: [pick(LABELS), pick(LABELS)] };
}

function argsFor(scorer: string): Pick<ScorerArgs, 'output' | 'expected'> {
  switch (scorer) {
    case 'levenshtein': {
      const expected = sentence(300);
      return { output: editedCopy(expected), expected };
    }
    case 'exact': {
      const expected = pick(LABELS);
      return { output: random() < 0.7 ? expected : pick(LABELS), expected };
    }
    case 'json-diff': {
      const expected = record();
      const output = random() < 0.5 ? expected : { ...expected, age: 20 + Math.floor(random() * 50), city: pick(CITIES) };
      // Span attributes carry model output as text, so half the outputs arrive as JSON text.
      return { output: random() < 0.5 ? JSON.stringify(output) : output, expected };
    }
    default: {
      const text = JSON.stringify(record());
      return { output: random() < 0.9 ? text : text.slice(0, Math.floor(random() * text.length)), expected: undefined };
    }
  }
}

const SPAN: ScorerArgs['span'] = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  parentSpanId: '',
  name: 'chat gpt-4o',
  kind: 'Client',
  serviceName: 'support-bot',
  scopeName: 'openinference.instrumentation.openai',
  attributes: { 'gen_ai.system': 'openai', 'gen_ai.request.model': 'gpt-4o' },
  resource: { 'service.name': 'support-bot' },
  timestamp: '1700000000000000000',
  durationMs: 812,
  status: 'ok',
  statusMessage: '',
};

const corpus = Array.from({ length: CORPUS_SIZE }, (_, i) => {
  const scorer = SCORERS[i % SCORERS.length]!.name;
  return { scorer, args: { input: 'How do I get a refund?', ...argsFor(scorer), metadata: {}, span: SPAN } };
});

function batch(index: number): ScorerTask[] {
  const first = (index * BATCH_SIZE) % CORPUS_SIZE;
  return Array.from({ length: BATCH_SIZE }, (_, id) => ({ id, ...corpus[(first + id) % CORPUS_SIZE]! }));
}

interface Drive {
  scores: number;
  errors: number;
  batches: number;
  latencyMs: number;
  elapsedMs: number;
}

async function drive(pool: ScorerPool, inFlight: number, durationMs: number): Promise<Drive> {
  const totals: Drive = { scores: 0, errors: 0, batches: 0, latencyMs: 0, elapsedMs: 0 };
  let next = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  const lane = async () => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      const outcomes = await pool.runBatch(batch(next++));
      totals.latencyMs += performance.now() - sent;
      totals.batches++;
      for (const outcome of [...outcomes.values()].flat()) {
        if (outcome.error === '') totals.scores++;
        else totals.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  // Batches sent before the deadline finish after it; their time counts, as their scores do.
  totals.elapsedMs = performance.now() - start;
  return totals;
}

async function benchWorkers(workers: number): Promise<Record<string, string | number>> {
  const pool = new ScorerPool({ workers, scorers: SCORERS, logger: silentLogger() });
  const inFlight = 2 * workers;
  try {
    // Thread start-up, module loading and JIT warm-up are not what this measures.
    await drive(pool, inFlight, WARMUP_MS);
    const cpuBefore = process.cpuUsage();
    const run = await drive(pool, inFlight, SECONDS * 1000);
    const cpu = process.cpuUsage(cpuBefore);
    const scored = run.scores + run.errors;
    return {
      workers,
      'scores/s': Math.round((scored / run.elapsedMs) * 1000),
      'mean batch ms': Number((run.latencyMs / run.batches).toFixed(2)),
      'CPU µs/score': Number(((cpu.user + cpu.system) / scored).toFixed(1)),
      'error outcomes': run.errors,
    };
  } finally {
    await pool.close();
  }
}

console.log(
  `scorer pool: ${BATCH_SIZE}-task batches of Levenshtein (~300 chars), ExactMatch, JSONDiff, ValidJSON in equal parts; ` +
    `2 batches in flight per worker; ${SECONDS} s per configuration; ${availableParallelism()} CPUs; node ${process.version}`,
);
const rows = [];
for (const workers of WORKER_COUNTS) rows.push(await benchWorkers(workers));
console.table(rows);

/** The same corpus scored in this thread without the pool: the floor the pool's overhead adds to. */
function inProcessMicrosPerScore(): number {
  const functions = new Map(SCORERS.map((spec) => [spec.name, builtinScorers[(spec as { builtin: string }).builtin]!({})]));
  const scoreAll = () => corpus.forEach((task) => functions.get(task.scorer)!(task.args));
  scoreAll();
  let rounds = 0;
  const start = performance.now();
  while (performance.now() - start < 1_000) {
    scoreAll();
    rounds++;
  }
  return ((performance.now() - start) * 1000) / (rounds * corpus.length);
}
console.log(`same scorers in-process, no pool: ${inProcessMicrosPerScore().toFixed(1)} µs/score (one thread)`);
