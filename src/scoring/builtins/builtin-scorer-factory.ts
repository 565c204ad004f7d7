import type { ScorerFunction } from '../scorer-function.js';

/**
 * Builds one configured instance of a built-in scorer. `options` is the scorer's `options:`
 * block from the config (a plain object, `{}` when absent). Factories validate their options
 * eagerly and throw on anything they do not understand, so a typo fails config loading
 * instead of silently scoring every span with defaults.
 */
export type BuiltinScorerFactory = (options: Record<string, unknown>) => ScorerFunction;

/** Throws when `options` holds keys the scorer does not know (most likely typos). */
export function rejectUnknownOptions(
  scorerName: string,
  options: Record<string, unknown>,
  knownKeys: readonly string[],
): void {
  const unknown = Object.keys(options).filter((key) => !knownKeys.includes(key));
  if (unknown.length === 0) return;
  const accepted = knownKeys.length === 0 ? 'it takes no options' : `it accepts: ${knownKeys.join(', ')}`;
  throw new Error(`${scorerName}: unknown option(s) ${unknown.join(', ')} (${accepted})`);
}
