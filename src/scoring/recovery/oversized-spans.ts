import type { Counter } from 'prom-client';
import type { Logger } from '../../admin/logger.js';
import type { MissingScores } from './missing-scores-sql.js';

/** Spans remembered as reported; past it the memory starts over (and a span may be counted again). */
const MAX_REMEMBERED = 100_000;
/** Examples named in the log line. */
const EXAMPLES = 5;

/**
 * The selected spans recovery does not score because one alone is larger than a page
 * (`scoring.recovery.page_mib`): reading it back could take the process past its memory
 * limits, which is what paging is there to prevent. Every sweep meets them again (they still
 * lack their scores), so each is counted and logged once per process, not once per sweep.
 */
export class OversizedSpans {
  readonly #seen = new Set<string>();
  readonly #logger: Logger;
  readonly #skipped: Counter<'reason'> | undefined;

  constructor(logger: Logger, skipped?: Counter<'reason'>) {
    this.#logger = logger;
    this.#skipped = skipped;
  }

  report(rule: string, spans: readonly MissingScores[], pageBytes: number): void {
    const fresh = spans.filter((span) => !this.#seen.has(`${rule}/${span.traceId}/${span.spanId}`));
    if (fresh.length === 0) return;
    if (this.#seen.size + fresh.length > MAX_REMEMBERED) this.#seen.clear();
    for (const span of fresh) this.#seen.add(`${rule}/${span.traceId}/${span.spanId}`);
    this.#skipped?.inc({ reason: 'too_big' }, fresh.length);
    this.#logger.warn(
      {
        rule,
        spans: fresh.length,
        pageBytes,
        examples: fresh.slice(0, EXAMPLES).map((span) => ({ traceId: span.traceId, spanId: span.spanId, bytes: span.bytes })),
      },
      `scoring recovery: ${fresh.length} span(s) larger than a page (scoring.recovery.page_mib) not scored`,
    );
  }
}
