/**
 * ns since epoch from the decimal strings SpanRow carries; BigInt because a JS number rounds
 * them. Anything unreadable is 0, which sorts first instead of failing a whole trace.
 */
export function nanos(text: string): bigint {
  return /^\d{1,30}$/.test(text) ? BigInt(text) : 0n;
}
