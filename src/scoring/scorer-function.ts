import type { ScorerArgs } from './scorer-args.js';

/** A named score as a scorer may return it (autoevals' `Score` shape). */
export interface NamedScore {
  name: string;
  score: number | null;
  metadata?: Record<string, unknown>;
}

/** Everything a scorer may return; anything else is reported as "not a score". */
export type ScorerReturn =
  | number
  | null
  | { score: number | null; metadata?: Record<string, unknown>; name?: string }
  | NamedScore[];

export type ScorerFunction = (args: ScorerArgs) => ScorerReturn | Promise<ScorerReturn>;
