import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeySpec, Permission } from './api-key-spec.js';

export type AuthFailure = { ok: false; status: 401 | 403; grpcCode: 'UNAUTHENTICATED' | 'PERMISSION_DENIED'; message: string };

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The configured API keys: who a request is (`authenticate`) and what it may do
 * (`authorize`). Messages name keys by their configured name only: the key text, or
 * anything a client put in its Authorization header, never appears in them.
 */
export class ApiKeys {
  readonly #specs: readonly ApiKeySpec[];
  readonly #digests: readonly Buffer[];

  constructor(specs: ApiKeySpec[]) {
    for (const spec of specs) {
      // A malformed hash would make timingSafeEqual throw for every request: refuse it here.
      if (!SHA256_HEX.test(spec.sha256)) throw new Error(`API key "${spec.name}": sha256 must be 64 lower-case hex digits`);
    }
    this.#specs = [...specs];
    this.#digests = specs.map((spec) => Buffer.from(spec.sha256, 'hex'));
  }

  /** False when no keys are configured: then nobody is asked for one (listeners are loopback-only). */
  get enabled(): boolean {
    return this.#specs.length > 0;
  }

  authenticate(authorization: string | undefined): { ok: true; key: ApiKeySpec | undefined } | AuthFailure {
    if (!this.enabled) return { ok: true, key: undefined };
    const parsed = parseBearer(authorization);
    if (typeof parsed !== 'string') return parsed;
    const digest = createHash('sha256').update(parsed, 'utf8').digest();
    // Every hash is compared, match or not, so the time taken does not tell which key (or
    // how many) came before the match.
    let found: ApiKeySpec | undefined;
    for (let i = 0; i < this.#digests.length; i++) {
      if (timingSafeEqual(digest, this.#digests[i]!)) found ??= this.#specs[i];
    }
    if (found === undefined) return unauthenticated('unknown API key');
    return { ok: true, key: found };
  }

  authorize(key: ApiKeySpec | undefined, permission: Permission, project: string): { ok: true } | AuthFailure {
    const allowed = this.authorizePermission(key, permission);
    if (!allowed.ok || key === undefined) return allowed;
    if (this.covers(key, project)) return { ok: true };
    const covered = key.projects.join(', ');
    const what = project === '*' ? 'every project' : `project ${JSON.stringify(project)}`;
    return forbidden(`API key "${key.name}" does not cover ${what} (it covers: ${covered})`);
  }

  /**
   * The permission half of `authorize`, for refusing a request before its projects are
   * known (e.g. before decoding an export body).
   */
  authorizePermission(key: ApiKeySpec | undefined, permission: Permission): { ok: true } | AuthFailure {
    if (key === undefined || key.permissions.includes(permission)) return { ok: true };
    return forbidden(`API key "${key.name}" lacks the "${permission}" permission`);
  }

  /** Whether the key covers a project ('*' keys cover all; asking for '*' needs a '*' key). */
  covers(key: ApiKeySpec | undefined, project: string): boolean {
    if (key === undefined) return true;
    return key.projects.includes('*') || (project !== '*' && key.projects.includes(project));
  }

  /** Lower-case hex SHA-256 of a key, as `auth.keys[].hash` holds it (after `sha256:`). */
  static hash(key: string): string {
    return createHash('sha256').update(key, 'utf8').digest('hex');
  }
}

/** The key of `Bearer <key>`, or why the header is unusable (never quoting it). */
function parseBearer(authorization: string | undefined): string | AuthFailure {
  const header = (authorization ?? '').trim();
  if (header === '') return unauthenticated('missing API key: send the header `Authorization: Bearer <API key>`');
  const space = header.search(/\s/);
  const scheme = space === -1 ? header : header.slice(0, space);
  // The scheme is not echoed: a client that sent its bare key would see it in the answer.
  if (scheme.toLowerCase() !== 'bearer') return unauthenticated('the Authorization header must use the Bearer scheme: `Authorization: Bearer <API key>`');
  const token = space === -1 ? '' : header.slice(space).trim();
  if (token === '') return unauthenticated('the Authorization header has no API key after `Bearer`');
  if (/\s/.test(token)) return unauthenticated('malformed Authorization header: expected one API key after `Bearer`');
  return token;
}

function unauthenticated(message: string): AuthFailure {
  return { ok: false, status: 401, grpcCode: 'UNAUTHENTICATED', message };
}

function forbidden(message: string): AuthFailure {
  return { ok: false, status: 403, grpcCode: 'PERMISSION_DENIED', message };
}
