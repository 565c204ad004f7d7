import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/admin/logger.js';
import { WorkerPoolHolder } from '../../../src/scoring/on-demand/worker-pool-holder.js';
import type { WorkerScorerSpec } from '../../../src/scoring/rule-spec.js';
import type { ScorerPool } from '../../../src/scoring/scorer-pool.js';
import { SPAN } from '../scored-span-fixture.js';

/** The on-demand pool: shared while the specs agree, replaced (old one drained) when they do not. */

const holder = new WorkerPoolHolder({ workers: 1, logger: silentLogger() });

afterAll(async () => {
  await holder.close();
});

const exact: WorkerScorerSpec = { name: 'exact', kind: 'builtin', builtin: 'ExactMatch', options: {}, timeoutMs: 0 };
const lev: WorkerScorerSpec = { name: 'lev', kind: 'builtin', builtin: 'Levenshtein', options: {}, timeoutMs: 0 };

async function run(pool: ScorerPool, scorer: string) {
  const outcomes = await pool.runBatch([{ id: 1, scorer, args: { input: 'q', output: 'Paris', expected: 'Paris', metadata: {}, span: SPAN } }]);
  return outcomes.get(1)![0]!;
}

describe('WorkerPoolHolder', () => {
  it('shares one pool while the specs agree, and replaces it for a new or changed spec', async () => {
    const first = holder.acquire([exact]);
    const again = holder.acquire([exact]);
    expect(again.pool).toBe(first.pool);
    const wider = holder.acquire([lev]);
    expect(wider.pool).not.toBe(first.pool);
    // The new pool knows the old specs too, and the old one keeps working for its users.
    expect(await run(wider.pool, 'exact')).toMatchObject({ score: 1, error: '' });
    expect(await run(wider.pool, 'lev')).toMatchObject({ score: 1, error: '' });
    expect(await run(first.pool, 'exact')).toMatchObject({ score: 1, error: '' });
    // Closed once its last user lets go.
    first.release();
    again.release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await run(first.pool, 'exact')).error).toMatch(/closed/);
    const changed = holder.acquire([{ ...exact, timeoutMs: 500 }]);
    expect(changed.pool).not.toBe(wider.pool);
    changed.release();
    wider.release();
  });

  it('refuses leases once closed', async () => {
    const lease = holder.acquire([exact]);
    await holder.close();
    expect((await run(lease.pool, 'exact')).error).toMatch(/closed/);
    expect(() => holder.acquire([exact])).toThrow(/closed/);
  });
});
