import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { issuesOf, minimal } from './config-test-kit.js';
import { parseConfigText } from '../../src/config/config-loader.js';
import { checkScorers } from '../../src/config/scorer-checks.js';
import { READY_MADE_JUDGES } from '../../src/llm/ready-made-judges.js';

async function checkIssues(text: string, resolveFrom?: string[]) {
  const config = parseConfigText(text, join(tmpdir(), 'spanscore.yaml'), {});
  try {
    await checkScorers(config, resolveFrom);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  return [];
}

describe('LLM judge scorers in the config', () => {
  it('resolves a ready-made judge with prices, limits, retries and budget', () => {
    const config = parseConfigText(
      `${minimal}
scoring:
  llm_prices:
    gpt-test: { input: 2.5, output: 10 }
scorers:
  facts:
    judge: factuality
    model: gpt-test
    base_url: http://127.0.0.1:9999/v1/
    api_key: \${env:KEY}
    max_concurrency: 3
    rate_limit: { requests_per_minute: 600 }
    retry: { max_retries: 2, initial_backoff: 20ms }
    budget: 1.5
    timeout: 5s
`,
      'f.yaml',
      { KEY: 'sk-test' },
    );
    expect(config.scorers.get('facts')).toEqual({
      name: 'facts',
      timeoutMs: 5000,
      kind: 'llm',
      judge: {
        prompt: READY_MADE_JUDGES['factuality']!.prompt,
        choiceScores: READY_MADE_JUDGES['factuality']!.choiceScores,
        useCot: READY_MADE_JUDGES['factuality']!.useCot,
        readyMade: 'factuality',
      },
      runtime: {
        baseUrl: 'http://127.0.0.1:9999/v1',
        apiKey: 'sk-test',
        model: 'gpt-test',
        maxConcurrency: 3,
        rateLimit: { requestsPerMinute: 600 },
        retry: { maxRetries: 2, initialBackoffMs: 20, maxBackoffMs: 30_000 },
        budgetUsdPerDay: 1.5,
        price: { inputPer1M: 2.5, outputPer1M: 10 },
      },
    });
  });

  it('resolves an own prompt with choice scores and defaults (60 s per attempt, 4 in flight)', () => {
    const config = parseConfigText(
      `${minimal}
scorers:
  polite:
    prompt: "Is this polite? {{output}}"
    choice_scores: { "yes": 1, "no": 0 }
    use_cot: false
    temperature: 0
    max_tokens: 100
    model: m
    base_url: http://127.0.0.1:9999/v1
`,
      'f.yaml',
      {},
    );
    expect(config.scorers.get('polite')).toMatchObject({
      timeoutMs: 60_000,
      kind: 'llm',
      judge: { prompt: 'Is this polite? {{output}}', choiceScores: { yes: 1, no: 0 }, useCot: false, temperature: 0, maxTokens: 100 },
      runtime: { apiKey: '', maxConcurrency: 4, rateLimit: {}, retry: { maxRetries: 4, initialBackoffMs: 500, maxBackoffMs: 30_000 } },
    });
  });

  it('refuses judges missing what they need, naming each key and line', () => {
    const issues = issuesOf(`${minimal}
scorers:
  a:
    prompt: "Rate {{ouput}}"
    model: m
    base_url: http://127.0.0.1:1/v1
  b:
    judge: factuality
  e:
    builtin: Levenshtein
    model: m
  f:
    judge: factuality
    builtin: ExactMatch
  g:
    autoevals: Factuality
    model: gpt-4o
  h:
    judge: factuality
    model: m
    base_url: ftp://example.org
`);
    const byPath = (path: string) => issues.filter((issue) => issue.path === path).map((issue) => issue.message).join(' | ');
    expect(byPath('scorers.a.choice_scores')).toMatch(/needs `choice_scores`/);
    expect(byPath('scorers.b.model')).toMatch(/required/);
    expect(byPath('scorers.b.base_url')).toMatch(/never picks one itself/);
    expect(byPath('scorers.e.model')).toMatch(/applies to LLM/);
    expect(byPath('scorers.f')).toMatch(/only one of `builtin`, `judge\/prompt`/);
    expect(byPath('scorers.g.model')).toMatch(/needs `base_url`/);
    expect(byPath('scorers.h.base_url')).toMatch(/http/);
    expect(issues.find((issue) => issue.path === 'scorers.b.model')?.line).toBe(12);
  });

  it('refuses an unknown ready-made judge, a bad template and a budget without a price', () => {
    const issues = issuesOf(`${minimal}
scorers:
  a:
    prompt: "Rate {{ouput}}"
    choice_scores: { "Y": 1 }
    model: m
    base_url: http://127.0.0.1:1/v1
  c:
    judge: nonsense
    model: m
    base_url: http://127.0.0.1:1/v1
  d:
    judge: factuality
    model: unpriced
    base_url: http://127.0.0.1:1/v1
    budget: 2
`);
    const byPath = (path: string) => issues.filter((issue) => issue.path === path).map((issue) => issue.message).join(' | ');
    expect(byPath('scorers.a.prompt')).toMatch(/unknown variable "ouput"/);
    expect(byPath('scorers.c.judge')).toMatch(/unknown ready-made judge "nonsense" \(known: .*factuality/);
    expect(byPath('scorers.d.budget')).toMatch(/price of model "unpriced".*llm_prices/);
  });

  it('accepts an autoevals heuristic without an endpoint, and an LLM one with it', () => {
    const config = parseConfigText(
      `${minimal}
scorers:
  lev: { autoevals: Levenshtein }
  facts: { autoevals: Factuality, model: gpt-4o-mini, base_url: "http://127.0.0.1:1/v1", options: { use_cot: true } }
`,
      'f.yaml',
      {},
    );
    expect(config.scorers.get('lev')).toMatchObject({ kind: 'autoevals', autoevals: 'Levenshtein', runtime: undefined });
    expect(config.scorers.get('facts')).toMatchObject({ kind: 'autoevals', autoevals: 'Factuality', options: { use_cot: true }, runtime: { model: 'gpt-4o-mini' } });
  });
});

describe('scorer checks that need I/O (run and validate)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spanscore-checks-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const good = file('good.mjs', 'export default () => 1;\nexport const named = () => 0.5;\n');
  const notFn = file('not-fn.mjs', 'export default 42;\n');
  const syntax = file('syntax.mjs', 'export default () => 1;\nconst = ;\n');
  const throws = file('throws.mjs', "const x = 1;\nthrow new Error('no database at import');\nexport default () => x;\n");

  it('accepts modules that export a function', async () => {
    expect(await checkIssues(`${minimal}scorers:\n  a: { module: ${good} }\n  b: { module: ${good}, export: named }\n`)).toEqual([]);
  });

  it('refuses a module whose export is not a function, does not parse, or throws on import, with file and line', async () => {
    const issues = await checkIssues(
      `${minimal}scorers:\n  a: { module: ${notFn} }\n  b: { module: ${good}, export: missing }\n  c: { module: ${syntax} }\n  d: { module: ${throws} }\n`,
    );
    const of = (name: string) => issues.find((issue) => issue.path.startsWith(`scorers.${name}.`));
    expect(of('a')).toMatchObject({ path: 'scorers.a.module', line: 7, message: expect.stringMatching(/exports no default function/) });
    expect(of('b')).toMatchObject({ path: 'scorers.b.export', message: expect.stringMatching(/"missing" as undefined, not a function/) });
    expect(of('c')?.message).toMatch(/does not load: SyntaxError/);
    expect(of('c')?.message).toContain(`${syntax}:2`);
    expect(of('d')?.message).toMatch(/does not load: Error: no database at import/);
    expect(of('d')?.message).toContain(`${throws}:2`);
  });

  it('refuses an autoevals scorer when the package is missing, or the name is not one of its scorers', async () => {
    const missing = await checkIssues(`${minimal}scorers:\n  facts: { autoevals: Factuality }\n`, [mkdtempSync(join(tmpdir(), 'no-autoevals-'))]);
    expect(missing).toEqual([expect.objectContaining({ path: 'scorers.facts.autoevals', message: expect.stringMatching(/not installed.*npm install autoevals/) })]);
    const unknown = await checkIssues(`${minimal}scorers:\n  x: { autoevals: Factuallity }\n`);
    expect(unknown).toEqual([expect.objectContaining({ path: 'scorers.x.autoevals', message: expect.stringMatching(/no scorer "Factuallity".*Factuality/) })]);
    expect(await checkIssues(`${minimal}scorers:\n  x: { autoevals: Factuality }\n`)).toEqual([]);
  });
});
