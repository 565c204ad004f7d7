import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TraceIdSampler } from '../../src/scoring/trace-id-sampler.js';

const randomTraceIds = (count: number): string[] => Array.from({ length: count }, () => randomBytes(16).toString('hex'));

describe('TraceIdSampler', () => {
  it('samples about p of random trace ids, and the same ones on every evaluation', () => {
    const traceIds = randomTraceIds(10_000);
    const sampled = traceIds.filter((id) => new TraceIdSampler(0.3).shouldSample(id));
    expect(sampled.length / traceIds.length).toBeGreaterThanOrEqual(0.28);
    expect(sampled.length / traceIds.length).toBeLessThanOrEqual(0.32);

    // A fresh sampler stands for another replica or a restart.
    const again = traceIds.filter((id) => new TraceIdSampler(0.3).shouldSample(id));
    expect(again).toEqual(sampled);
  });

  it('p = 1 keeps every trace and p = 0 none', () => {
    const traceIds = [...randomTraceIds(1_000), 'ffffffffffffffffffffffffffffffff', '00000000000000000000000000000000'];
    const always = new TraceIdSampler(1);
    const never = new TraceIdSampler(0);
    expect(traceIds.filter((id) => always.shouldSample(id))).toHaveLength(traceIds.length);
    expect(traceIds.filter((id) => never.shouldSample(id))).toHaveLength(0);
  });

  it('decides R >= T on the low 56 bits, exactly at the threshold', () => {
    const sampler = new TraceIdSampler(0.3);
    const threshold = TraceIdSampler.thresholdFor(0.3);
    const hex56 = (value: bigint) => value.toString(16).padStart(14, '0');
    // The high 64 bits must not matter.
    expect(sampler.shouldSample(`ffffffffffffffffff${hex56(threshold)}`)).toBe(true);
    expect(sampler.shouldSample(`000000000000000000${hex56(threshold - 1n)}`)).toBe(false);
    expect(sampler.shouldSample(`000000000000000000${hex56(threshold + 1n)}`)).toBe(true);
    // Same high half, low half on either side of the threshold's low half.
    expect(sampler.shouldSample(`ffffffffffffffffff${hex56(threshold | 0xfffffffn)}`)).toBe(true);
    expect(sampler.shouldSample(`ffffffffffffffffff${hex56(threshold & ~0xfffffffn)}`)).toBe((threshold & 0xfffffffn) === 0n);
  });

  it('agrees with a BigInt reference on random ids at several rates', () => {
    for (const p of [0.001, 0.1, 0.5, 0.9, 0.999]) {
      const sampler = new TraceIdSampler(p);
      const threshold = TraceIdSampler.thresholdFor(p);
      for (const id of randomTraceIds(2_000)) {
        expect(sampler.shouldSample(id)).toBe(TraceIdSampler.randomnessOf(id)! >= threshold);
      }
    }
  });

  it('uppercase hex reads like lowercase; an id with non-hex randomness is not sampled', () => {
    const sampler = new TraceIdSampler(0.5);
    for (const id of randomTraceIds(200)) {
      expect(sampler.shouldSample(id.toUpperCase())).toBe(sampler.shouldSample(id));
    }
    expect(sampler.shouldSample('ffffffffffffffffffffffffffffffzz')).toBe(false);
    // Only the low 14 digits are read (receivers validate the rest): break the high half of R.
    expect(sampler.shouldSample('ffffffffffffffffffzfffffffffffff')).toBe(false);
    expect(sampler.shouldSample('abc')).toBe(false);
  });

  it('rates nest: a trace kept at a low rate is kept at every higher rate', () => {
    const low = new TraceIdSampler(0.2);
    const high = new TraceIdSampler(0.6);
    const keptLow = randomTraceIds(5_000).filter((id) => low.shouldSample(id));
    expect(keptLow.length).toBeGreaterThan(0);
    expect(keptLow.every((id) => high.shouldSample(id))).toBe(true);
  });

  it('refuses a rate outside 0..1', () => {
    expect(() => new TraceIdSampler(1.5)).toThrow(RangeError);
    expect(() => new TraceIdSampler(-0.1)).toThrow(RangeError);
    expect(() => new TraceIdSampler(Number.NaN)).toThrow(RangeError);
  });
});
