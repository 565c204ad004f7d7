import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.js';
import { parseConfigText } from '../../../src/config/config-loader.js';

/** `scoring.recovery.page_mib` and `memory_limiter.scoring_limit_mib`, as the loader reads them. */

const MIB = 1024 * 1024;
const base = 'storage:\n  clickhouse:\n    url: http://ch:8123\n';
const parse = (extra = '') => parseConfigText(base + extra, 'spanscore.yaml', {});

describe('recovery and scoring memory settings', () => {
  it('defaults to 4 MiB pages and a scoring budget of the spike allowance', () => {
    const config = parse();
    expect(config.scoring.recovery).toEqual({ enabled: true, windowMs: 3_600_000, intervalMs: 300_000, minAgeMs: 120_000, maxSpans: 10_000, pageBytes: 4 * MIB });
    // 512 MiB with a server, a quarter of it spike.
    expect(config.memoryLimiter).toEqual({ checkIntervalMs: 500, limitBytes: 512 * MIB, softLimitBytes: 384 * MIB, scoringLimitBytes: 128 * MIB });
  });

  it('reads page_mib and scoring_limit_mib, fractions included', () => {
    const config = parse('scoring:\n  recovery: { page_mib: 0.5 }\nmemory_limiter: { limit_mib: 1024, spike_limit_mib: 200, scoring_limit_mib: 64 }\n');
    expect(config.scoring.recovery.pageBytes).toBe(512 * 1024);
    expect(config.memoryLimiter.scoringLimitBytes).toBe(64 * MIB);
    expect(parse('memory_limiter: { limit_mib: 1024, spike_limit_mib: 200 }\n').memoryLimiter.scoringLimitBytes).toBe(200 * MIB);
  });

  it('still accepts scoring_shed_percent, which no longer does anything', () => {
    expect(parse('memory_limiter: { scoring_shed_percent: 90 }\n').memoryLimiter).toEqual(parse().memoryLimiter);
  });

  it('refuses a page of nothing and a budget of nothing', () => {
    expect(() => parse('scoring:\n  recovery: { page_mib: 0 }\n')).toThrow(ConfigError);
    expect(() => parse('memory_limiter: { scoring_limit_mib: 0 }\n')).toThrow(ConfigError);
  });
});
