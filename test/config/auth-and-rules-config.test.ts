import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { parseConfigText } from '../../src/config/config-loader.js';
import { parseRuleBody } from '../../src/config/rule-config.js';
import { issuesOf, minimal } from './config-test-kit.js';

const HASH = `sha256:${'ab'.repeat(32)}`;

describe('auth keys in the config', () => {
  it('resolves keys with defaults (every project) and de-duplicated permissions', () => {
    const config = parseConfigText(`${minimal}auth:\n  keys:\n    - { name: ci, hash: "${HASH}", permissions: [ingest, read, ingest] }\n`, 'f.yaml', {});
    expect(config.auth.keys).toEqual([{ name: 'ci', sha256: 'ab'.repeat(32), projects: ['*'], permissions: ['ingest', 'read'] }]);
  });

  it('refuses bad hashes, unknown permissions, duplicates and `*` mixed with projects', () => {
    const issues = issuesOf(
      `${minimal}auth:\n  keys:\n    - { name: a, hash: "md5:abc", permissions: [ingest] }\n    - { name: b, hash: "${HASH}", permissions: [admin] }\n`,
    );
    expect(issues.map((i) => i.path)).toEqual(['auth.keys[0].hash', 'auth.keys[1].permissions[0]']);
    expect(issues[0]!.message).toMatch(/sha256:.*spanscore keys create/);
    const more = issuesOf(
      `${minimal}auth:\n  keys:\n    - { name: a, hash: "${HASH}", permissions: [read] }\n    - { name: a, hash: "${HASH}", permissions: [read], projects: ["*", shop] }\n`,
    );
    expect(more.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'auth.keys[1].name: duplicate key name "a" (also auth.keys[0])',
      'auth.keys[1].hash: the same key as auth.keys[0]',
      'auth.keys[1].projects: `*` already covers every project; list projects or `*`, not both',
    ]);
  });

  it('refuses listeners reachable from the network without keys, and allows them with keys', () => {
    const exposed = `${minimal}receivers:\n  otlp:\n    protocols:\n      http: { endpoint: 0.0.0.0:4318 }\nadmin: { endpoint: "[::]:13133" }\n`;
    const issues = issuesOf(exposed);
    expect(issues.map((i) => i.path)).toEqual(['receivers.otlp.protocols.http.endpoint', 'admin.endpoint']);
    expect(issues[0]!.message).toMatch(/0\.0\.0\.0:4318 is reachable from the network, but no API keys are configured/);
    expect(() => parseConfigText(`${exposed}auth:\n  keys:\n    - { name: a, hash: "${HASH}", permissions: [ingest] }\n`, 'f.yaml', {})).not.toThrow();
    expect(() => parseConfigText(`${minimal}admin: { endpoint: "localhost:13133" }\n`, 'f.yaml', {})).not.toThrow();
  });
});

describe('rule project and scope', () => {
  it('resolves project, scope and idle_seconds (default 30)', () => {
    const config = parseConfigText(
      `${minimal}rules:\n  - { name: a, scorers: [ExactMatch], project: shop }\n  - { name: t, scorers: [ExactMatch], scope: trace, idle_seconds: 5 }\n  - { name: d, scorers: [ExactMatch], scope: trace }\n`,
      'f.yaml',
      {},
    );
    expect(config.rules.map((r) => [r.name, r.project, r.scope, r.idleSeconds])).toEqual([
      ['a', 'shop', 'span', 30],
      ['t', undefined, 'trace', 5],
      ['d', undefined, 'trace', 30],
    ]);
  });

  it('refuses idle_seconds on a span rule and an unknown scope', () => {
    expect(issuesOf(`${minimal}rules:\n  - { name: a, scorers: [ExactMatch], idle_seconds: 5 }\n`)).toEqual([
      expect.objectContaining({ path: 'rules[0].idle_seconds', message: expect.stringMatching(/scope: trace/) }),
    ]);
    expect(issuesOf(`${minimal}rules:\n  - { name: a, scorers: [ExactMatch], scope: session }\n`)[0]!.path).toBe('rules[0].scope');
  });
});

describe('a rule body sent to the admin API', () => {
  const config = parseConfigText(`${minimal}scorers:\n  mine: { builtin: Levenshtein }\n`, 'f.yaml', {});

  it('resolves against the running config, with specs for declared scorers and built-ins named directly', () => {
    const { rule, scorers } = parseRuleBody({ name: 'try', scorers: ['mine', 'ExactMatch'], filter: "name = 'chat'", sampling_rate: '10%' }, config);
    expect(rule).toMatchObject({ name: 'try', samplingRate: 0.1, scope: 'span', filter: { text: "name = 'chat'" } });
    expect([...scorers.keys()]).toEqual(['mine', 'ExactMatch']);
    expect(scorers.get('ExactMatch')).toMatchObject({ kind: 'builtin', builtin: 'ExactMatch' });
  });

  it('names every problem by its path in the body', () => {
    try {
      parseRuleBody({ name: 'try', scorers: ['nope'], filter: 'name = ', extra: 1 }, config);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['extra']);
    }
    try {
      parseRuleBody({ name: 'try', scorers: ['nope'], filter: 'name = ' }, config);
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['filter', 'scorers[0]']);
    }
  });
});
