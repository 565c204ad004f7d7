/**
 * Which span attributes feed a scorer's `input`, `output`, `expected` and `metadata`.
 * Instrumentation libraries disagree on where they put prompts and completions, so each
 * field is an ordered list of attribute keys and the first one present on the span wins.
 * The config layer lets users replace any list.
 */
export interface FieldConventions {
  input: string[];
  output: string[];
  expected: string[];
  /** Attributes whose key starts with this prefix become metadata (prefix stripped). `''` disables. */
  metadataPrefix: string;
  /** An attribute holding a JSON object of metadata (OpenInference's `metadata`). `''` disables. */
  metadataAttribute: string;
}

/**
 * The conventions of the instrumentations people actually run, most specific first:
 * OpenInference (`input.value`), OTel GenAI semconv (`gen_ai.input.messages`), the older GenAI
 * attributes (`gen_ai.prompt`, also as OpenLLMetry's indexed `gen_ai.prompt.N.*`), OpenLLMetry's
 * Traceloop entities, and finally a plain `input` for hand-rolled spans.
 * Frozen because the config layer shares these arrays as its defaults.
 */
export const DEFAULT_FIELD_CONVENTIONS: FieldConventions = Object.freeze({
  input: Object.freeze(['input.value', 'gen_ai.input.messages', 'gen_ai.prompt', 'traceloop.entity.input', 'input']) as string[],
  output: Object.freeze([
    'output.value',
    'gen_ai.output.messages',
    'gen_ai.completion',
    'traceloop.entity.output',
    'output',
  ]) as string[],
  expected: Object.freeze(['expected', 'spanscore.expected']) as string[],
  metadataPrefix: 'metadata.',
  metadataAttribute: 'metadata',
});
