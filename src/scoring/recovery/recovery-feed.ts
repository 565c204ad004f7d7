import type { SpanRow } from '../../pipeline/span-row.js';
import { SpanReader } from '../../storage/span-reader.js';
import { readCandidateSpans } from '../on-demand/backfill-sql.js';
import type { ScoringTask } from '../scoring-queue.js';
import { extractScorerArgs } from '../span-fields.js';
import { scoredNow, type MissingScores } from './missing-scores-sql.js';
import { pageBytesOf } from './recovery-pages.js';
import { taskKey, type RecoveredSpan, type RecoveryLedger, type Reservation } from './recovery-ledger.js';
import type { RecoverableRule, ScoringRecoveryOptions } from './recovery-types.js';

const ROOM_POLL_MS = 10;
/**
 * Recovery adds tasks only while its scorer's queue holds fewer than this (and less than half
 * its capacity): recovered tasks then never make the live ones shed, and a live task never
 * waits behind more than a few batches of them.
 */
const QUEUE_LOW_WATER = 128;
/** Finished tasks noted while one page is queued, at most; past it the queues are too busy for recovery. */
const MAX_FINISHED_NOTED = 100_000;

/** What feeding one rule's pages did. */
export interface FeedResult {
  spans: number;
  scores: number;
  /** It stopped before the last page: busy queues past the deadline, or recovery stopped. */
  cut: boolean;
}

/** A page read back and checked, ready to queue. */
interface LoadedPage {
  page: readonly MissingScores[];
  /** Its bytes in the ledger, less its spans adopted so far. */
  reservation: Reservation;
  spans: SpanRow[];
  /** `traceId/spanId/scorer` scored since the candidates were found. */
  scored: Set<string>;
  /** Keys of the tasks finished since the page's check began. */
  finished: Set<string>;
}

/** Recovery holds at most this many pages' bytes: one being read while another is queued and scored. */
const PAGES_HELD = 2;

/**
 * Reads a rule's candidates back a page at a time and queues the tasks of their missing
 * scorers. The next page is read while one is queued, and only once recovery holds at most
 * one page besides it (pages being read or queued, and the spans of tasks not yet done), so
 * at most two pages' worth is in memory; and only while the processor is not shedding or
 * near it (`host.busy`), and the scorer's queue has room: live traffic comes first, recovery
 * takes the capacity it leaves.
 */
export class RecoveryFeed {
  readonly #options: ScoringRecoveryOptions;
  readonly #ledger: RecoveryLedger;
  readonly #reader: SpanReader;
  readonly #stopped: () => boolean;

  constructor(options: ScoringRecoveryOptions, ledger: RecoveryLedger, stopped: () => boolean) {
    this.#options = options;
    this.#ledger = ledger;
    this.#reader = new SpanReader(options.storage);
    this.#stopped = stopped;
  }

  async feed(rule: RecoverableRule, pages: readonly MissingScores[][], deadline: number, pageBytes: number): Promise<FeedResult> {
    const result: FeedResult = { spans: 0, scores: 0, cut: false };
    const disagreed = { spans: 0 };
    const limit = PAGES_HELD * pageBytes;
    // Settled at once, failure included: a page read ahead must not fail unobserved while the previous one is queued.
    const load = (page: readonly MissingScores[]): Promise<{ loaded?: LoadedPage; error?: unknown }> =>
      this.#load(rule, page, limit, deadline).then(
        (loaded) => ({ loaded }),
        (error: unknown) => ({ error }),
      );
    let next = pages.length > 0 ? load(pages[0]!) : undefined;
    try {
      for (let index = 0; index < pages.length; index++) {
        const { loaded, error } = (await next)!;
        next = undefined;
        if (error !== undefined) throw error;
        if (loaded === undefined) return { ...result, cut: true };
        if (index + 1 < pages.length) next = load(pages[index + 1]!);
        try {
          if (!(await this.#queuePage(rule, loaded, deadline, result, disagreed))) return { ...result, cut: true };
        } finally {
          this.#letGo(loaded);
        }
      }
      return result;
    } finally {
      // A page read ahead of a stop or a cut is let go.
      const ahead = (await next)?.loaded;
      if (ahead !== undefined) this.#letGo(ahead);
      if (disagreed.spans > 0) {
        this.#options.logger.warn({ rule: rule.spec.name, spans: disagreed.spans }, 'scoring recovery: spans the SQL selection took but the live one does not; not scored');
      }
    }
  }

  /** Reserves the page's bytes, then reads it back and checks it against `scores`; undefined when stopped or past the deadline. */
  async #load(rule: RecoverableRule, page: readonly MissingScores[], limit: number, deadline: number): Promise<LoadedPage | undefined> {
    const { host, storage } = this.#options;
    const reservation = await this.#ledger.reserve(pageBytesOf(page), limit);
    // From here every task that finishes is noted, so a score recorded after the settle
    // below but not yet written is not taken for a missing one.
    const loaded: LoadedPage = { page, reservation, spans: [], scored: new Set(), finished: this.#ledger.noteFinished() };
    try {
      if (!(await this.#calm(deadline))) {
        this.#letGo(loaded);
        return undefined;
      }
      loaded.spans = await readCandidateSpans(this.#reader, page.map((candidate) => ({ ...candidate, scored: false })));
      await host.settleWrites();
      loaded.scored = await scoredNow(storage, rule.spec.name, rule.scorers, page);
      return loaded;
    } catch (error) {
      this.#letGo(loaded);
      throw error;
    }
  }

  #letGo(loaded: LoadedPage): void {
    this.#ledger.stopNoting(loaded.finished);
    this.#ledger.unreserve(loaded.reservation);
  }

  /** Queues a loaded page's tasks; false when it had to stop (busy past the deadline, or stopped). */
  async #queuePage(rule: RecoverableRule, loaded: LoadedPage, deadline: number, result: FeedResult, disagreed: { spans: number }): Promise<boolean> {
    const { host, logger, recovered } = this.#options;
    const name = rule.spec.name;
    const byKey = new Map(loaded.page.map((candidate) => [`${candidate.traceId}/${candidate.spanId}`, candidate]));
    for (const span of loaded.spans) {
      if (this.#stopped()) return false;
      // rule-sql means what the live selection means; should they ever differ, the live one decides.
      if (!rule.selects(span)) {
        disagreed.spans++;
        continue;
      }
      const candidate = byKey.get(`${span.TraceId}/${span.SpanId}`);
      if (candidate === undefined) continue;
      const scorers = candidate.missing.filter((scorer) => !loaded.scored.has(`${span.TraceId}/${span.SpanId}/${scorer}`));
      if (scorers.length === 0) continue;
      let args;
      try {
        args = extractScorerArgs(span, this.#options.conventions);
      } catch (error) {
        logger.warn({ err: error, traceId: span.TraceId, spanId: span.SpanId }, 'could not read scorer arguments from span');
        continue;
      }
      const recoveredSpan: RecoveredSpan = { rule: name, bytes: candidate.bytes, tasksLeft: 0, scored: false };
      const bytes = host.taskBytes(span) / scorers.length;
      let queued = 0;
      for (const scorer of scorers) {
        if (!(await this.#room(scorer, deadline)) || loaded.finished.size > MAX_FINISHED_NOTED) {
          logger.info({ rule: name }, 'scoring recovery: queues stayed busy; the rest waits for the next sweep');
          return false;
        }
        const key = taskKey(span.TraceId, span.SpanId, scorer, name);
        if (this.#ledger.has(key) || loaded.finished.has(key)) continue;
        const task: ScoringTask = { span, rule: name, scorer, args, bytes };
        // Before offering: a refused task is reported (taskDone) from within `offer`.
        this.#ledger.adopt(task, recoveredSpan, loaded.reservation);
        if (!host.offer(task)) {
          this.#ledger.taskDone(task, false);
          continue;
        }
        queued++;
        recovered?.inc({ rule: name });
      }
      if (queued === 0) continue;
      result.spans++;
      result.scores += queued;
    }
    return true;
  }

  /** Waits while the processor sheds or nearly does; false when stopped or past the deadline. */
  async #calm(deadline: number): Promise<boolean> {
    while (this.#options.host.busy()) {
      if (this.#stopped() || Date.now() > deadline) return false;
      await sleep(ROOM_POLL_MS);
    }
    return !this.#stopped();
  }

  /** Waits until the scorer's queue has room for recovery; false when stopped or past the deadline. */
  async #room(scorer: string, deadline: number): Promise<boolean> {
    const queue = this.#options.host.queueFor(scorer);
    if (queue === undefined) return false;
    const limit = Math.min(QUEUE_LOW_WATER, queue.capacity / 2);
    while (queue.depth >= limit || this.#options.host.busy()) {
      if (this.#stopped() || Date.now() > deadline) return false;
      await sleep(ROOM_POLL_MS);
    }
    return !this.#stopped();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
