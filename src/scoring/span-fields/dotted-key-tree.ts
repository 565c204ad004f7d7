import { setOwnProperty } from './own-property.js';

/** One attribute below a common prefix: its remaining key split on dots, and its value. */
export interface DottedEntry {
  path: string[];
  value: unknown;
}

interface Branch {
  children: Map<string, Branch | Leaf>;
}
interface Leaf {
  value: unknown;
}

/**
 * Builds nested values from dotted keys: `user.tier = gold` and `user.id = 7` become
 * `{ user: { tier: 'gold', id: '7' } }`. A level whose keys are exactly `0..n-1` becomes an
 * array (`tool_calls.0.name` → `tool_calls: [{ name }]`); sparse or mixed indices stay an object.
 *
 * When a key is both a value and a parent (`user = x` and `user.tier = gold`), the shorter key
 * keeps the name and the longer one is stored flat beside it (`{ user: 'x', 'user.tier': 'gold' }`):
 * nothing is dropped and the result does not depend on attribute order.
 */
export function buildDottedKeyTree(entries: readonly DottedEntry[]): Record<string, unknown> {
  const root: Branch = { children: new Map() };
  // The joined key once per entry, not twice per comparison: n log n joins made sorting the
  // attributes of a large span allocate gigabytes.
  const shortestFirst = entries
    .map((entry) => ({ entry, key: entry.path.join('.') }))
    .sort((a, b) => a.entry.path.length - b.entry.path.length || compareText(a.key, b.key));
  for (const { entry } of shortestFirst) insert(root, entry.path, entry.value);
  return toRecord(root);
}

function insert(root: Branch, path: readonly string[], value: unknown): void {
  let branch = root;
  for (let depth = 0; depth < path.length - 1; depth++) {
    const segment = path[depth]!;
    const existing = branch.children.get(segment);
    if (existing === undefined) {
      const child: Branch = { children: new Map() };
      branch.children.set(segment, child);
      branch = child;
    } else if ('children' in existing) {
      branch = existing;
    } else {
      // `segment` already holds a value: keep the rest of this key flat beside it.
      branch.children.set(path.slice(depth).join('.'), { value });
      return;
    }
  }
  branch.children.set(path[path.length - 1]!, { value });
}

function toValue(node: Branch | Leaf): unknown {
  if (!('children' in node)) return node.value;
  const keys = [...node.children.keys()];
  const isDenseIndexList = keys.length > 0 && keys.every((key, _, all) => isIndex(key) && Number(key) < all.length);
  if (isDenseIndexList) {
    return keys.sort((a, b) => Number(a) - Number(b)).map((key) => toValue(node.children.get(key)!));
  }
  return toRecord(node);
}

function toRecord(branch: Branch): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [key, child] of branch.children) setOwnProperty(record, key, toValue(child));
  return record;
}

/** Canonical non-negative integers only: `'01'` or `'1e3'` are names, not positions. */
export function isIndex(segment: string): boolean {
  return /^(0|[1-9]\d{0,8})$/.test(segment);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
