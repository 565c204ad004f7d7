/**
 * Converts a timestamp in nanoseconds since the Unix epoch (decimal string) to the
 * `seconds.nanos` text that ClickHouse parses into DateTime64(9) without loss.
 *
 * The string form matters: a JS number holds only ~15.9 significant digits, so a nanosecond
 * timestamp (19 digits) would be rounded to the microsecond or worse on the way through.
 */
export function toClickHouseTime(ns: string): string {
  if (!/^\d+$/.test(ns)) {
    throw new TypeError(`expected nanoseconds since the epoch as a decimal string, got ${JSON.stringify(ns)}`);
  }
  // At least one digit of seconds, exactly nine of nanoseconds.
  const digits = ns.replace(/^0+/, '').padStart(10, '0');
  return `${digits.slice(0, -9)}.${digits.slice(-9)}`;
}
