/**
 * The object every scorer receives (built-ins, user modules, LLM judges alike), in the
 * autoevals calling convention: `input`, `output`, `expected`, `metadata`, plus the span.
 * It crosses the worker-thread boundary, so it holds only structured-clonable data.
 */
export interface ScorerArgs {
  input: unknown;
  output: unknown;
  expected: unknown;
  metadata: Record<string, unknown>;
  span: ScoredSpanView;
  /** Trace rules only: every span of the trace, in start order (the root is `span`). */
  trace?: TraceTranscriptSpan[];
  /** Trace rules only: the conversation the trace's LLM calls carried, each message once, in order. */
  thread?: ThreadMessage[];
}

/** One span of a scored trace, as trace-rule scorers see it. */
export interface TraceTranscriptSpan {
  name: string;
  spanId: string;
  /** Empty for the root span. */
  parentSpanId: string;
  kind: string;
  /** `ok` | `error` | `unset` */
  status: string;
  statusMessage: string;
  /** Start time, ns since epoch (decimal string). */
  timestamp: string;
  durationMs: number;
  /** Read with the same field conventions as a scored span's `input` / `output`. */
  input: unknown;
  output: unknown;
  attributes: Record<string, string>;
}

/** One chat message of a trace's conversation. */
export interface ThreadMessage {
  /** `system`, `user`, `assistant`, `tool`, ... as the instrumentation named it (lower case). */
  role: string;
  content: string;
}

export interface ScoredSpanView {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  kind: string;
  serviceName: string;
  scopeName: string;
  attributes: Record<string, string>;
  resource: Record<string, string>;
  /** Start time, ns since epoch (decimal string). */
  timestamp: string;
  durationMs: number;
  /** `ok` | `error` | `unset` */
  status: string;
  statusMessage: string;
}

/** What one scorer produced for one span, after validation. */
export interface ScoreOutcome {
  /** The name stored in `scores.Scorer`. A module returning several scores yields several outcomes. */
  scorer: string;
  score: number | null;
  /** Empty when the scorer worked. */
  error: string;
  metadata: Record<string, unknown>;
  /** Wall time of the scorer call, ns. */
  durationNs: number;
  /** Start of the scorer call, ns since epoch (decimal string). */
  startedAt: string;
}
