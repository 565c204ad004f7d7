import type { SpanRow } from './span-row.js';

/**
 * What one span costs the process between its admission and its acknowledgement, per
 * character of its strings and per span. Measured on LLM-style spans (~480 characters, 10
 * attributes): ~1.4 KB of decoded row, ~0.5 KB of JSON row and ~0.9 KB of JSON text on the JS
 * heap, and with an embedded ClickHouse (its copy, parsed columns and part buffers) RSS rose
 * ~15-20 KB per span in flight under sustained overload. An estimate that is too high refuses
 * a little early; one too low lets RSS run past the limit.
 */
export const BYTES_PER_CHAR = 24;
export const BYTES_PER_SPAN = 4096;
/** Attribute map entries, events and links: object and hash-table slots. */
const BYTES_PER_ENTRY = 64;

/** Estimated memory held by these rows until they are stored (see BYTES_PER_CHAR). O(size of the rows). */
export function estimateRowsBytes(rows: readonly SpanRow[]): number {
  let bytes = 0;
  for (const row of rows) {
    const chars =
      row.Timestamp.length +
      row.TraceId.length +
      row.SpanId.length +
      row.ParentSpanId.length +
      row.TraceState.length +
      row.SpanName.length +
      row.SpanKind.length +
      row.ServiceName.length +
      row.ScopeName.length +
      row.ScopeVersion.length +
      row.Duration.length +
      row.StatusCode.length +
      row.StatusMessage.length;
    bytes += BYTES_PER_SPAN + chars * BYTES_PER_CHAR + recordBytes(row.SpanAttributes) + recordBytes(row.ResourceAttributes);
    for (const event of row.Events) {
      bytes += BYTES_PER_ENTRY + (event.Name.length + event.Timestamp.length) * BYTES_PER_CHAR + recordBytes(event.Attributes);
    }
    for (const link of row.Links) {
      const chars = link.TraceId.length + link.SpanId.length + link.TraceState.length;
      bytes += BYTES_PER_ENTRY + chars * BYTES_PER_CHAR + recordBytes(link.Attributes);
    }
  }
  return bytes;
}

function recordBytes(record: Record<string, string>): number {
  let bytes = 0;
  for (const key in record) bytes += BYTES_PER_ENTRY + (key.length + record[key]!.length) * BYTES_PER_CHAR;
  return bytes;
}
