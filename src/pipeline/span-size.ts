import type { SpanRow } from './span-row.js';

/**
 * What one span costs the process between its admission and its acknowledgement, per span,
 * per character of its strings and per map entry. An estimate that is too high refuses data
 * early (503s with memory to spare); one too low lets RSS run past the limit.
 */
export interface SpanMemoryProfile {
  perSpan: number;
  perChar: number;
  /** Attribute map entries, events and links: object and hash-table slots. */
  perEntry: number;
}

/**
 * With an embedded ClickHouse the engine's copy of a batch (parsed columns, part buffers) is
 * the daemon's memory too: RSS rose ~15-20 KB per LLM-style span (~480 characters, 10
 * attributes) in flight under sustained overload.
 */
export const EMBEDDED_SPAN_MEMORY: SpanMemoryProfile = { perSpan: 4096, perChar: 24, perEntry: 64 };

/**
 * With a ClickHouse server only the JS side counts: the decoded row (~1.4 KB for the same
 * span), its JSON text for the insert (~0.6 KB) and their share of the request body. The
 * embedded figures, applied here, let 6 requests of 1,000 spans in flight under the default
 * 512 MiB limit at 290 MiB RSS, and refused two thirds of a load the process had memory for.
 */
export const SERVER_SPAN_MEMORY: SpanMemoryProfile = { perSpan: 1024, perChar: 4, perEntry: 48 };

/** Estimated memory held by these rows until they are stored. O(size of the rows). */
export function estimateRowsBytes(rows: readonly SpanRow[], profile: SpanMemoryProfile = EMBEDDED_SPAN_MEMORY): number {
  const { perSpan, perChar, perEntry } = profile;
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
    bytes += perSpan + chars * perChar + recordBytes(row.SpanAttributes, profile) + recordBytes(row.ResourceAttributes, profile);
    for (const event of row.Events) {
      bytes += perEntry + (event.Name.length + event.Timestamp.length) * perChar + recordBytes(event.Attributes, profile);
    }
    for (const link of row.Links) {
      const chars = link.TraceId.length + link.SpanId.length + link.TraceState.length;
      bytes += perEntry + chars * perChar + recordBytes(link.Attributes, profile);
    }
  }
  return bytes;
}

function recordBytes(record: Record<string, string>, { perChar, perEntry }: SpanMemoryProfile): number {
  let bytes = 0;
  for (const key in record) bytes += perEntry + (key.length + record[key]!.length) * perChar;
  return bytes;
}
