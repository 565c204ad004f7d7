import { describe, expect, it } from 'vitest';
import { compareByCodePoint, formatGoFloat, quoteGoJsonString } from '../../src/receivers/go-json.js';
import { int64ToDecimal, uint64BitsToDecimal, uint64DifferenceToDecimal, uint64ToDecimal } from '../../src/receivers/int64-format.js';

function bitsOf(value: bigint): { high: number; low: number } {
  const unsigned = BigInt.asUintN(64, value);
  return { high: Number(unsigned >> 32n) | 0, low: Number(unsigned & 0xffffffffn) | 0 };
}

/** Deterministic pseudo-random 64-bit values (xorshift64*), across the whole range. */
function* randomUint64(count: number): Generator<bigint> {
  let state = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < count; i++) {
    state ^= state >> 12n;
    state ^= BigInt.asUintN(64, state << 25n);
    state ^= state >> 27n;
    const value = BigInt.asUintN(64, state * 0x2545f4914f6cdd1dn);
    yield value >> BigInt(i % 64); // also small magnitudes
  }
}

describe('64-bit decimal formatting', () => {
  it('matches BigInt for unsigned values over the whole range', () => {
    const edges = [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 10n ** 19n, 2n ** 64n - 1n];
    for (const value of [...edges, ...randomUint64(5000)]) {
      const { high, low } = bitsOf(value);
      expect(uint64BitsToDecimal(high >>> 0, low >>> 0)).toBe(value.toString());
      expect(uint64ToDecimal({ high, low, unsigned: true })).toBe(value.toString());
    }
  });

  it('matches BigInt for signed values, including the extremes', () => {
    const values = [0n, -1n, 1n, -(2n ** 63n), 2n ** 63n - 1n, -(2n ** 32n), -4294967295n, ...[...randomUint64(2000)].map((v) => BigInt.asIntN(64, v))];
    for (const value of values) {
      expect(int64ToDecimal({ ...bitsOf(value), unsigned: false })).toBe(value.toString());
    }
  });

  it('subtracts unsigned values exactly and clamps at zero', () => {
    const values = [...randomUint64(600)];
    for (let i = 0; i + 1 < values.length; i += 2) {
      const [a, b] = [values[i]!, values[i + 1]!];
      const expected = a >= b ? (a - b).toString() : '0';
      expect(uint64DifferenceToDecimal({ ...bitsOf(a), unsigned: true }, { ...bitsOf(b), unsigned: true })).toBe(expected);
    }
  });

  it('accepts plain numbers and missing values', () => {
    expect(uint64ToDecimal(2 ** 60)).toBe('1152921504606846976');
    expect(uint64ToDecimal(undefined)).toBe('0');
    expect(int64ToDecimal(-42)).toBe('-42');
    expect(uint64DifferenceToDecimal(2 ** 40 + 5, 2 ** 40)).toBe('5');
  });
});

describe('Go text formatting', () => {
  it('formats floats like pcommon float64AsString', () => {
    expect([0.1, 100, 1e20, 1e21, 1.5e-7, 1e-6, -2.5e300, -0, NaN, -Infinity].map(formatGoFloat)).toEqual([
      '0.1',
      '100',
      '100000000000000000000',
      '1e+21',
      '1.5e-7',
      '0.000001',
      '-2.5e+300',
      '-0',
      'json: unsupported value: NaN',
      'json: unsupported value: -Inf',
    ]);
  });

  it('quotes strings like encoding/json (HTML-safe, \\b \\f, U+2028/9, invalid UTF-16 replaced)', () => {
    expect(quoteGoJsonString('plain')).toBe('"plain"');
    expect(quoteGoJsonString('<a href="x">&</a>')).toBe('"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"');
    expect(quoteGoJsonString('\b\f\n\r\t\u0000\u001f\\')).toBe('"\\b\\f\\n\\r\\t\\u0000\\u001f\\\\"');
    expect(quoteGoJsonString('\u2028\u2029')).toBe('"\\u2028\\u2029"');
    expect(quoteGoJsonString('ok😀')).toBe('"ok😀"');
    expect(quoteGoJsonString('lone\ud800x\udc00')).toBe('"lone\\ufffdx\\ufffd"');
  });

  it('sorts keys by code point, as Go sorts UTF-8 map keys', () => {
    const keys = ['😀', '\uffff', 'b', 'a', 'ab', ''];
    expect([...keys].sort(compareByCodePoint)).toEqual(['', 'a', 'ab', 'b', '\uffff', '😀']);
  });
});
