import { z } from 'zod';

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * A point in time as ns since the epoch (decimal string, as span timestamps are kept): an RFC
 * 3339 time (fractions to the nanosecond are kept, not rounded to ms) or a number of ns.
 */
export const timePointNs = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ns = toNs(value);
  if (ns === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be an RFC 3339 time like "2025-01-31T12:00:00Z" or ns since the epoch, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ns;
});

function toNs(value: string | number): string | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? String(value) : undefined;
  const text = value.trim();
  if (/^\d{1,19}$/.test(text)) return BigInt(text).toString();
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [, date, time, fraction = '', zone] = match;
  const ms = Date.parse(`${date}T${time}${zone!.toUpperCase()}`);
  if (Number.isNaN(ms) || ms < 0) return undefined;
  return (BigInt(ms) * 1_000_000n + BigInt(fraction.padEnd(9, '0'))).toString();
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A look-back like `24h`, `7d`, `1d12h`, `90m` (or a number of ms), in ms: the config's
 * durations plus days, since "the last 7 days" is what one asks an API for.
 */
export function lookBackMs(options: { min: number }) {
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    const ms = typeof value === 'number' ? value : parseLookBack(value);
    if (ms === undefined || !Number.isFinite(ms) || ms < options.min) {
      ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(value)}: use a string like "30m", "24h", "7d" (at least ${options.min / 1000} s)` });
      return z.NEVER;
    }
    return ms;
  });
}

function parseLookBack(text: string): number | undefined {
  let rest = text.trim();
  if (/^\d+(\.\d+)?$/.test(rest)) return Number(rest);
  if (rest === '') return undefined;
  let total = 0;
  while (rest.length > 0) {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/.exec(rest);
    if (!match) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return total;
}

/** `durationMs` before now, as ns since the epoch. */
export function nsBeforeNow(durationMs: number): string {
  return ((BigInt(Date.now()) - BigInt(Math.round(durationMs))) * 1_000_000n).toString();
}

/** ns since the epoch (decimal string) as an ISO 8601 UTC time, to the millisecond. */
export function nsToIso(ns: string): string {
  return new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
}
