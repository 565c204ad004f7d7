import { randomFillSync } from 'node:crypto';

const ID_BYTES = 8;
const POOL_IDS = 512;

/**
 * Random span ids for scoring spans, cut from a pool filled 4 KiB at a time: one
 * `randomBytes(8)` per score cost ~3% of the daemon's CPU under load (a native call and a
 * Buffer each), for ids that need to be unique, not secret.
 */
class SpanIdSource {
  readonly #pool = Buffer.allocUnsafe(ID_BYTES * POOL_IDS);
  #next = POOL_IDS;

  next(): string {
    for (;;) {
      if (this.#next === POOL_IDS) {
        randomFillSync(this.#pool);
        this.#next = 0;
      }
      const start = ID_BYTES * this.#next++;
      // An all-zero span id is invalid in OTLP; at 2^-64 a draw, skip it rather than reason about it.
      if (this.#pool.readBigUInt64LE(start) !== 0n) return this.#pool.toString('hex', start, start + ID_BYTES);
    }
  }
}

const source = new SpanIdSource();

/** A new random, non-zero span id, 16 hex digits. */
export function newSpanId(): string {
  return source.next();
}
