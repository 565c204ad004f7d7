import type { Int64Value } from './otlp-types.js';

/**
 * Decimal rendering of protobuf 64-bit integers without losing precision.
 *
 * Timestamps are nanoseconds since the epoch (~1.7e18), far above 2^53, so neither
 * `Number` nor `Long#toString` (one Long allocation per division step) are acceptable on
 * the hot path. The long division below works on 16-bit digits in plain doubles, where
 * every intermediate value stays below 2^53 and is therefore exact.
 */

const TWO_32 = 4294967296;
const TEN_7 = 10_000_000;

/** `fixed64`/`uint64` value → decimal string. Missing → '0'. */
export function uint64ToDecimal(value: Int64Value | null | undefined): string {
  if (value == null) return '0';
  if (typeof value === 'number') return unsignedNumberToDecimal(value);
  return uint64BitsToDecimal(value.high >>> 0, value.low >>> 0);
}

/** `int64` value (two's complement unless the Long says unsigned) → decimal string. */
export function int64ToDecimal(value: Int64Value | null | undefined): string {
  if (value == null) return '0';
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) ? String(value) : BigInt(Math.trunc(value)).toString();
  }
  const high = value.high | 0;
  const low = value.low >>> 0;
  if (value.unsigned === true || high >= 0) return uint64BitsToDecimal(high >>> 0, low);
  // Negate: -x = ~x + 1, carrying into the high word when the low word wraps to 0.
  const negLow = (~low + 1) >>> 0;
  const negHigh = (~high + (negLow === 0 ? 1 : 0)) >>> 0;
  return '-' + uint64BitsToDecimal(negHigh, negLow);
}

/** `end - start` for two unsigned 64-bit values, '0' when end < start. */
export function uint64DifferenceToDecimal(
  end: Int64Value | null | undefined,
  start: Int64Value | null | undefined,
): string {
  const endHigh = highWord(end);
  const endLow = lowWord(end);
  const startHigh = highWord(start);
  const startLow = lowWord(start);
  if (endHigh < startHigh || (endHigh === startHigh && endLow < startLow)) return '0';
  let low = endLow - startLow;
  let high = endHigh - startHigh;
  if (low < 0) {
    low += TWO_32;
    high -= 1;
  }
  return uint64BitsToDecimal(high, low);
}

/**
 * Whether an unsigned 64-bit value exceeds 2^63 - 1. Timestamps must not: ClickHouse's
 * DateTime64(9) ends at 2262-04-11T23:47:16.854775807Z (2^63 - 1 ns).
 */
export function exceedsInt64(value: Int64Value | null | undefined): boolean {
  if (typeof value === 'number') return value >= 2 ** 63;
  return highWord(value) >= 0x80000000;
}

/** Decimal of `high * 2^32 + low`, both halves unsigned 32-bit. */
export function uint64BitsToDecimal(high: number, low: number): string {
  // Below 2^53 a double holds the value exactly.
  if (high < 0x200000) return String(high * TWO_32 + low);
  // Long division by 10^7, digit by digit: the high word as one digit (< 2^32), then the
  // two 16-bit halves of the low word. Each remainder * 65536 + digit is < 2^53.
  let rest = high;
  const q2 = Math.floor(rest / TEN_7);
  rest = (rest - q2 * TEN_7) * 65536 + (low >>> 16);
  const q1 = Math.floor(rest / TEN_7);
  rest = (rest - q1 * TEN_7) * 65536 + (low & 0xffff);
  const q0 = Math.floor(rest / TEN_7);
  rest -= q0 * TEN_7;
  const quotient = (q2 * 65536 + q1) * 65536 + q0;
  return String(quotient) + String(rest).padStart(7, '0');
}

function unsignedNumberToDecimal(value: number): string {
  if (!(value > 0)) return '0';
  // String(2 ** 60) is "1152921504606847000": only BigInt prints large doubles exactly.
  return Number.isSafeInteger(value) ? String(value) : BigInt(Math.trunc(value)).toString();
}

function highWord(value: Int64Value | null | undefined): number {
  if (value == null) return 0;
  if (typeof value === 'number') return value > 0 ? Math.floor(value / TWO_32) >>> 0 : 0;
  return value.high >>> 0;
}

function lowWord(value: Int64Value | null | undefined): number {
  if (value == null) return 0;
  if (typeof value === 'number') return value > 0 ? value % TWO_32 >>> 0 : 0;
  return value.low >>> 0;
}
