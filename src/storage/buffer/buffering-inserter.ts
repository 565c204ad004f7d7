import { randomUUID } from 'node:crypto';
import type { Logger } from '../../admin/logger.js';
import { RetryableStorageError } from '../../pipeline/errors.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import { isPermanentInsertFailure } from '../insert-failure.js';
import { BufferFullError, type BufferLog, type BufferedRecord } from './buffer-log.js';
import type { BufferMetrics } from './buffer-metrics.js';

/** Where an insert's rows went: into ClickHouse, or into the durable buffer for later. */
export type InsertOutcome = 'stored' | 'buffered';

/** An insert that ClickHouse deduplicates by `token` (`insert_deduplication_token`). */
export type TokenInsert = (rows: SpanRow[], token: string) => Promise<void>;

export interface BufferingInserterOptions {
  log: BufferLog;
  insert: TokenInsert;
  /** An insert unanswered after this long is buffered rather than waited for. */
  spillAfterMs: number;
  /** Rows now in ClickHouse after a replay (the stored-span consumers take them from here). */
  onReplayed: (rows: SpanRow[]) => void;
  metrics: BufferMetrics;
  logger: Logger;
  /** Replay waits between failed attempts: from this, doubling up to 5 s. Default 250 ms. */
  retryInitialMs?: number;
}

const RETRY_MAX_MS = 5_000;
const STOP_WAIT_MS = 2_000;

/**
 * The durable buffer in front of the span inserts (the Collector's persistent queue, used only
 * when needed): each batch goes to ClickHouse with a fresh deduplication token; when ClickHouse
 * refuses, is unreachable or has not answered within `spillAfterMs`, the batch and its token
 * are appended to the on-disk log and the writers are acknowledged from there. From the first
 * such failure every batch goes straight to the log (ClickHouse is away: waiting on it would
 * only hold clients up) until a replay succeeds. The replay loop sends the log's records in
 * order, each with its own token, so a record sent twice (its first insert answered late, or
 * a crash before the cursor moved) is stored once.
 *
 * When ClickHouse is up nothing is written to disk: the cost is a token per batch.
 */
export class BufferingInserter {
  readonly #log: BufferLog;
  readonly #insert: TokenInsert;
  readonly #spillAfterMs: number;
  readonly #onReplayed: (rows: SpanRow[]) => void;
  readonly #metrics: BufferMetrics;
  readonly #logger: Logger;
  readonly #retryInitialMs: number;
  /** Batches go to the log without trying ClickHouse. */
  #buffering = false;
  /** The last append found the log full (cleared by a successful append or a replay). */
  #full = false;
  #stopped = false;
  #loop: Promise<void> | undefined;
  /** Ends the replay loop's sleep; `#wakeable` when an append may end it too (not during a backoff). */
  #wake: (() => void) | undefined;
  #wakeable = false;
  #sleepTimer: NodeJS.Timeout | undefined;

  constructor(options: BufferingInserterOptions) {
    this.#log = options.log;
    this.#insert = options.insert;
    this.#spillAfterMs = options.spillAfterMs;
    this.#onReplayed = options.onReplayed;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#retryInitialMs = options.retryInitialMs ?? 250;
    this.#metrics.capacityBytes.set(this.#log.capacityBytes);
    this.#updateGauges();
  }

  /** True while batches go to the buffer instead of ClickHouse. */
  get buffering(): boolean {
    return this.#buffering;
  }

  /** True while the buffer has room for more. */
  get hasRoom(): boolean {
    return !this.#full && this.#log.bytes < this.#log.capacityBytes;
  }

  /** Spans waiting in the buffer. */
  get bufferedSpans(): number {
    return this.#log.spans;
  }

  /** Starts replaying what an earlier run left in the buffer (and whatever comes later). */
  start(): void {
    if (!this.#log.empty) {
      this.#logger.info({ spans: this.#log.spans, bytes: this.#log.bytes }, 'the durable buffer holds spans from before the restart: replaying them into ClickHouse');
    }
    this.#loop ??= this.#replayLoop();
  }

  /** Stores `rows`, or buffers them; throws RetryableStorageError when the buffer is full. */
  async insert(rows: SpanRow[]): Promise<InsertOutcome> {
    const token = randomUUID();
    if (this.#buffering || this.#stopped) return this.#append(rows, token);
    let timer: NodeJS.Timeout | undefined;
    const attempt = this.#insert(rows, token);
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.#spillAfterMs)));
    try {
      const first = await Promise.race([attempt.then(() => 'stored' as const), late]);
      if (first === 'stored') return 'stored';
      // Its answer is no longer awaited; the replay's insert carries the same token.
      attempt.catch(() => undefined);
      this.#startBuffering(`ClickHouse has not answered an insert for ${this.#spillAfterMs} ms`);
    } catch (error) {
      if (isPermanentInsertFailure(error)) throw error;
      this.#startBuffering(error instanceof Error ? error.message : String(error));
    } finally {
      clearTimeout(timer);
    }
    return this.#append(rows, token);
  }

  /** Stops the replay loop (what is left stays on disk for the next start) and closes the log. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    // A replay insert may hang until ClickHouse's request timeout: its record is replayed
    // again at the next start (deduplicated by its token), so shutdown need not wait for it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#loop, new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]);
    clearTimeout(timer);
    await this.#log.close();
  }

  async #append(rows: SpanRow[], token: string): Promise<'buffered'> {
    try {
      await this.#log.append(Buffer.from(JSON.stringify({ token, rows })), rows.length);
    } catch (error) {
      if (error instanceof BufferFullError) {
        this.#full = true;
        this.#metrics.refused.inc(rows.length);
        throw new RetryableStorageError(`ClickHouse is unavailable and ${error.message}`, 5, { cause: error });
      }
      this.#logger.error({ err: error }, 'writing to the durable buffer failed');
      throw new RetryableStorageError('ClickHouse is unavailable and the durable buffer could not be written', 5, { cause: error });
    }
    this.#full = false;
    this.#metrics.written.inc(rows.length);
    this.#updateGauges();
    this.#wakeUp();
    return 'buffered';
  }

  #startBuffering(reason: string): void {
    if (this.#buffering) return;
    this.#buffering = true;
    this.#metrics.buffering.set(1);
    this.#logger.warn({ reason }, 'ClickHouse is unavailable: acknowledging spans from the durable buffer until it is back');
  }

  async #replayLoop(): Promise<void> {
    let waitMs = this.#retryInitialMs;
    while (!this.#stopped) {
      let record: BufferedRecord | undefined;
      try {
        record = await this.#log.next();
      } catch (error) {
        this.#logger.error({ err: error }, 'reading the durable buffer failed; trying again');
        await this.#sleep(RETRY_MAX_MS);
        continue;
      }
      if (record === undefined) {
        if (this.#buffering) this.#stopBuffering();
        await this.#sleep(undefined);
        continue;
      }
      const outcome = await this.#replay(record);
      if (outcome === 'retry') {
        await this.#sleep(waitMs);
        waitMs = Math.min(waitMs * 2, RETRY_MAX_MS);
        continue;
      }
      waitMs = this.#retryInitialMs;
      try {
        await this.#log.advance(record);
      } catch (error) {
        // The record is stored; reading it again later is deduplicated by its token.
        this.#logger.error({ err: error }, 'saving the durable buffer position failed');
      }
      this.#full = false;
      this.#updateGauges();
    }
  }

  /** One record into ClickHouse: 'done' when it needs no more attempts, 'retry' otherwise. */
  async #replay(record: BufferedRecord): Promise<'done' | 'retry'> {
    if (!record.intact) {
      this.#metrics.dropped.inc({ reason: 'corrupt' }, record.spans);
      this.#logger.error({ spans: record.spans }, 'a durable buffer record is damaged on disk (checksum mismatch): its spans are lost');
      return 'done';
    }
    const { token, rows } = JSON.parse(record.payload.toString('utf8')) as { token: string; rows: SpanRow[] };
    try {
      await this.#insert(rows, token);
    } catch (error) {
      if (!isPermanentInsertFailure(error)) return 'retry';
      this.#metrics.dropped.inc({ reason: 'rejected' }, rows.length);
      this.#logger.error(
        { err: error, spans: rows.map((row) => `${row.TraceId}/${row.SpanId}`).slice(0, 100) },
        `ClickHouse refused ${rows.length} buffered spans for good: dropped`,
      );
      return 'done';
    }
    if (this.#buffering) this.#stopBuffering();
    this.#metrics.replayed.inc(rows.length);
    try {
      this.#onReplayed(rows);
    } catch (error) {
      this.#logger.error({ err: error }, 'a consumer of replayed spans threw');
    }
    return 'done';
  }

  #stopBuffering(): void {
    this.#buffering = false;
    this.#metrics.buffering.set(0);
    this.#logger.info({ spans: this.#log.spans }, 'ClickHouse is back: inserting directly again, replaying the durable buffer');
  }

  /** `ms` (a backoff: only stop ends it early), or with undefined until an append or stop. */
  #sleep(ms: number | undefined): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#wakeable = ms === undefined;
      if (ms !== undefined) this.#sleepTimer = setTimeout(resolve, ms);
    }).then(() => {
      clearTimeout(this.#sleepTimer);
      this.#wake = undefined;
      this.#wakeable = false;
    });
  }

  #wakeUp(): void {
    if (this.#wakeable) this.#wake?.();
  }

  #updateGauges(): void {
    this.#metrics.spans.set(this.#log.spans);
    this.#metrics.bytes.set(this.#log.bytes);
  }
}
