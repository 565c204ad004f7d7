import { readFileSync } from 'node:fs';

let cached: { version: string | undefined } | undefined;

/**
 * spanscore's version from its package.json (`../../package.json` from both src/<dir>/ and
 * dist/<dir>/), read once; undefined when the file is missing or has none.
 */
export function packageVersion(): string | undefined {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      cached = { version: typeof pkg.version === 'string' ? pkg.version : undefined };
    } catch {
      cached = { version: undefined };
    }
  }
  return cached.version;
}
