import { describe, expect, it } from 'vitest';
import { toClickHouseTime } from '../../src/storage/clickhouse-time.js';

describe('toClickHouseTime', () => {
  it('splits nanoseconds into seconds.nanos without rounding', () => {
    expect(toClickHouseTime('1700000000123456789')).toBe('1700000000.123456789');
    expect(toClickHouseTime('1700000000000000001')).toBe('1700000000.000000001');
    expect(toClickHouseTime('9223372036854775807')).toBe('9223372036.854775807');
  });

  it('always writes ten digits of seconds (ClickHouse takes fewer for a date)', () => {
    expect(toClickHouseTime('86400000000001')).toBe('0000086400.000000001');
    expect(toClickHouseTime('999999999500000000')).toBe('0999999999.500000000');
  });

  it('refuses times beyond DateTime64(9)', () => {
    expect(() => toClickHouseTime('18446744073709551615')).toThrow(RangeError);
  });

  it('handles times before one second and leading zeros', () => {
    expect(toClickHouseTime('0')).toBe('0000000000.000000000');
    expect(toClickHouseTime('5')).toBe('0000000000.000000005');
    expect(toClickHouseTime('999999999')).toBe('0000000000.999999999');
    expect(toClickHouseTime('1000000000')).toBe('0000000001.000000000');
    expect(toClickHouseTime('0001700000000123456789')).toBe('1700000000.123456789');
  });

  it('refuses anything but decimal digits', () => {
    for (const bad of ['', '-1', '1.5', '1e18', ' 1', 'abc']) {
      expect(() => toClickHouseTime(bad)).toThrow(TypeError);
    }
  });
});
