import { mkdir, open, readdir, rename, rm, stat, writeFile, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/** `SSB1`: a record starts here (a torn or foreign file is recognised at once). */
const MAGIC = 0x31425353;
/** magic, payload length, CRC-32 of the payload, spans in the record (all u32 LE). */
export const RECORD_HEADER_BYTES = 16;
const SEGMENT_PATTERN = /^segment-(\d{16})\.log$/;
const CURSOR_FILE = 'cursor.json';

export interface BufferLogOptions {
  /** Bytes on disk at most, replayed-but-not-yet-deleted parts of a segment included. */
  maxBytes: number;
  /** fdatasync after every append: an acknowledged record survives a power loss too. */
  fsync: boolean;
  /** A segment is closed at this size; space comes back a segment at a time. Default min(16 MiB, maxBytes / 4). */
  segmentBytes?: number;
}

/** The oldest record not replayed yet. */
export interface BufferedRecord {
  payload: Buffer;
  spans: number;
  /** False when the payload does not match its checksum (the disk changed it). */
  intact: boolean;
  /** Where it is: `advance` takes it to move past it. */
  position: { seq: number; next: number };
}

export class BufferFullError extends Error {
  override readonly name = 'BufferFullError';
}

interface Segment {
  seq: number;
  path: string;
  /** Bytes fully written (readers never look past it). */
  size: number;
  /** Spans in records not replayed yet. */
  spans: number;
}

/**
 * An append-only log of records in numbered segment files, read from the front: the
 * on-disk queue of the durable buffer. One writer (appends are serialised here) and one
 * reader (the replay loop). A record is acknowledged once `append` resolves: written, and
 * fdatasynced with `fsync`. Progress is kept in a cursor file rewritten after each replayed
 * record without fsync: after a crash a record may be read again, which the replay makes
 * harmless (each record carries its ClickHouse insert deduplication token).
 */
export class BufferLog {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #fsync: boolean;
  readonly #segmentBytes: number;
  readonly #segments: Segment[] = [];
  /** Read position: segment seq and byte offset in it. */
  #cursor = { seq: 0, offset: 0 };
  #active: { segment: Segment; handle: FileHandle } | undefined;
  #appending: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(dir: string, options: BufferLogOptions) {
    this.#dir = dir;
    this.#maxBytes = options.maxBytes;
    this.#fsync = options.fsync;
    this.#segmentBytes = options.segmentBytes ?? Math.max(64 * 1024, Math.min(16 * 1024 * 1024, Math.floor(options.maxBytes / 4)));
  }

  /**
   * Opens (creating) the log in `dir`: finds the segments, drops those the cursor is past,
   * and cuts a record torn by a crash off the end of the newest segment (it was never
   * acknowledged: `append` resolves only after the whole record is written).
   */
  static async open(dir: string, options: BufferLogOptions): Promise<BufferLog> {
    await mkdir(dir, { recursive: true });
    const log = new BufferLog(dir, options);
    await log.#load();
    return log;
  }

  /** Bytes of segment files on disk. */
  get bytes(): number {
    return this.#segments.reduce((sum, segment) => sum + segment.size, 0);
  }

  get capacityBytes(): number {
    return this.#maxBytes;
  }

  /** Spans in records not replayed yet. */
  get spans(): number {
    return this.#segments.reduce((sum, segment) => sum + segment.spans, 0);
  }

  /** True when nothing waits for replay. */
  get empty(): boolean {
    return this.spans === 0;
  }

  /**
   * Appends one record; resolves once it is written (and synced with `fsync`).
   * @throws BufferFullError when it would take the log past `maxBytes`.
   */
  append(payload: Buffer, spans: number): Promise<void> {
    const run = this.#appending.then(() => this.#append(payload, spans));
    this.#appending = run.catch(() => undefined);
    return run;
  }

  async #append(payload: Buffer, spans: number): Promise<void> {
    if (this.#closed) throw new Error('the buffer is closed');
    const length = RECORD_HEADER_BYTES + payload.length;
    if (this.bytes + length > this.#maxBytes) {
      throw new BufferFullError(`the local buffer is full (${formatMib(this.bytes)} of ${formatMib(this.#maxBytes)} MiB)`);
    }
    if (this.#active === undefined || this.#active.segment.size >= this.#segmentBytes || this.#readToEnd(this.#active.segment)) await this.#rotate();
    const { segment, handle } = this.#active!;
    const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
    header.writeUInt32LE(MAGIC, 0);
    header.writeUInt32LE(payload.length, 4);
    header.writeUInt32LE(crc32(payload), 8);
    header.writeUInt32LE(spans, 12);
    try {
      await handle.writev([header, payload], segment.size);
      if (this.#fsync) await handle.datasync();
    } catch (error) {
      // A partial record would be read as torn at the next open; cut it now so later appends stay readable.
      await handle.truncate(segment.size).catch(() => undefined);
      throw error;
    }
    segment.size += length;
    segment.spans += spans;
  }

  /** The oldest record not replayed yet, or undefined when there is none. */
  async next(): Promise<BufferedRecord | undefined> {
    for (;;) {
      const segment = this.#segments.find((s) => s.seq === this.#cursor.seq) ?? this.#segments.find((s) => s.seq > this.#cursor.seq);
      if (segment === undefined) return undefined;
      if (segment.seq !== this.#cursor.seq) this.#cursor = { seq: segment.seq, offset: 0 };
      if (this.#cursor.offset >= segment.size) {
        if (this.#active?.segment === segment) return undefined;
        await this.#dropSegment(segment);
        continue;
      }
      return this.#read(segment, this.#cursor.offset);
    }
  }

  /** Moves past `record`, which is replayed; a segment read to its end is deleted. */
  async advance(record: BufferedRecord): Promise<void> {
    const segment = this.#segments.find((s) => s.seq === record.position.seq);
    if (segment !== undefined) segment.spans = Math.max(0, segment.spans - record.spans);
    this.#cursor = { seq: record.position.seq, offset: record.position.next };
    // The segment being appended to is left to the next append, which starts a fresh one
    // (appends and this reader never touch the same file handle at once).
    if (segment !== undefined && this.#cursor.offset >= segment.size && this.#active?.segment !== segment) {
      await this.#dropSegment(segment);
      return;
    }
    await this.#saveCursor();
  }

  /** Every record of `segment` is replayed. */
  #readToEnd(segment: Segment): boolean {
    return segment.size > 0 && this.#cursor.seq === segment.seq && this.#cursor.offset >= segment.size;
  }

  /** Waits for appends in progress, then closes the active segment. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#appending;
    this.#closed = true;
    await this.#active?.handle.close();
    this.#active = undefined;
  }

  async #read(segment: Segment, offset: number): Promise<BufferedRecord> {
    // A handle of its own: the appender may close the active segment's handle at any time.
    const handle = await open(segment.path, 'r');
    try {
      const header = Buffer.alloc(RECORD_HEADER_BYTES);
      await handle.read(header, 0, RECORD_HEADER_BYTES, offset);
      const length = header.readUInt32LE(4);
      const payload = Buffer.alloc(length);
      await handle.read(payload, 0, length, offset + RECORD_HEADER_BYTES);
      return {
        payload,
        spans: header.readUInt32LE(12),
        intact: header.readUInt32LE(0) === MAGIC && crc32(payload) === header.readUInt32LE(8),
        position: { seq: segment.seq, next: offset + RECORD_HEADER_BYTES + length },
      };
    } finally {
      await handle.close();
    }
  }

  async #rotate(): Promise<void> {
    await this.#active?.handle.close();
    const seq = (this.#segments.at(-1)?.seq ?? this.#cursor.seq) + 1;
    const path = join(this.#dir, segmentName(seq));
    const handle = await open(path, 'w+');
    const segment: Segment = { seq, path, size: 0, spans: 0 };
    this.#segments.push(segment);
    this.#active = { segment, handle };
  }

  async #dropSegment(segment: Segment): Promise<void> {
    this.#segments.splice(this.#segments.indexOf(segment), 1);
    await rm(segment.path, { force: true });
    const following = this.#segments.find((s) => s.seq > segment.seq);
    this.#cursor = following === undefined ? { seq: segment.seq, offset: segment.size } : { seq: following.seq, offset: 0 };
    await this.#saveCursor();
  }

  async #saveCursor(): Promise<void> {
    const path = join(this.#dir, CURSOR_FILE);
    await writeFile(`${path}.tmp`, JSON.stringify(this.#cursor));
    await rename(`${path}.tmp`, path);
  }

  async #load(): Promise<void> {
    try {
      const cursor = JSON.parse(await readFile(join(this.#dir, CURSOR_FILE), 'utf8')) as { seq?: unknown; offset?: unknown };
      if (Number.isSafeInteger(cursor.seq) && Number.isSafeInteger(cursor.offset)) this.#cursor = { seq: cursor.seq as number, offset: cursor.offset as number };
    } catch {
      // No cursor yet (or an unreadable one): read from the oldest segment.
    }
    const names = (await readdir(this.#dir)).filter((name) => SEGMENT_PATTERN.test(name)).sort();
    for (const name of names) {
      const seq = Number(SEGMENT_PATTERN.exec(name)![1]);
      const path = join(this.#dir, name);
      if (seq < this.#cursor.seq) {
        await rm(path, { force: true });
        continue;
      }
      this.#segments.push(await scanSegment(seq, path, seq === this.#cursor.seq ? this.#cursor.offset : 0));
    }
    if (this.#segments.length > 0 && !this.#segments.some((s) => s.seq === this.#cursor.seq)) this.#cursor = { seq: this.#segments[0]!.seq, offset: 0 };
  }
}

/**
 * Reads a segment's record headers from `from` on: counts the spans still to replay and cuts
 * the file after the last whole record (a crash mid-append leaves a partial one).
 */
async function scanSegment(seq: number, path: string, from: number): Promise<Segment> {
  const handle = await open(path, 'r+');
  try {
    const size = (await stat(path)).size;
    const header = Buffer.alloc(RECORD_HEADER_BYTES);
    let offset = 0;
    let spans = 0;
    while (offset + RECORD_HEADER_BYTES <= size) {
      await handle.read(header, 0, RECORD_HEADER_BYTES, offset);
      const end = offset + RECORD_HEADER_BYTES + header.readUInt32LE(4);
      if (header.readUInt32LE(0) !== MAGIC || end > size) break;
      if (offset >= from) spans += header.readUInt32LE(12);
      offset = end;
    }
    if (offset < size) await handle.truncate(offset);
    return { seq, path, size: offset, spans };
  } finally {
    await handle.close();
  }
}

function segmentName(seq: number): string {
  return `segment-${String(seq).padStart(16, '0')}.log`;
}

function formatMib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}
