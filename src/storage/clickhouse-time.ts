/**
 * Converts a timestamp in nanoseconds since the Unix epoch (decimal string) to the
 * `seconds.nanos` text that ClickHouse parses into DateTime64(9) without loss.
 *
 * Receivers refuse times beyond 2^63 - 1 ns, so every time that reaches here has at most ten
 * digits of seconds.
 *
 * The string form matters: a JS number holds only ~15.9 significant digits, so a nanosecond
 * timestamp (19 digits) would be rounded to the microsecond or worse on the way through.
 */
export function toClickHouseTime(ns: string): string {
  if (!/^\d+$/.test(ns)) {
    throw new TypeError(`expected nanoseconds since the epoch as a decimal string, got ${JSON.stringify(ns)}`);
  }
  // ClickHouse reads `seconds.nanos` only with exactly ten digits of seconds: shorter ones are
  // taken for a date (`86400.000000001` is refused). Ten digits also cover all of DateTime64(9).
  const digits = ns.replace(/^0+/, '').padStart(19, '0');
  if (digits.length > 19) throw new RangeError(`${ns} ns is beyond what DateTime64(9) holds`);
  return `${digits.slice(0, -9)}.${digits.slice(-9)}`;
}
