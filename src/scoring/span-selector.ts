import type { SpanRow } from '../pipeline/span-row.js';
import type { RuleSpec } from './rule-spec.js';
import { SpanNamePatterns } from './span-name-patterns.js';

/**
 * A rule's `apply_to` as a predicate over stored spans. The criteria are alternatives: a span
 * is selected when it is a root span (and `root_spans` is on) OR its name is listed (or
 * matches a listed `*` glob). A rule with neither criterion selects nothing; the config layer
 * rejects such rules, but the predicate stays total so a rule built elsewhere cannot score
 * every span by accident.
 */
export class SpanSelector {
  readonly #rootSpans: boolean;
  readonly #spanNames: SpanNamePatterns;

  constructor(applyTo: RuleSpec['applyTo']) {
    this.#rootSpans = applyTo.rootSpans;
    this.#spanNames = new SpanNamePatterns(applyTo.spanNames);
  }

  /** False when the selector can never match, so callers can skip the rule altogether. */
  get selectsAnything(): boolean {
    return this.#rootSpans || !this.#spanNames.empty;
  }

  matches(span: SpanRow): boolean {
    return (this.#rootSpans && span.ParentSpanId === '') || this.#spanNames.matches(span.SpanName);
  }
}
