import { randomBytes } from 'node:crypto';
import { ApiKeys } from './api-keys.js';

/** Makes spanscore keys recognisable in secret scanners and in a client's config. */
export const API_KEY_PREFIX = 'ssk_';
/** 256 bits: far beyond guessing, so a plain (unsalted) SHA-256 is enough to store it. */
const API_KEY_BYTES = 32;

export interface GeneratedApiKey {
  /** The key itself: shown once, never stored by spanscore. */
  key: string;
  /** What the config stores: lower-case hex SHA-256 of `key`. */
  sha256: string;
}

export function generateApiKey(): GeneratedApiKey {
  const key = API_KEY_PREFIX + randomBytes(API_KEY_BYTES).toString('base64url');
  return { key, sha256: ApiKeys.hash(key) };
}
