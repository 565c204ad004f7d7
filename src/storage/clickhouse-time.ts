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
  // Hot path (every span): a scan instead of a regular expression and padding.
  let first = 0;
  while (first < ns.length - 1 && ns.charCodeAt(first) === 48) first++;
  for (let i = first; i < ns.length; i++) {
    const c = ns.charCodeAt(i);
    if (c < 48 || c > 57) throw new TypeError(`expected nanoseconds since the epoch as a decimal string, got ${JSON.stringify(ns)}`);
  }
  const digits = ns.length - first;
  if (digits === 0) throw new TypeError('expected nanoseconds since the epoch as a decimal string, got ""');
  if (digits > 19) throw new RangeError(`${ns} ns is beyond what DateTime64(9) holds`);
  // ClickHouse reads `seconds.nanos` only with exactly ten digits of seconds: shorter ones are
  // taken for a date (`86400.000000001` is refused). Ten digits also cover all of DateTime64(9).
  const padded = digits === 19 ? ns.slice(first) : ZEROS.slice(0, 19 - digits) + ns.slice(first);
  return `${padded.slice(0, 10)}.${padded.slice(10)}`;
}

const ZEROS = '0000000000000000000';
