import type { Logger } from '../../admin/logger.js';
import type { WorkerScorerSpec } from '../rule-spec.js';
import { ScorerPool } from '../scorer-pool.js';

/** A pool borrowed for one scoring session; `release` when done with it. */
export interface PoolLease {
  pool: ScorerPool;
  release(): void;
}

interface HeldPool {
  pool: ScorerPool;
  /** The specs it was built with, by name, as JSON (a changed spec needs a new pool). */
  specs: Map<string, string>;
  users: number;
  retired: boolean;
}

/**
 * One ScorerPool for on-demand scoring, created on first use so a daemon nobody asks for
 * on-demand scores starts no extra threads. A pool knows its scorer specs from construction,
 * while each request brings its rule's: when a request needs a scorer the pool lacks (or a
 * changed spec under the same name, after a reload), a new pool with the union replaces it,
 * and the old one closes once the sessions still using it are done.
 */
export class WorkerPoolHolder {
  readonly #workers: number;
  readonly #logger: Logger;
  #current: HeldPool | undefined;
  readonly #held = new Set<HeldPool>();
  #closed = false;

  constructor(options: { workers: number; logger: Logger }) {
    this.#workers = options.workers;
    this.#logger = options.logger;
  }

  acquire(specs: WorkerScorerSpec[]): PoolLease {
    if (this.#closed) throw new Error('on-demand scoring is closed');
    let held = this.#current;
    if (held === undefined || !specs.every((spec) => held!.specs.get(spec.name) === JSON.stringify(spec))) {
      held = this.#replace(specs);
    }
    held.users++;
    const lease = held;
    let released = false;
    return {
      pool: lease.pool,
      release: () => {
        if (released) return;
        released = true;
        lease.users--;
        if (lease.retired && lease.users === 0) void this.#close(lease);
      },
    };
  }

  /** Stops every thread; calls in flight end with error outcomes. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#current = undefined;
    await Promise.all([...this.#held].map((held) => this.#close(held)));
  }

  #replace(specs: WorkerScorerSpec[]): HeldPool {
    const merged = new Map<string, WorkerScorerSpec>();
    const previous = this.#current;
    if (previous !== undefined) {
      for (const json of previous.specs.values()) {
        const spec = JSON.parse(json) as WorkerScorerSpec;
        merged.set(spec.name, spec);
      }
    }
    for (const spec of specs) merged.set(spec.name, spec);
    const pool = new ScorerPool({ workers: this.#workers, scorers: [...merged.values()], logger: this.#logger });
    const held: HeldPool = { pool, specs: new Map([...merged].map(([name, spec]) => [name, JSON.stringify(spec)])), users: 0, retired: false };
    this.#held.add(held);
    this.#current = held;
    if (previous !== undefined) {
      previous.retired = true;
      if (previous.users === 0) void this.#close(previous);
    }
    return held;
  }

  async #close(held: HeldPool): Promise<void> {
    if (!this.#held.delete(held)) return;
    try {
      await held.pool.close();
    } catch (error) {
      this.#logger.warn({ err: error }, 'closing an on-demand scorer pool failed');
    }
  }
}
