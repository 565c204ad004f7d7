import type { ApiKeySpec } from '../auth/api-key-spec.js';
import type { RawConfig } from './config-schema.js';

type Problem = (path: PropertyKey[], message: string) => void;

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost):\d+$/;

/**
 * `auth.keys` as specs, refusing duplicates. Without keys nobody is asked for one, so every
 * listener must be on loopback: a config that exposes a receiver or the admin endpoint to the
 * network without keys is refused.
 */
export function resolveKeys(raw: RawConfig, problem: Problem): ApiKeySpec[] {
  const keys: ApiKeySpec[] = [];
  const names = new Map<string, number>();
  const hashes = new Map<string, number>();
  raw.auth.keys.forEach((key, index) => {
    const earlierName = names.get(key.name);
    if (earlierName !== undefined) problem(['auth', 'keys', index, 'name'], `duplicate key name "${key.name}" (also auth.keys[${earlierName}])`);
    names.set(key.name, index);
    const sha256 = key.hash.slice('sha256:'.length);
    const earlierHash = hashes.get(sha256);
    if (earlierHash !== undefined) problem(['auth', 'keys', index, 'hash'], `the same key as auth.keys[${earlierHash}]`);
    hashes.set(sha256, index);
    if (key.projects.includes('*') && key.projects.length > 1) problem(['auth', 'keys', index, 'projects'], '`*` already covers every project; list projects or `*`, not both');
    keys.push({ name: key.name, sha256, projects: key.projects, permissions: [...new Set(key.permissions)] });
  });
  if (keys.length === 0) {
    const listeners: [PropertyKey[], string | undefined][] = [
      [['receivers', 'otlp', 'protocols', 'grpc', 'endpoint'], raw.receivers.otlp.protocols.grpc?.endpoint],
      [['receivers', 'otlp', 'protocols', 'http', 'endpoint'], raw.receivers.otlp.protocols.http?.endpoint],
      [['admin', 'endpoint'], raw.admin.endpoint],
    ];
    for (const [path, address] of listeners) {
      if (address !== undefined && !LOOPBACK.test(address)) {
        problem(path, `${address} is reachable from the network, but no API keys are configured: listen on 127.0.0.1, or add auth.keys (\`spanscore keys create\`)`);
      }
    }
  }
  return keys;
}
