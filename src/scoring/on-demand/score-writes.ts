import type { SpanRow } from '../../pipeline/span-row.js';
import type { ScoreSource } from '../../storage/score-row.js';
import type { TraceStorage } from '../../storage/trace-storage.js';
import { toScoreRecord } from '../score-recorder.js';
import type { ScoreOutcome } from '../scorer-args.js';

const MAX_ATTEMPTS = 3;
const FIRST_BACKOFF_MS = 500;

/**
 * Stores outcomes as the live pipeline does (a `scores` row plus a scoring span each) and
 * resolves once ClickHouse has both, unlike the ScoreRecorder's fire-and-forget batching: the
 * caller answers a user (or advances a job) only on rows that exist. Each table is retried on
 * its own, so a table that took the rows is not sent them twice (otel_traces would keep
 * duplicates); rejects with the last error when a table refuses every attempt.
 */
export async function storeOutcomes(
  storage: Pick<TraceStorage, 'insertScores' | 'insertSpans'>,
  scored: Array<{ span: SpanRow; outcomes: ScoreOutcome[] }>,
  rule: string,
  source: ScoreSource,
): Promise<number> {
  const records = scored.flatMap(({ span, outcomes }) => outcomes.map((outcome) => toScoreRecord(span, rule, outcome, source)));
  if (records.length === 0) return 0;
  await Promise.all([
    withRetry(() => storage.insertScores(records.map((record) => record.score))),
    withRetry(() => storage.insertSpans(records.map((record) => record.span))),
  ]);
  return records.length;
}

async function withRetry(insert: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await insert();
      return;
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, FIRST_BACKOFF_MS * 2 ** (attempt - 1)));
    }
  }
}
