import { parseFilter } from '../src/filter/filter-parser.js';
import { compileFilter } from '../src/filter/js-filter-compiler.js';
import type { SpanRow } from '../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../src/scoring/field-conventions.js';
import { prng } from './seeded-random.js';

/**
 * Micro benchmark of the compiled JS filter predicate: evaluations per second over ~10k varied,
 * realistic LLM spans. Run: `npx tsc -p tsconfig.bench.json && node .bench-build/bench/filter-predicate.js`.
 * BENCH_SPANS / BENCH_SECONDS override the span count and the time per filter.
 */
const SPAN_COUNT = Number(process.env.BENCH_SPANS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

const FILTERS = [
  "metadata.model = 'gpt-4o' AND duration_ms > 500 AND (status = 'error' OR output LIKE '%sorry%') AND attributes['gen_ai.usage.input_tokens'] > 100",
  "span_kind = 'client' AND attributes.gen_ai.system IN ('openai', 'anthropic') AND duration_ms BETWEEN 100 AND 3000",
  "input.messages[0].role = 'system' AND lower(output) LIKE '%refund%'",
  "metadata.customer.tier = 'gold' OR coalesce(metadata.user.plan, 'free') != 'free'",
];

/** Deterministic PRNG (mulberry32) so every run measures the same spans. */
const random = prng(42);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const hex = (length: number) => Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join('');

const MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'llama-3.1-70b'];
const SYSTEMS = ['openai', 'anthropic', 'meta', 'azure'];
const REPLIES = [
  'Sure! Here is the summary you asked for.',
  "I'm sorry, but I can't help with that request.",
  'The refund was issued to your original payment method.',
  'Here are three options, ranked by cost and latency.',
];
const FILLER = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(8);

function makeSpan(i: number): SpanRow {
  const model = pick(MODELS);
  const reply = pick(REPLIES) + (random() < 0.5 ? ` ${FILLER}` : '');
  const attributes: Record<string, string> = {
    'gen_ai.system': pick(SYSTEMS),
    'gen_ai.request.model': model,
    'gen_ai.usage.input_tokens': String(Math.floor(random() * 400)),
    'gen_ai.usage.output_tokens': String(Math.floor(random() * 800)),
    'input.value': JSON.stringify({
      messages: [
        ...(random() < 0.6 ? [{ role: 'system', content: 'You are a helpful support agent.' }] : []),
        { role: 'user', content: `Question ${i}: ${FILLER.slice(0, 80 + Math.floor(random() * 200))}` },
      ],
    }),
    'output.value': reply,
    'llm.provider': 'openai',
  };
  // Metadata both ways: prefixed attributes on some spans, an OpenInference JSON blob on others.
  if (random() < 0.5) {
    attributes['metadata.model'] = model;
    attributes['metadata.customer.tier'] = pick(['gold', 'silver', 'bronze']);
  } else {
    attributes['metadata'] = JSON.stringify({ model, user: { plan: pick(['free', 'pro', 'team']) }, customer: { tier: pick(['gold', 'silver']) } });
  }
  const durationNs = BigInt(Math.floor(random() * 5_000_000_000));
  return {
    Timestamp: String(1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n),
    TraceId: hex(32),
    SpanId: hex(16),
    ParentSpanId: random() < 0.2 ? '' : hex(16),
    TraceState: '',
    SpanName: `chat ${model}`,
    SpanKind: random() < 0.9 ? 'Client' : 'Internal',
    ServiceName: pick(['checkout', 'support-bot', 'search']),
    ResourceAttributes: { 'service.name': 'support-bot', 'telemetry.sdk.language': 'python' },
    ScopeName: 'openinference.instrumentation.openai',
    ScopeVersion: '0.1.0',
    SpanAttributes: attributes,
    Duration: durationNs.toString(),
    StatusCode: pick(['Ok', 'Ok', 'Ok', 'Error', 'Unset']),
    StatusMessage: '',
    Events: [],
    Links: [],
  };
}

const spans = Array.from({ length: SPAN_COUNT }, (_, i) => makeSpan(i));

function bench(filter: string): void {
  const compiled = compileFilter(parseFilter(filter), DEFAULT_FIELD_CONVENTIONS);
  let matched = 0;
  for (let i = 0; i < spans.length * 5; i++) if (compiled.matches(spans[i % spans.length]!)) matched++; // warm-up
  matched = 0;
  let evaluations = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const start = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < spans.length; i++) if (compiled.matches(spans[i]!)) matched++;
    evaluations += spans.length;
  }
  const elapsed = (performance.now() - start) / 1000;
  const perSecond = evaluations / elapsed;
  console.log(
    `${(perSecond / 1e6).toFixed(2).padStart(6)} M evaluations/s  ${(1e9 / perSecond).toFixed(0).padStart(5)} ns/span  matched ${((100 * matched) / evaluations).toFixed(1)}%  ${filter}`,
  );
}

console.log(`filter predicate: ${SPAN_COUNT} spans, ${SECONDS} s per filter, node ${process.version}`);
for (const filter of FILTERS) bench(filter);
