import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { DaemonMetrics } from '../src/admin/daemon-metrics.js';
import { silentLogger } from '../src/admin/logger.js';
import { READY_MADE_JUDGES } from '../src/llm/ready-made-judges.js';
import { MainThreadScorerRunner } from '../src/scoring/main-thread-scorer-runner.js';
import type { ScorerTask } from '../src/scoring/scorer-worker.js';

/**
 * `npm run bench` (LLM part): what an LLM judge call costs the daemon's main thread, where
 * judges run (rendering, request, response parsing, accounting), against a local
 * OpenAI-compatible server in another process. Prints calls/s and CPU µs per call.
 */
const CALLS = Number(process.env.BENCH_LLM_CALLS ?? 4000);
const CONCURRENCY = Number(process.env.BENCH_LLM_CONCURRENCY ?? 32);

const child = spawn(process.execPath, [new URL('./openai-server-process.js', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
const baseUrl = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));

const judge = READY_MADE_JUDGES['factuality']!;
const runner = new MainThreadScorerRunner({
  scorers: [
    {
      name: 'factuality',
      timeoutMs: 10_000,
      kind: 'llm',
      judge: { prompt: judge.prompt, choiceScores: judge.choiceScores, useCot: true },
      runtime: { baseUrl, apiKey: 'sk-bench', model: 'gpt-bench', maxConcurrency: CONCURRENCY, rateLimit: {}, retry: { maxRetries: 0, initialBackoffMs: 1, maxBackoffMs: 1 }, price: { inputPer1M: 0.15, outputPer1M: 0.6 } },
    },
  ],
  metrics: new DaemonMetrics({ processMetrics: false }),
  logger: silentLogger(),
  autoevalsResolveFrom: [],
});
await runner.start();

const answer = 'Paris is the capital and most populous city of France, on the Seine. '.repeat(4);
const task = (id: number): ScorerTask => ({
  id,
  scorer: 'factuality',
  args: {
    input: [{ role: 'user', content: 'What is the capital of France, and what is it known for?' }],
    output: answer,
    expected: 'Paris.',
    metadata: { model: 'gpt-4o', user: { tier: 'gold' } },
    span: { traceId: 't', spanId: 's', parentSpanId: '', name: 'chat', kind: 'Server', serviceName: 'bench', scopeName: 'x', attributes: {}, resource: {}, timestamp: '0', durationMs: 1200, status: 'ok', statusMessage: '' },
  },
});

async function run(calls: number): Promise<{ ms: number; cpuUs: number; errors: number }> {
  let next = 0;
  let errors = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < calls) {
        const id = next++;
        const outcomes = (await runner.runBatch([task(id)])).get(id)!;
        if (outcomes[0]?.error !== "") { errors++; if (errors === 1) console.error(outcomes[0]?.error); }
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - start, cpuUs: used.user + used.system, errors };
}

await run(300); // warm-up: JIT, keep-alive sockets
const result = await run(CALLS);
console.log(`LLM judge on the main thread: ${CALLS} calls, ${CONCURRENCY} in flight, local server in another process, node ${process.version}`);
console.log(`  ${((CALLS / result.ms) * 1000).toFixed(0)} calls/s   ${(result.cpuUs / CALLS).toFixed(0)} µs CPU per call (daemon side)   errors ${result.errors}`);
runner.close();
child.kill('SIGTERM');
