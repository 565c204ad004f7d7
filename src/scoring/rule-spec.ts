import type { FilterExpr } from '../filter/filter-ast.js';

/** A scoring rule as the pipeline uses it, after config validation. */
export interface RuleSpec {
  name: string;
  description: string;
  /** Names of scorers (declared under `scorers:` or built-in names). */
  scorers: string[];
  /** 0..1 */
  samplingRate: number;
  applyTo: {
    rootSpans: boolean;
    spanNames: string[];
  };
  enabled: boolean;
  /** The rule's SQL filter, parsed and type-checked at config load. */
  filter?: { text: string; expr: FilterExpr };
}

/** A scorer as the pipeline uses it, after config validation. */
export type ScorerSpec = {
  name: string;
  /** Per-call deadline; past it the call yields an error score. */
  timeoutMs: number;
} & (
  | { kind: 'builtin'; builtin: string; options: Record<string, unknown> }
  /** `module` is an absolute path; `exportName` defaults to `default`. */
  | { kind: 'module'; module: string; exportName: string }
);
