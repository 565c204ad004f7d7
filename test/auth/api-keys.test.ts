import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ApiKeySpec, Permission } from '../../src/auth/api-key-spec.js';
import { ApiKeys } from '../../src/auth/api-keys.js';

const CI_KEY = 'ssk_ci-key-for-tests';
const ADMIN_KEY = 'ssk_admin-key-for-tests';
const ci: ApiKeySpec = { name: 'ci', sha256: ApiKeys.hash(CI_KEY), projects: ['a', 'b'], permissions: ['ingest', 'read'] };
const admin: ApiKeySpec = { name: 'admin', sha256: ApiKeys.hash(ADMIN_KEY), projects: ['*'], permissions: ['ingest', 'read', 'update'] };
const keys = new ApiKeys([ci, admin]);

describe('ApiKeys.hash', () => {
  it('is the lower-case hex SHA-256 of the key text', () => {
    expect(ApiKeys.hash('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(ApiKeys.hash(CI_KEY)).toBe(createHash('sha256').update(CI_KEY).digest('hex'));
  });
});

describe('ApiKeys.authenticate', () => {
  it('finds the key of a Bearer header, whichever position it has in the config', () => {
    expect(keys.authenticate(`Bearer ${CI_KEY}`)).toEqual({ ok: true, key: ci });
    expect(keys.authenticate(`Bearer ${ADMIN_KEY}`)).toEqual({ ok: true, key: admin });
    // The scheme is case-insensitive (RFC 7235); surrounding blanks are not part of the key.
    expect(keys.authenticate(`bearer   ${ADMIN_KEY}  `)).toEqual({ ok: true, key: admin });
  });

  const failures: [label: string, header: string | undefined, message: RegExp][] = [
    ['no header', undefined, /missing API key.*Authorization: Bearer <API key>/],
    ['an empty header', '', /missing API key/],
    ['blanks only', '   ', /missing API key/],
    ['another scheme', 'Basic dXNlcjpwYXNz', /must use the Bearer scheme/],
    ['a bare key', CI_KEY, /must use the Bearer scheme/],
    ['Bearer without a key', 'Bearer', /no API key after `Bearer`/],
    ['Bearer and blanks', 'Bearer    ', /no API key after `Bearer`/],
    ['two words after Bearer', `Bearer ${CI_KEY} extra`, /malformed Authorization header/],
    ['an unknown key', 'Bearer ssk_not-configured', /^unknown API key$/],
    ['a known key with a changed letter', `Bearer ${CI_KEY.slice(0, -1)}X`, /^unknown API key$/],
  ];
  for (const [label, header, message] of failures) {
    it(`401 UNAUTHENTICATED for ${label}`, () => {
      const result = keys.authenticate(header);
      expect(result).toMatchObject({ ok: false, status: 401, grpcCode: 'UNAUTHENTICATED' });
      expect(result.ok ? '' : result.message).toMatch(message);
    });
  }

  it('never repeats the header in a message', () => {
    for (const header of [CI_KEY, `Basic ${CI_KEY}`, `Bearer ${CI_KEY} x`, `Bearer ${CI_KEY}zz`, `Token ${ADMIN_KEY}`]) {
      const result = keys.authenticate(header);
      expect(result.ok).toBe(false);
      const message = result.ok ? '' : result.message;
      expect(message).not.toContain(CI_KEY);
      expect(message).not.toContain(ADMIN_KEY);
      expect(message).not.toContain('Token');
    }
  });

  it('asks nobody for a key when none is configured', () => {
    const none = new ApiKeys([]);
    expect(none.enabled).toBe(false);
    expect(keys.enabled).toBe(true);
    expect(none.authenticate(undefined)).toEqual({ ok: true, key: undefined });
    expect(none.authenticate('Bearer whatever')).toEqual({ ok: true, key: undefined });
    expect(none.authorize(undefined, 'update', '*')).toEqual({ ok: true });
    expect(none.covers(undefined, 'anything')).toBe(true);
  });

  it('refuses a malformed configured hash at construction', () => {
    expect(() => new ApiKeys([{ ...ci, sha256: 'abc' }])).toThrow(/API key "ci": sha256 must be 64 lower-case hex digits/);
  });
});

describe('ApiKeys.authorize', () => {
  const permissions: Permission[] = ['ingest', 'read', 'update'];
  const projects = ['a', 'b', 'shop', '*'];

  it('allows exactly the listed permissions on the covered projects', () => {
    const allowed: string[] = [];
    for (const key of [ci, admin]) {
      for (const permission of permissions) {
        for (const project of projects) {
          if (keys.authorize(key, permission, project).ok) allowed.push(`${key.name} ${permission} ${project}`);
        }
      }
    }
    expect(allowed).toEqual([
      'ci ingest a',
      'ci ingest b',
      'ci read a',
      'ci read b',
      ...permissions.flatMap((permission) => projects.map((project) => `admin ${permission} ${project}`)),
    ]);
  });

  it('403 naming the missing permission first', () => {
    expect(keys.authorize(ci, 'update', 'a')).toEqual({
      ok: false,
      status: 403,
      grpcCode: 'PERMISSION_DENIED',
      message: 'API key "ci" lacks the "update" permission',
    });
    expect(keys.authorize(ci, 'update', 'shop')).toMatchObject({ message: 'API key "ci" lacks the "update" permission' });
    expect(keys.authorizePermission(ci, 'update')).toMatchObject({ ok: false, status: 403 });
    expect(keys.authorizePermission(ci, 'ingest')).toEqual({ ok: true });
  });

  it('403 naming the uncovered project and the covered ones', () => {
    expect(keys.authorize(ci, 'ingest', 'shop')).toEqual({
      ok: false,
      status: 403,
      grpcCode: 'PERMISSION_DENIED',
      message: 'API key "ci" does not cover project "shop" (it covers: a, b)',
    });
    expect(keys.authorize(ci, 'read', '*')).toMatchObject({ message: 'API key "ci" does not cover every project (it covers: a, b)' });
  });

  it('allows everything when auth is disabled (no key)', () => {
    for (const permission of permissions) expect(keys.authorize(undefined, permission, 'shop')).toEqual({ ok: true });
  });
});

describe('ApiKeys.covers', () => {
  it('a list covers its projects; `*` covers all; asking for `*` needs a `*` key', () => {
    expect(keys.covers(ci, 'a')).toBe(true);
    expect(keys.covers(ci, 'shop')).toBe(false);
    expect(keys.covers(ci, '*')).toBe(false);
    expect(keys.covers(ci, '')).toBe(false);
    expect(keys.covers(admin, 'shop')).toBe(true);
    expect(keys.covers(admin, '*')).toBe(true);
    expect(keys.covers(undefined, '*')).toBe(true);
  });
});
