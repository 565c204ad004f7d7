import { z } from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration as the Collector writes them (`500ms`, `5s`, `1m30s`, `2h`) or a bare number of
 * milliseconds. Parsed into milliseconds.
 */
export function durationMs(options: { min?: number; max?: number } = {}) {
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    const ms = typeof value === 'number' ? value : parseDuration(value);
    if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
      ctx.addIssue({
        code: 'custom',
        message: `invalid duration ${JSON.stringify(value)}: use a number of milliseconds or a string like "500ms", "5s", "1m30s", "2h"`,
      });
      return z.NEVER;
    }
    if (options.min !== undefined && ms < options.min) {
      ctx.addIssue({ code: 'custom', message: `duration ${JSON.stringify(value)} is below the minimum of ${options.min} ms` });
      return z.NEVER;
    }
    if (options.max !== undefined && ms > options.max) {
      ctx.addIssue({ code: 'custom', message: `duration ${JSON.stringify(value)} is above the maximum of ${options.max} ms` });
      return z.NEVER;
    }
    return ms;
  });
}

function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  let total = 0;
  let rest = trimmed;
  while (rest.length > 0) {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!match) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return total;
}
