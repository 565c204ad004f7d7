import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ApiKeys } from '../../src/auth/api-keys.js';
import { generateApiKey } from '../../src/auth/api-key-generator.js';
import { keysCreateCommand, type KeysCreateOptions } from '../../src/cli/keys-command.js';
import { parseConfigText } from '../../src/config/config-loader.js';

const MINIMAL_CONFIG = `
storage:
  clickhouse:
    embedded:
      path: ./data/x
`;

function run(options: KeysCreateOptions): { code: number; out: string; err: string } {
  const out = new PassThrough();
  const err = new PassThrough();
  const code = keysCreateCommand(options, out, err);
  return { code, out: String(out.read() ?? ''), err: String(err.read() ?? '') };
}

/** The printed key and the `auth.keys` entry (everything from `- name:` on). */
function split(out: string): { key: string; entry: string } {
  const key = /\b(ssk_[A-Za-z0-9_-]+)/.exec(out)?.[1];
  const start = out.indexOf('- name:');
  expect(key).toBeDefined();
  expect(start).toBeGreaterThan(0);
  return { key: key!, entry: out.slice(start) };
}

/** The entry pasted under `auth.keys` of a minimal config, loaded like a config file. */
function loadEntry(entry: string) {
  const indented = entry.replace(/^(?=.)/gm, '    ');
  return parseConfigText(`${MINIMAL_CONFIG}auth:\n  keys:\n${indented}`, 'spanscore.yaml', {}).auth.keys;
}

describe('generateApiKey', () => {
  it('32 random bytes, base64url, prefixed ssk_, with its hash', () => {
    const { key, sha256 } = generateApiKey();
    expect(key).toMatch(/^ssk_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(key.slice(4), 'base64url')).toHaveLength(32);
    expect(sha256).toBe(ApiKeys.hash(key));
    expect(generateApiKey().key).not.toBe(key);
  });
});

describe('spanscore keys create', () => {
  it('prints the key once and an auth.keys entry that admits it', () => {
    const { code, out, err } = run({ name: 'ci', projects: ['shop', 'my project: "x"'], permissions: ['ingest', 'read', 'ingest'] });
    expect(code).toBe(0);
    expect(err).toBe('');
    const { key, entry } = split(out);
    expect(out.split(key)).toHaveLength(2);
    expect(entry).not.toContain(key);
    expect(entry).toContain(`hash: sha256:${ApiKeys.hash(key)}`);

    expect(parse(entry)).toEqual([
      { name: 'ci', hash: `sha256:${ApiKeys.hash(key)}`, projects: ['shop', 'my project: "x"'], permissions: ['ingest', 'read'] },
    ]);
    const [spec] = loadEntry(entry);
    expect(spec).toEqual({ name: 'ci', sha256: ApiKeys.hash(key), projects: ['shop', 'my project: "x"'], permissions: ['ingest', 'read'] });
    const keys = new ApiKeys([spec!]);
    expect(keys.authenticate(`Bearer ${key}`)).toEqual({ ok: true, key: spec });
  });

  it('defaults to every project and the ingest permission', () => {
    const { code, out } = run({ name: 'exporter', projects: [], permissions: [] });
    expect(code).toBe(0);
    const { entry } = split(out);
    expect(loadEntry(entry)).toEqual([expect.objectContaining({ name: 'exporter', projects: ['*'], permissions: ['ingest'] })]);
  });

  const bad: [label: string, options: KeysCreateOptions, message: RegExp][] = [
    ['a name with a space', { name: 'my key', projects: [], permissions: [] }, /--name "my key": use letters, digits/],
    ['an empty name', { name: '', projects: [], permissions: [] }, /--name "":/],
    ['an unknown permission', { name: 'k', projects: [], permissions: ['ingest', 'admin'] }, /--permission "admin": use one of ingest, read, update/],
    ['an empty project', { name: 'k', projects: [''], permissions: [] }, /--project must not be empty/],
    ['`*` with other projects', { name: 'k', projects: ['*', 'a'], permissions: [] }, /`\*` already covers every project/],
  ];
  for (const [label, options, message] of bad) {
    it(`exits 2 without a key for ${label}`, () => {
      const { code, out, err } = run(options);
      expect(code).toBe(2);
      expect(out).toBe('');
      expect(err).toMatch(message);
    });
  }
});
