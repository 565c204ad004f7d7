import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { exposeGc, MemoryLimiter, type MemoryLimiterOptions, type MemoryState } from '../../src/pipeline/memory-limiter.js';

const MIB = 1024 * 1024;

interface LogLine {
  level: number;
  msg: string;
  state?: MemoryState;
  refusedSpans?: number;
  peakRssMiB?: number;
}

/** limit 512, soft 384 MiB (the config defaults), with a hand-driven RSS and clock. */
function newLimiter(options: Partial<MemoryLimiterOptions> = {}) {
  const metrics = new DaemonMetrics({ processMetrics: false });
  const logs: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  const probe = { rss: 100 * MIB, now: 0, reads: 0 };
  const limiter = new MemoryLimiter({
    checkIntervalMs: 500,
    limitBytes: 512 * MIB,
    softLimitBytes: 384 * MIB,
    metrics,
    logger,
    rss: () => {
      probe.reads++;
      return probe.rss;
    },
    now: () => probe.now,
    gc: undefined,
    ...options,
  });
  limiters.push(limiter);
  return { limiter, metrics, logs, probe };
}

const limiters: MemoryLimiter[] = [];
afterEach(() => {
  for (const limiter of limiters.splice(0)) limiter.stop();
});

async function stateGauge(metrics: DaemonMetrics): Promise<Record<string, number>> {
  const { values } = await metrics.memoryLimiterState.get();
  return Object.fromEntries(values.map((v) => [v.labels.state, v.value]));
}

const WARN = 40;
const INFO = 30;

describe('MemoryLimiter', () => {
  it('goes through ok, soft and hard as RSS rises, with a reason for each refusal', () => {
    const { limiter, probe } = newLimiter();
    const at = (mib: number) => {
      probe.rss = mib * MIB;
      probe.now += 1000;
      return limiter.check();
    };
    expect(limiter.state).toBe('ok');
    expect(limiter.refuseIngest()).toBeUndefined();
    expect(limiter.shedScoring()).toBe(false);

    expect(at(384)).toBe('ok'); // thresholds are exclusive: "above" the limit
    expect(limiter.refuseIngest()).toBeUndefined();

    expect(at(400)).toBe('soft');
    expect(limiter.shedScoring()).toBe(true);
    const soft = limiter.refuseIngest();
    expect(soft).toMatch(/above the soft limit of 384 MiB/);
    expect(soft).toContain('RSS 400 MiB');

    expect(at(600)).toBe('hard');
    const hard = limiter.refuseIngest();
    expect(hard).toMatch(/above the hard limit of 512 MiB/);
    expect(hard).not.toBe(soft);

    expect(at(100)).toBe('ok');
    expect(limiter.refuseIngest()).toBeUndefined();
    expect(limiter.shedScoring()).toBe(false);
  });

  it('does not shed scoring below the soft limit, however long RSS stays high after a burst', () => {
    const { limiter, probe } = newLimiter();
    // 80-99% of the soft limit: where RSS settles after a burst (V8 keeps its heap), scoring used to shed.
    for (const mib of [308, 350, 383]) {
      probe.rss = mib * MIB;
      probe.now += 60_000;
      expect(limiter.check()).toBe('ok');
      expect(limiter.shedScoring()).toBe(false);
      expect(limiter.refuseIngest()).toBeUndefined();
    }
  });

  it('asks refused clients to wait 1-2 s above the soft limit and 3-5 s above the hard one', () => {
    const { limiter, probe } = newLimiter();
    probe.rss = 400 * MIB;
    limiter.check();
    const soft = new Set(Array.from({ length: 200 }, () => limiter.retryAfterSeconds()));
    expect([...soft].sort()).toEqual([1, 2]);
    probe.rss = 600 * MIB;
    limiter.check();
    const hard = Array.from({ length: 200 }, () => limiter.retryAfterSeconds());
    expect(hard.every((s) => s >= 3 && s <= 5)).toBe(true);
  });

  it('bounds what is in flight by the spike allowance and by a third of the room left under the limit', () => {
    const { limiter, probe } = newLimiter(); // limit 512, soft 384: spike 128 MiB
    probe.rss = 100 * MIB;
    limiter.check();
    // Far from the limit: the spike allowance.
    expect(limiter.refuseIngest(10 * MIB, 100 * MIB)).toBeUndefined();
    expect(limiter.refuseIngest(10 * MIB, 120 * MIB)).toMatch(/too much in flight: ~120 MiB .* 128 MiB allowed/);
    // RSS 302: (512 - 302) / 3 = 70 MiB.
    probe.rss = 302 * MIB;
    limiter.check();
    expect(limiter.refuseIngest(10 * MIB, 60 * MIB)).toBeUndefined();
    expect(limiter.refuseIngest(11 * MIB, 60 * MIB)).toMatch(/70 MiB allowed/);
    // Nothing in flight: any request gets in below the soft limit, however large.
    expect(limiter.refuseIngest(400 * MIB, 0)).toBeUndefined();
  });

  it('above the soft limit collects garbage, at most once per interval, and decides on the RSS after it', () => {
    const probe = { rss: 450 * MIB, now: 0 };
    let collections = 0;
    const gc = () => {
      collections++;
      probe.rss -= 100 * MIB;
    };
    const { limiter } = newLimiter({ rss: () => probe.rss, now: () => probe.now, gc, minGcIntervalSoftMs: 250, minGcIntervalHardMs: 100 });
    // The first check (in the constructor) collected: 450 -> 350.
    expect(collections).toBe(1);
    expect(limiter.state).toBe('ok');
    expect(limiter.rssBytes).toBe(350 * MIB);
    // Scoring sheds on RSS only when it stays above the soft limit after a collection.
    expect(limiter.shedScoring()).toBe(false);

    probe.rss = 450 * MIB;
    probe.now += 100;
    expect(limiter.check()).toBe('soft'); // 100 ms after the last one: no collection
    expect(collections).toBe(1);
    probe.now += 150;
    expect(limiter.check()).toBe('ok');
    expect(collections).toBe(2);

    probe.rss = 700 * MIB; // hard: shorter interval
    probe.now += 100;
    expect(limiter.check()).toBe('hard');
    expect(collections).toBe(3);
    expect(limiter.rssBytes).toBe(600 * MIB);

    probe.rss = 320 * MIB; // below the soft limit: never
    probe.now += 10_000;
    limiter.check();
    expect(collections).toBe(3);
  });

  it('publishes RSS and a one-hot state gauge', async () => {
    const { limiter, metrics, probe } = newLimiter();
    expect(await stateGauge(metrics)).toEqual({ ok: 1, soft: 0, hard: 0 });
    probe.rss = 450 * MIB;
    limiter.check();
    expect((await metrics.memoryLimiterRss.get()).values[0]!.value).toBe(450 * MIB);
    expect(await stateGauge(metrics)).toEqual({ ok: 0, soft: 1, hard: 0 });
    probe.rss = 513 * MIB;
    limiter.check();
    expect(await stateGauge(metrics)).toEqual({ ok: 0, soft: 0, hard: 1 });
  });

  it('refuseIngest samples again when the last sample is a few ms old; shedScoring never samples', () => {
    const { limiter, probe } = newLimiter({ ingestResampleMs: 5 });
    const reads = probe.reads;
    probe.rss = 450 * MIB; // a burst since the last background check
    for (let i = 0; i < 1000; i++) expect(limiter.shedScoring()).toBe(false);
    expect(probe.reads).toBe(reads);

    probe.now += 2;
    expect(limiter.refuseIngest()).toBeUndefined(); // sampled 2 ms ago: cached
    expect(probe.reads).toBe(reads);
    probe.now += 5;
    expect(limiter.refuseIngest()).toMatch(/soft limit/);
    expect(probe.reads).toBe(reads + 1);
    expect(limiter.refuseIngest()).toMatch(/soft limit/);
    expect(probe.reads).toBe(reads + 1);
  });

  it('logs a warning when crossing up, stays quiet while oscillating, and logs once when back', () => {
    const { limiter, logs, probe } = newLimiter({ quietPeriodMs: 1000 });
    const at = (mib: number, afterMs = 100) => {
      probe.rss = mib * MIB;
      probe.now += afterMs;
      limiter.check();
    };
    at(320);
    expect(logs).toEqual([]);
    at(400);
    limiter.noteRefused(1000);
    expect(logs.map((l) => [l.level, l.state])).toEqual([[WARN, 'soft']]);
    // Refusing brings memory down, accepting brings it back up: no line per swing.
    for (let i = 0; i < 20; i++) {
      at(i % 2 === 0 ? 350 : 390);
      limiter.noteRefused(1000);
    }
    expect(logs).toHaveLength(1);

    at(600);
    expect(logs.at(-1)).toMatchObject({ level: WARN, state: 'hard' });
    at(100);
    at(100, 500);
    expect(logs).toHaveLength(2);
    at(100, 600); // below for 1.1 s
    expect(logs).toHaveLength(3);
    expect(logs.at(-1)).toMatchObject({ level: INFO, state: 'ok', refusedSpans: 21_000, peakRssMiB: 600 });
    expect(logs.at(-1)!.msg).toMatch(/back below/);

    // A later episode starts its own count and warns again.
    at(400);
    expect(logs.at(-1)).toMatchObject({ level: WARN, state: 'soft' });
  });

  it('a drop to a lower but not ok state is reported once it lasts', () => {
    const { limiter, logs, probe } = newLimiter({ quietPeriodMs: 1000 });
    probe.rss = 600 * MIB;
    limiter.check();
    probe.rss = 400 * MIB;
    limiter.check();
    probe.now += 1500;
    limiter.check();
    expect(logs.map((l) => [l.level, l.state])).toEqual([
      [WARN, 'hard'],
      [INFO, 'soft'],
    ]);
  });

  it('samples in the background every check interval, on an unref-ed timer', async () => {
    const { limiter, probe } = newLimiter({ checkIntervalMs: 10 });
    limiter.start();
    limiter.start(); // idempotent
    probe.rss = 600 * MIB;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(limiter.state).toBe('hard');
    const reads = probe.reads;
    limiter.stop();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(probe.reads).toBe(reads);
  });

  it('reads the real RSS and exposes V8 gc by default', () => {
    const limiter = new MemoryLimiter({
      checkIntervalMs: 500,
      limitBytes: 1024 ** 4,
      softLimitBytes: 1024 ** 4,
      metrics: new DaemonMetrics({ processMetrics: false }),
      logger: pino({ level: 'silent' }),
    });
    expect(limiter.rssBytes).toBeGreaterThan(10 * MIB);
    expect(Math.abs(limiter.rssBytes - process.memoryUsage().rss)).toBeLessThan(200 * MIB);
    const gc = exposeGc();
    expect(typeof gc).toBe('function');
    gc!();
  });

  it('rejects inconsistent limits', () => {
    expect(() => newLimiter({ softLimitBytes: 600 * MIB })).toThrow(/softLimitBytes/);
    expect(() => newLimiter({ checkIntervalMs: 0 })).toThrow(/checkIntervalMs/);
  });
});
