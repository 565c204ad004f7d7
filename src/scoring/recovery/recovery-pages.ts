import type { MissingScores } from './missing-scores-sql.js';

/**
 * Spans read back per query at most, however small. Reading a page scans its time range for
 * its ids, so larger pages of small spans cost less per span (1,000 -> 5,000: ~200 -> ~130 ms
 * per 1,000 spans, embedded); this keeps the id lists of the query, and of the check against
 * `scores` that goes with it, to a size ClickHouse still parses in a few ms.
 */
export const PAGE_MAX_SPANS = 5_000;

/**
 * Cuts candidates into pages to read back one at a time: consecutive runs whose sizes add up
 * to at most `pageBytes` (and PAGE_MAX_SPANS spans), in the order given. A candidate larger
 * than a page on its own is not paged: it is `tooBig`, for the caller to skip and report,
 * since reading it would cost more than recovery is allowed to hold at once.
 */
export function pagesOf(candidates: readonly MissingScores[], pageBytes: number, maxSpans = PAGE_MAX_SPANS): { pages: MissingScores[][]; tooBig: MissingScores[] } {
  const pages: MissingScores[][] = [];
  const tooBig: MissingScores[] = [];
  let page: MissingScores[] = [];
  let bytes = 0;
  for (const candidate of candidates) {
    if (candidate.bytes > pageBytes) {
      tooBig.push(candidate);
      continue;
    }
    if (page.length > 0 && (bytes + candidate.bytes > pageBytes || page.length >= maxSpans)) {
      pages.push(page);
      page = [];
      bytes = 0;
    }
    page.push(candidate);
    bytes += candidate.bytes;
  }
  if (page.length > 0) pages.push(page);
  return { pages, tooBig };
}

export function pageBytesOf(page: readonly MissingScores[]): number {
  return page.reduce((sum, candidate) => sum + candidate.bytes, 0);
}
