import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ on Linux: the unit of utime/stime in /proc/PID/stat. */
const CLOCK_TICKS = 100;

/** utime + stime of the process (all its threads), in µs. */
export function cpuMicros(pid: number): number {
  // The comm field may hold spaces and parentheses: split after its closing one.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  // utime and stime are fields 14 and 15 of /proc/PID/stat (1-based), i.e. 11 and 12 after comm.
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS;
}

/** A field of /proc/PID/status in kB (VmHWM: peak RSS; VmRSS: current RSS), as MiB. */
export function statusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return line === undefined ? Number.NaN : Number(line.split(/\s+/)[1]) / 1024;
}

/**
 * The pid of the process whose command line holds `argument`. The ClickHouse test server
 * helper does not expose its child's pid, and its `--http_port=N` argument is unique.
 */
export function findPidByArgument(argument: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.includes(argument)) return Number(entry);
    } catch {
      // exited meanwhile
    }
  }
  return undefined;
}

/** CPU of an optional process (µs), NaN when there is none or it is gone. */
export function cpuMicrosOrNaN(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    return cpuMicros(pid);
  } catch {
    return Number.NaN;
  }
}

/** The value at quantile `q` of ascending `sorted` (nearest rank), NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Busy CPU time of the whole machine (all cores, every process), in µs, from /proc/stat. */
export function machineBusyMicros(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1_000_000) / CLOCK_TICKS;
}
