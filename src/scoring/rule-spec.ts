import type { FilterExpr } from '../filter/filter-ast.js';
import type { LlmJudgeSpec, LlmRuntimeSpec } from '../llm/llm-scorer-spec.js';

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
  /** Only spans of this project (resource attribute `spanscore.project`); undefined = all. */
  project?: string;
  /**
   * `span`: each selected span is scored as it is stored. `trace`: once a trace whose root span
   * the rule selects has been idle `idleSeconds`, the whole trace is scored, attached to the root.
   */
  scope: 'span' | 'trace';
  idleSeconds: number;
}

/** A scorer as the pipeline uses it, after config validation. */
export type ScorerSpec = {
  name: string;
  /** Per-call deadline; past it the call yields an error score. For LLM kinds: per HTTP attempt. */
  timeoutMs: number;
} & (
  /** Runs in the Piscina workers (CPU). */
  | { kind: 'builtin'; builtin: string; options: Record<string, unknown> }
  /** Runs in the Piscina workers. `module` is an absolute path; `exportName` defaults to `default`. */
  | { kind: 'module'; module: string; exportName: string }
  /** Runs on the main thread (I/O): a native LLM-as-a-judge. */
  | { kind: 'llm'; judge: LlmJudgeSpec; runtime: LlmRuntimeSpec }
  /**
   * Runs on the main thread: a scorer exported by the `autoevals` package, with its OpenAI
   * client forced onto `runtime.baseUrl` (LLM scorers) through spanscore's transport.
   */
  | { kind: 'autoevals'; autoevals: string; options: Record<string, unknown>; runtime: LlmRuntimeSpec | undefined }
);

/** The scorer kinds that run in the worker pool. */
export type WorkerScorerSpec = Extract<ScorerSpec, { kind: 'builtin' | 'module' }>;
/** The scorer kinds that run on the main thread. */
export type MainThreadScorerSpec = Extract<ScorerSpec, { kind: 'llm' | 'autoevals' }>;

/** Scorer kinds that run in the worker pool; the others run on the main thread. */
export function runsInWorkers(spec: ScorerSpec): spec is WorkerScorerSpec {
  return spec.kind === 'builtin' || spec.kind === 'module';
}
