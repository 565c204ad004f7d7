import type { SpanRow } from '../pipeline/span-row.js';
import type { FieldConventions } from './field-conventions.js';
import type { ScorerArgs } from './scorer-args.js';
import { readConventionFields } from './span-fields/convention-fields.js';
import { toScoredSpanView } from './span-fields/scored-span-view.js';
import { SpanMetadataCollector } from './span-fields/span-metadata.js';

export { DEFAULT_FIELD_CONVENTIONS, type FieldConventions } from './field-conventions.js';
export { parseAttributeValue } from './span-fields/attribute-value.js';
export { durationNsToMs, normaliseStatus, toScoredSpanView } from './span-fields/scored-span-view.js';

/**
 * Builds the autoevals-style arguments for scoring one span.
 *
 * For `input`, `output` and `expected` the keys of the convention list are tried in order and
 * the first PRESENT one wins (present means the attribute exists, even if empty). A key also
 * counts as present when only its indexed form exists (`gen_ai.prompt.0.content`, …), which is
 * read as a list of objects in place of the key. JSON objects/arrays are parsed; other text
 * stays a string. A field no key provides is `undefined`, never null, so scorers that require
 * `expected` (Levenshtein, NumericDiff) report it as missing.
 *
 * Every field comes from ONE pass over the attributes, and each is bounded
 * (span-fields/extraction-limits): the cost is linear in the span's attributes, whatever they are.
 */
export function extractScorerArgs(span: SpanRow, conventions: FieldConventions): ScorerArgs {
  const attributes = span.SpanAttributes;
  const metadata = new SpanMetadataCollector(conventions.metadataPrefix, conventions.metadataAttribute);
  const fields = readConventionFields(
    attributes,
    { input: conventions.input, output: conventions.output, expected: conventions.expected },
    metadata.scans ? [metadata] : [],
  );
  return {
    input: fields.input,
    output: fields.output,
    expected: fields.expected,
    metadata: metadata.result(attributes),
    span: toScoredSpanView(span),
  };
}

/**
 * One field by its convention list (see extractScorerArgs): the first present key wins, its
 * indexed form included; undefined when no key is present.
 */
export function readConventionField(attributes: Record<string, string>, keys: readonly string[]): unknown {
  return readConventionFields(attributes, { field: keys }).field;
}
