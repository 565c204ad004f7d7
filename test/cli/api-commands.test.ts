import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { AdminApiClient } from '../../src/admin/api/api-client.js';
import { backfillCommand } from '../../src/cli/backfill-command.js';
import { runCli } from '../helpers/daemon-process.js';
import { startOpenAiServer, type OpenAiServer } from '../helpers/openai-server.js';
import { KEYS, nowNs, randomSpanId, randomTraceId, startApi, type ApiUnderTest, type TestSpan } from '../admin/api/api-harness.js';

let judgeServer: OpenAiServer;

const rules = (baseUrl: string) => `
scoring:
  llm_prices:
    gpt-test: { input: 1, output: 4 }
scorers:
  judge: { prompt: "Is {{output}} right? Y or N.", choice_scores: { "Y": 1, "N": 0 }, model: gpt-test, base_url: ${baseUrl}, api_key: sk-test }
rules:
  - name: judged
    project: alpha
    scorers: [judge]
    apply_to: { span_names: [judged] }
    enabled: false
  - name: alpha-roots
    project: alpha
    scorers: [ExactMatch]
  - name: backfill
    project: alpha
    scorers: [ExactMatch]
    apply_to: { span_names: [bf.span] }
    enabled: false
`;

const HOUR_NS = 3_600_000_000_000n;
let api: ApiUnderTest;
const traceId = randomTraceId();
// Three hours of traffic: a match, a miss, a match.
const trend: TestSpan[] = [
  { traceId, spanId: randomSpanId(), startNs: nowNs() - 3n * HOUR_NS + 60_000_000_000n, attributes: { 'input.value': 'q', 'output.value': 'a', expected: 'a' } },
  { traceId: randomTraceId(), spanId: randomSpanId(), startNs: nowNs() - 2n * HOUR_NS + 60_000_000_000n, attributes: { 'input.value': 'q', 'output.value': 'a', expected: 'b' } },
  { traceId: randomTraceId(), spanId: randomSpanId(), attributes: { 'input.value': 'q', 'output.value': 'a', expected: 'a' } },
];
const backfillSpans: TestSpan[] = Array.from({ length: 120 }, (_, i) => ({
  traceId: randomTraceId(),
  spanId: randomSpanId(),
  parentSpanId: 'aaaaaaaaaaaaaaaa',
  name: 'bf.span',
  startNs: nowNs() - BigInt(i) * 1_000_000_000n,
}));

/** Runs the CLI against the test API with a key (null: none; the env var is cleared unless `env` sets it). */
const cli = (args: string[], key: string | null = KEYS.admin, env: NodeJS.ProcessEnv = {}) =>
  runCli([...args, '--admin', api.admin, ...(key === null ? [] : ['--key', key])], { env: { SPANSCORE_API_KEY: '', ...env } });

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const judged: TestSpan[] = [0, 1].map(() => ({ traceId: randomTraceId(), spanId: randomSpanId(), parentSpanId: 'aaaaaaaaaaaaaaaa', name: 'judged' }));

beforeAll(async () => {
  judgeServer = await startOpenAiServer(() => ({ kind: 'choice', choice: 'Y', reasons: 'The answer matches the question well enough to be accepted as right.' }));
  api = await startApi(rules(judgeServer.baseUrl));
  await api.send([...trend, ...backfillSpans, ...judged]);
});

afterAll(async () => {
  await api?.stop();
  await judgeServer?.close();
});

describe('spanscore CLI against the admin API', () => {
  it('rules list prints the rules with their scorers and counters', async () => {
    const { code, stdout, stderr } = await cli(['rules', 'list']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^rule\s+enabled\s+project\s+scope\s+sampling\s+apply_to\s+filter\s+scorers\s+seen\/selected\/sampled\s+scored\s+errored\s+shed\n/);
    expect(stdout).toMatch(/\nalpha-roots\s+yes\s+alpha\s+span\s+100%\s+roots\s+ExactMatch\s+\d+\/\d+\/\d+/);
    expect(stdout).toMatch(/\nbackfill\s+no\s+alpha\s+span\s+100%\s+bf\.span\s+ExactMatch/);
  });

  it('rules test prints a table of scores, then matched, sampled and cost per day', async () => {
    const { code, stdout, stderr } = await cli(['rules', 'test', 'alpha-roots', '--hours', '4', '--sample', '3']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^span\s+name\s+scorer\s+score\s+rationale\s+tokens\s+cost$/);
    expect(lines.slice(2, 5).every((line) => /^[0-9a-f]{16}\s+chat\s+ExactMatch\s+[01]\s+-\s+-$/.test(line))).toBe(true);
    expect(stdout).toContain(`${trend[2]!.spanId}  chat  ExactMatch  1`);
    expect(stdout).toMatch(/\nmatched:  3 spans in the last 4 h\n/);
    expect(stdout).toMatch(/\nsampled:  3 \(kept by the rule's sampling\)\n/);
    expect(stdout).toMatch(/\nper day:  ~18 spans scored\n/);
    expect(stdout).toMatch(/\nest\. cost per day: n\/a\n/);
  });

  it("rules test and score show an LLM judge's rationale, tokens and cost; a backfill that costs money asks first", async () => {
    const tested = await cli(['rules', 'test', 'judged', '--hours', '1', '--sample', '1']);
    expect(tested.stderr).toBe('');
    expect(tested.code).toBe(0);
    expect(tested.stdout).toMatch(/\n[0-9a-f]{16}\s+judged\s+judge\s+1\s+The answer matches the question well enough to be accepted …\s+100\/20\s+\$0\.00018\n/);
    // Two spans an hour at $0.00018 each: 48 a day.
    expect(tested.stdout).toMatch(/\nper day:  ~48 spans scored\nest\. cost per day: \$0\.00864\n/);

    const scored = await cli(['score', '--span', judged[0]!.spanId, '--rule', 'judged']);
    expect(scored.code).toBe(0);
    expect(scored.stdout).toMatch(/judge\s+1\s+The answer matches/);

    const refused = await cli(['backfill', '--rule', 'judged']);
    expect(refused.stdout).toMatch(/to score: {7}1\n {2}est\. cost: {6}\$0\.00018\n/);
    expect(refused.stderr).toMatch(/^refusing to start without confirmation/);
    expect(refused.code).toBe(1);
  });

  it('score stores scores by hand; scores prints a sparkline per scorer', async () => {
    const scored = await cli(['score', ...trend.flatMap((s) => ['--span', s.spanId]), '--rule', 'alpha-roots']);
    expect(scored.stderr).toBe('');
    expect(scored.code).toBe(0);
    expect(scored.stdout).toMatch(/^trace\s+span\s+name\s+scorer\s+score\s+detail\n/);
    expect(scored.stdout).toContain('3 scores stored under rule alpha-roots (source manual)');

    const { code, stdout, stderr } = await cli(['scores', '--since', '4h', '--bucket', '1h', '--rule', 'alpha-roots']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^rule\s+scorer\s+avg\s+count\s+errors\s+trend\n/);
    const row = stdout.split('\n').find((line) => line.startsWith('alpha-roots'))!;
    expect(row).toMatch(/^alpha-roots\s+ExactMatch\s+0\.667\s+3\s+0\s+/);
    // Five hourly buckets over 4 h: the miss two hours ago is ▁, the matches █, empty hours blank.
    const sparkline = row.replace(/^alpha-roots\s+ExactMatch\s+0\.667\s+3\s+0\s{2}/, '');
    expect(sparkline.replace(/ /g, '')).toBe('█▁█');
    expect(stdout).toContain("by the scored span's start time (Timestamp)");
  });

  it('explain prints each rule with its reason, and the scorers of the selecting ones', async () => {
    const { code, stdout, stderr } = await cli(['explain', '--span', trend[0]!.spanId]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`span ${trend[0]!.spanId} "chat" (root) in trace ${traceId}, project alpha, service api-test`);
    expect(stdout).toMatch(/\nrule\s+selected\s+reason\s+why\n/);
    expect(stdout).toMatch(/\nalpha-roots\s+yes\s+selected\n/);
    expect(stdout).toMatch(/\nbackfill\s+no\s+disabled\s+the rule is disabled/);
    expect(stdout).toMatch(/\nalpha-roots\s+ExactMatch\s+scored\s+scored 1 \((online|manual)\)/);
  });

  it('backfill asks before more than 100 spans, refuses without a terminal, and with --yes shows progress and a summary', async () => {
    const refused = await cli(['backfill', '--rule', 'backfill', '--limit', '120']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^backfill of rule backfill: 120 spans \(the 120 most recent at most\)\n {2}already scored: 0\n {2}to score: {7}120\n {2}est\. cost: {6}n\/a\n/);
    expect(refused.stderr).toBe('refusing to start without confirmation: no terminal to ask on; rerun with --yes\n');

    const small = await cli(['backfill', '--rule', 'backfill', '--limit', '20', '--since', '1h']);
    expect(small.stderr).toMatch(/\[#{30}\] 20\/20 {2}scored 20, skipped 0, errored 0\n$/);
    expect(small.code).toBe(0);
    expect(small.stdout).toMatch(/\nbackfill [0-9a-f]+ done in [\d.]+ s: 20 spans, 20 scored, 0 skipped \(already scored\), 0 with errors\n$/);

    const { code, stdout, stderr } = await cli(['backfill', '--rule', 'backfill', '--limit', '120', '--yes']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/already scored: 20\n {2}to score: {7}100\n/);
    expect(stderr).toMatch(/\] 120\/120 {2}scored 100, skipped 20, errored 0\n$/);
    expect(stdout).toMatch(/done in [\d.]+ s: 120 spans, 100 scored, 20 skipped \(already scored\), 0 with errors\n$/);

    const nothing = await cli(['backfill', '--rule', 'backfill', '--limit', '120']);
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toMatch(/nothing to score \(use --force to score them again\)\n$/);
  });

  it('backfill on a terminal asks, and takes no for an answer', async () => {
    const client = new AdminApiClient({ origin: `http://${api.admin}`, key: KEYS.admin });
    const run = async (answer: string) => {
      const input = Object.assign(new PassThrough(), { isTTY: true });
      const out = new PassThrough();
      const err = Object.assign(new PassThrough(), { isTTY: false });
      let text = '';
      err.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        // Answer once the question is on the screen, as a user would.
        if (text.includes('[y/N]') && !input.writableEnded) input.end(`${answer}\n`);
      });
      const code = await backfillCommand(client, { rule: 'backfill', limit: 110, force: true, yes: false }, { out, err, input, pollMs: 20 });
      return { code, err: text };
    };
    const no = await run('n');
    expect(no.code).toBe(1);
    expect(no.err).toBe('start the backfill? [y/N] cancelled\n');
    const yes = await run('y');
    expect(yes.code).toBe(0);
    expect(yes.err).toMatch(/\] 110\/110 {2}scored 110, skipped 0, errored 0\n$/);
  });

  it("prints the API's error and exits 1; takes the key from SPANSCORE_API_KEY", async () => {
    const unknown = await cli(['rules', 'test', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('spanscore: no rule named "nope" (rules: judged, alpha-roots, backfill)\n');
    const noKey = await cli(['rules', 'list'], null);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/^spanscore: missing API key/);
    const forbidden = await cli(['backfill', '--rule', 'backfill', '--yes'], KEYS.readerAlpha);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toBe('spanscore: API key "readerAlpha" lacks the "update" permission\n');
    const fromEnv = await cli(['rules', 'list'], null, { SPANSCORE_API_KEY: KEYS.readerAlpha });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toContain('alpha-roots');
    const badSpan = await cli(['explain', '--span', 'zz']);
    expect(badSpan.code).toBe(1);
    expect(badSpan.stderr).toBe('spanscore: span_id: must be a span id: 16 hex digits\n');
  });

  it('finds the admin endpoint in --config, and says when it cannot be reached', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spanscore-cli-api-'));
    const file = join(dir, 'spanscore.yaml');
    writeFileSync(file, `storage:\n  clickhouse:\n    embedded: { path: ${join(dir, 'ch')} }\nadmin: { endpoint: '127.0.0.1:${api.admin.split(':')[1]}' }\n`);
    const viaConfig = await runCli(['rules', 'list', '--config', file, '--key', KEYS.admin]);
    expect(viaConfig.stderr).toBe('');
    expect(viaConfig.code).toBe(0);
    expect(viaConfig.stdout).toContain('alpha-roots');
    writeFileSync(file, `storage:\n  clickhouse:\n    embedded: { path: ${join(dir, 'ch')} }\nadmin: { endpoint: '127.0.0.1:0' }\n`);
    const randomPort = await runCli(['rules', 'list', '--config', file]);
    expect(randomPort.code).toBe(1);
    expect(randomPort.stderr).toMatch(/listens on a random port: give the bound address with --admin host:port/);
    const port = await closedPort();
    const nobody = await runCli(['rules', 'list', '--admin', `127.0.0.1:${port}`]);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toBe(`spanscore: cannot reach the spanscore admin endpoint at http://127.0.0.1:${port}: ECONNREFUSED\n`);
  });

  it('keys create prints a key and the auth.keys entry', async () => {
    const { code, stdout } = await runCli(['keys', 'create', '--name', 'ci', '--project', 'alpha', '--permission', 'read', '--permission', 'update']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/- name: ci\n {2}hash: sha256:[0-9a-f]{64}\n {2}projects: \["alpha"\]\n {2}permissions: \[read, update\]\n/);
  });
});
