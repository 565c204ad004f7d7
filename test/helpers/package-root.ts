import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The spanscore package root, found by walking up from this file: helpers run both from
 * test/helpers (vitest) and from a compiled copy (the benchmarks), at different depths.
 */
export const PACKAGE_ROOT = (() => {
  let dir = import.meta.dirname;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'spanscore') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`spanscore package root not found above ${import.meta.dirname}`);
    dir = parent;
  }
})();
