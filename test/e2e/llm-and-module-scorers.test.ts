import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon } from '../helpers/daemon-process.js';
import { startOpenAiServer, type OpenAiServer } from '../helpers/openai-server.js';
import { sendTraces } from '../helpers/otel-sender.js';

/**
 * Every kind of scorer in one daemon, spans in through the stock OTel exporter: a native LLM
 * judge and autoevals' Factuality (both against a local OpenAI-compatible server), a custom
 * module, and a module that throws.
 */
describe('LLM judges and custom modules, end to end', () => {
  let server: OpenAiServer;

  beforeAll(async () => {
    server = await startOpenAiServer((request) => {
      const prompt = JSON.stringify(request.body);
      // autoevals' Factuality offers choices A..E; C is "same details" (score 1).
      if (prompt.includes('"enum":["A","B","C","D","E"]')) return { kind: 'choice', choice: 'C', reasons: 'same facts' };
      // The judge sees the span's output; make the verdict depend on it.
      return prompt.includes('answer 1') ? { kind: 'choice', choice: 'N', reasons: 'answer 1 is wrong' } : { kind: 'choice', choice: 'Y', reasons: 'fine', usage: { prompt_tokens: 400, completion_tokens: 40 } };
    });
  });

  afterAll(async () => {
    await server.close();
  });

  it('scores with every kind, records tokens and cost, and reports a throwing module with its file and line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spanscore-llm-e2e-'));
    const dataDir = join(dir, 'clickhouse');
    writeFileSync(join(dir, 'length.mjs'), `export default function length({ output }) {\n  return { score: Math.min(1, String(output).length / 10), metadata: { chars: String(output).length } };\n}\n`);
    writeFileSync(join(dir, 'broken.mjs'), `export default function broken(args) {\n  const words = args.output.split(' ');\n  return words.missing.length;\n}\n`);
    const daemon = await startDaemon(
      daemonConfig({
        embeddedPath: dataDir,
        extra: `
scoring:
  workers: 1
  llm_prices:
    gpt-test: { input: 1, output: 4 }
scorers:
  correct:
    prompt: "Question: {{input}}\\nAnswer: {{output}}\\nIs the answer correct? Y or N."
    choice_scores: { "Y": 1, "N": 0 }
    model: gpt-test
    base_url: ${server.baseUrl}
    api_key: \${env:JUDGE_KEY}
    retry: { max_retries: 1, initial_backoff: 10ms }
  facts:
    autoevals: Factuality
    model: gpt-test
    base_url: ${server.baseUrl}
    api_key: \${env:JUDGE_KEY}
  length: { module: ${join(dir, 'length.mjs')} }
  broken: { module: ${join(dir, 'broken.mjs')} }
rules:
  - name: answers
    scorers: [correct, facts, length, broken]
`,
      }),
      { env: { JUDGE_KEY: 'sk-e2e' } },
    );
    let traces;
    let metricsText = '';
    try {
      ({ traces } = await sendTraces('http/protobuf', daemon.addresses.http!, { count: 3 }));
      // Wait until the judge calls are in (three spans x two LLM scorers), then read /metrics.
      const deadline = Date.now() + 10_000;
      while (server.requests.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300));
      metricsText = await (await fetch(`http://${daemon.addresses.admin}/metrics`)).text();
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0);
    }

    expect(server.requests).toHaveLength(6);
    expect(server.requests.every((r) => r.headers.authorization === 'Bearer sk-e2e' && r.path === '/v1/chat/completions')).toBe(true);
    // Two answers used 400 input tokens each, the wrong one the server default of 100.
    expect(metricsText).toMatch(/spanscore_llm_tokens_total\{scorer="correct",model="gpt-test",type="input"\} 900\n/);
    expect(metricsText).toMatch(/spanscore_llm_cost_usd_total\{scorer="correct",model="gpt-test"\} /);
    expect(metricsText).toMatch(/spanscore_scorer_state\{scorer="correct",state="active"\} 1\n/);

    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'spanscore', logger: silentLogger() });
    try {
      const rows = await storage.query<{ TraceId: string; Scorer: string; Score: number | null; Error: string; Details: string }>(
        `SELECT TraceId, Scorer, Score, Error, Details FROM scores FINAL ORDER BY TraceId, Scorer`,
      );
      expect(rows).toHaveLength(3 * 4);
      traces.forEach((trace, i) => {
        const of = (scorer: string) => rows.find((r) => r.TraceId === trace.traceId && r.Scorer === scorer)!;
        const correct = of('correct');
        expect(correct.Score).toBe(i === 1 ? 0 : 1);
        const details = JSON.parse(correct.Details) as Record<string, unknown>;
        expect(details).toMatchObject({ choice: i === 1 ? 'N' : 'Y', rationale: i === 1 ? 'answer 1 is wrong' : 'fine', model: 'gpt-test', attempts: 1 });
        if (i !== 1) {
          expect(details['tokens']).toEqual({ input: 400, output: 40 });
          expect(details['cost_usd']).toBeCloseTo((400 * 1 + 40 * 4) / 1e6, 12);
        }
        expect(of('facts')).toMatchObject({ Score: 1, Error: '' });
        expect(of('length')).toMatchObject({ Score: 0.8, Error: '' });
        expect(JSON.parse(of('length').Details)).toEqual({ chars: 8 });
        expect(of('broken').Score).toBeNull();
        expect(of('broken').Error).toContain('TypeError');
        expect(of('broken').Error).toContain(`${join(dir, 'broken.mjs')}:3`);
      });
      const scoringSpans = await storage.query<{ n: string }>(`SELECT count() AS n FROM otel_traces WHERE SpanName = 'score correct' AND ParentSpanId != ''`);
      expect(Number(scoringSpans[0]!.n)).toBe(3);
    } finally {
      await storage.close();
    }
  });
});
