import { describe, expect, it } from 'vitest';
import { toClickHouseTime } from '../../src/storage/clickhouse-time.js';

describe('toClickHouseTime', () => {
  it('splits nanoseconds into seconds.nanos without rounding', () => {
    expect(toClickHouseTime('1700000000123456789')).toBe('1700000000.123456789');
    expect(toClickHouseTime('1700000000000000001')).toBe('1700000000.000000001');
    expect(toClickHouseTime('18446744073709551615')).toBe('18446744073.709551615');
  });

  it('handles times before one second and leading zeros', () => {
    expect(toClickHouseTime('0')).toBe('0.000000000');
    expect(toClickHouseTime('5')).toBe('0.000000005');
    expect(toClickHouseTime('999999999')).toBe('0.999999999');
    expect(toClickHouseTime('1000000000')).toBe('1.000000000');
    expect(toClickHouseTime('0001700000000123456789')).toBe('1700000000.123456789');
  });

  it('refuses anything but decimal digits', () => {
    for (const bad of ['', '-1', '1.5', '1e18', ' 1', 'abc']) {
      expect(() => toClickHouseTime(bad)).toThrow(TypeError);
    }
  });
});
