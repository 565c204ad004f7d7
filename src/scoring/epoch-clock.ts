/**
 * Wall-clock ns since the epoch from the monotonic clock, anchored once per thread: Date.now()
 * alone has ms resolution, and scoring spans should order correctly within a trace. hrtime is
 * process-wide, so `toEpochNanos` also converts starts published by worker threads.
 */
const epochAnchorNs = BigInt(Date.now()) * 1_000_000n;
const hrtimeAnchorNs = process.hrtime.bigint();

export function toEpochNanos(hrtime: bigint): string {
  return (epochAnchorNs + (hrtime - hrtimeAnchorNs)).toString();
}

export function epochNanos(): string {
  return toEpochNanos(process.hrtime.bigint());
}
