import type { SpanscoreConfig } from '../../config/spanscore-config.js';
import { MAX_BODY_BYTES } from './api-body.js';
import { invalidArgument } from './api-error.js';

/**
 * The body limit of an endpoint that takes a filter: room for the longest filter allowed,
 * twice over (JSON escapes every `\` and `"` of it into two bytes), on top of the usual limit
 * for the rest of the body. A filter at `admin.max_filter_bytes` must get to the check below,
 * which names the setting, rather than be cut off as a 413 naming a number.
 */
export function filterBodyLimit(config: SpanscoreConfig): number {
  return MAX_BODY_BYTES + 2 * config.admin.maxFilterBytes;
}

/**
 * 400 for a filter longer than `admin.max_filter_bytes` (UTF-8), before it is parsed: a
 * filter compiles to SQL several times its size, which ClickHouse must parse and hold, so its
 * size is bounded here, where the client can be told which setting refused it.
 */
export function checkFilterSize(field: string, text: string, config: SpanscoreConfig): void {
  const limit = config.admin.maxFilterBytes;
  // Cheap first: a filter has at least one byte per UTF-16 unit.
  if (text.length <= limit / 3) return;
  const bytes = Buffer.byteLength(text);
  if (bytes > limit) throw invalidArgument(field, `${bytes} bytes, over the limit of ${limit} bytes (admin.max_filter_bytes)`);
}
