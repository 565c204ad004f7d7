import { appendFileSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BufferFullError, BufferLog, RECORD_HEADER_BYTES } from '../../src/storage/buffer/buffer-log.js';

const freshDir = () => mkdtempSync(join(tmpdir(), 'spanscore-buffer-log-'));
const record = (i: number, size = 100) => Buffer.from(`${i}:`.padEnd(size, 'x'));

async function drain(log: BufferLog): Promise<string[]> {
  const seen: string[] = [];
  for (let next = await log.next(); next !== undefined; next = await log.next()) {
    expect(next.intact).toBe(true);
    seen.push(next.payload.toString().split(':')[0]!);
    await log.advance(next);
  }
  return seen;
}

const segments = (dir: string) => readdirSync(dir).filter((name) => name.startsWith('segment-'));

describe('BufferLog', () => {
  it('reads records back in order across segments, counting spans, and deletes segments once read', async () => {
    const dir = freshDir();
    const log = await BufferLog.open(dir, { maxBytes: 1 << 20, fsync: true, segmentBytes: 1_000 });
    for (let i = 0; i < 30; i++) await log.append(record(i), 3);
    expect(log.spans).toBe(90);
    expect(segments(dir).length).toBeGreaterThan(3);
    expect(await drain(log)).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    expect(log.spans).toBe(0);
    expect(log.empty).toBe(true);
    // Only the segment still open for appends is left; the next append starts a fresh one.
    expect(segments(dir)).toHaveLength(1);
    await log.append(record(30), 1);
    expect(await drain(log)).toEqual(['30']);
    expect(segments(dir)).toHaveLength(1);
    await log.close();
  });

  it('keeps its place across a reopen', async () => {
    const dir = freshDir();
    const log = await BufferLog.open(dir, { maxBytes: 1 << 20, fsync: false, segmentBytes: 450 });
    for (let i = 0; i < 10; i++) await log.append(record(i), 1);
    for (let i = 0; i < 6; i++) await log.advance((await log.next())!);
    await log.close();
    const reopened = await BufferLog.open(dir, { maxBytes: 1 << 20, fsync: false, segmentBytes: 450 });
    expect(reopened.spans).toBe(4);
    expect(await drain(reopened)).toEqual(['6', '7', '8', '9']);
    await reopened.close();
  });

  it('cuts a record torn by a crash off the end, and keeps every whole one', async () => {
    const dir = freshDir();
    const log = await BufferLog.open(dir, { maxBytes: 1 << 20, fsync: true });
    for (let i = 0; i < 3; i++) await log.append(record(i), 2);
    await log.close();
    const [file] = segments(dir);
    const whole = statSync(join(dir, file!)).size;
    // A header announcing 100 bytes, followed by 10 of them: the process died mid-write.
    const torn = Buffer.alloc(RECORD_HEADER_BYTES + 10);
    torn.writeUInt32LE(0x31425353, 0);
    torn.writeUInt32LE(100, 4);
    appendFileSync(join(dir, file!), torn);
    const reopened = await BufferLog.open(dir, { maxBytes: 1 << 20, fsync: true });
    expect(statSync(join(dir, file!)).size).toBe(whole);
    expect(reopened.spans).toBe(6);
    await reopened.append(record(3), 2);
    expect(await drain(reopened)).toEqual(['0', '1', '2', '3']);
    await reopened.close();
  });

  it('flags a record whose bytes changed on disk', async () => {
    const dir = freshDir();
    const log = await BufferLog.open(dir, { maxBytes: 1 << 20, fsync: true });
    await log.append(record(0), 1);
    await log.close();
    const path = join(dir, segments(dir)[0]!);
    const bytes = readFileSync(path);
    bytes[RECORD_HEADER_BYTES + 5] ^= 0xff;
    writeFileSync(path, bytes);
    const reopened = await BufferLog.open(dir, { maxBytes: 1 << 20, fsync: true });
    expect((await reopened.next())!.intact).toBe(false);
    await reopened.close();
  });

  it('refuses an append that would pass max bytes, and has room again once records are replayed', async () => {
    const dir = freshDir();
    const log = await BufferLog.open(dir, { maxBytes: 1_000, fsync: true, segmentBytes: 300 });
    let accepted = 0;
    let refused: unknown;
    for (let i = 0; i < 20 && refused === undefined; i++) {
      await log.append(record(i), 1).then(
        () => accepted++,
        (error: unknown) => (refused = error),
      );
    }
    expect(refused).toBeInstanceOf(BufferFullError);
    expect((refused as Error).message).toMatch(/^the local buffer is full \(/);
    expect(log.bytes).toBeLessThanOrEqual(1_000);
    expect(accepted).toBeGreaterThan(5);
    expect(await drain(log)).toHaveLength(accepted);
    await log.append(record(99), 1);
    await log.close();
  });
});
