import { describe, expect, it } from 'vitest';
import { RetryableStorageError } from '../../src/pipeline/errors.js';
import { GroupCommitWriter } from '../../src/storage/group-commit-writer.js';

/** An insert function whose calls the test completes by hand. */
class ControlledInserts {
  readonly calls: Array<{ rows: number[]; resolve: () => void; reject: (err: Error) => void }> = [];
  readonly insert = (rows: number[]): Promise<void> =>
    new Promise((resolve, reject) => this.calls.push({ rows: [...rows], resolve, reject }));

  get inFlight(): number {
    return this.calls.length;
  }
}

/** Tracks which of many promises have settled, and how. */
function track(promises: Promise<void>[]): Array<'pending' | 'resolved' | 'rejected'> {
  const states = promises.map(() => 'pending' as 'pending' | 'resolved' | 'rejected');
  promises.forEach((p, i) => p.then(() => (states[i] = 'resolved'), () => (states[i] = 'rejected')));
  return states;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('GroupCommitWriter', () => {
  it('turns 50 concurrent writes into few inserts', async () => {
    const batches: number[][] = [];
    const writer = new GroupCommitWriter<number>({
      maxBatchRows: 1000,
      lingerMs: 10,
      insert: async (rows) => {
        batches.push([...rows]);
        await sleep(5);
      },
    });
    await Promise.all(Array.from({ length: 50 }, (_, i) => writer.write([i * 2, i * 2 + 1])));
    expect(batches.length).toBeLessThanOrEqual(2);
    expect(batches.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('resolves each write only when the insert holding its rows returns', async () => {
    const inserts = new ControlledInserts();
    const writer = new GroupCommitWriter<number>({ maxBatchRows: 4, lingerMs: 1000, insert: inserts.insert });
    const states = track([writer.write([1, 2]), writer.write([3, 4]), writer.write([5])]);
    await tick();
    expect(inserts.calls.map((c) => c.rows)).toEqual([[1, 2, 3, 4]]); // full: sent without lingering
    expect(states).toEqual(['pending', 'pending', 'pending']);

    inserts.calls[0]!.resolve();
    await tick();
    expect(states).toEqual(['resolved', 'resolved', 'pending']);

    await sleep(0);
    const flushed = writer.flush();
    await tick();
    expect(inserts.calls.map((c) => c.rows)).toEqual([[1, 2, 3, 4], [5]]);
    inserts.calls[1]!.resolve();
    await flushed;
    expect(states).toEqual(['resolved', 'resolved', 'resolved']);
  });

  it('sends a batch lingerMs after its first write', async () => {
    const inserts = new ControlledInserts();
    const writer = new GroupCommitWriter<number>({ maxBatchRows: 100, lingerMs: 30, insert: inserts.insert });
    void writer.write([1]);
    await sleep(10);
    void writer.write([2]);
    expect(inserts.calls).toHaveLength(0);
    await sleep(40);
    expect(inserts.calls.map((c) => c.rows)).toEqual([[1, 2]]);
    inserts.calls[0]!.resolve();
  });

  it('rejects exactly the writes of a failed insert, with its error', async () => {
    const inserts = new ControlledInserts();
    const writer = new GroupCommitWriter<number>({ maxBatchRows: 2, lingerMs: 1000, insert: inserts.insert });
    const writes = [writer.write([1]), writer.write([2]), writer.write([3]), writer.write([4])];
    const states = track(writes);
    await tick();
    expect(inserts.calls.map((c) => c.rows)).toEqual([[1, 2], [3, 4]]);
    const failure = new RetryableStorageError('ClickHouse said no');
    inserts.calls[0]!.reject(failure);
    inserts.calls[1]!.resolve();
    await tick();
    expect(states).toEqual(['rejected', 'rejected', 'resolved', 'resolved']);
    await expect(writes[0]).rejects.toBe(failure);
    await expect(writes[1]).rejects.toBe(failure);
  });

  it('treats an insert that throws synchronously as a failed insert', async () => {
    const writer = new GroupCommitWriter<number>({
      maxBatchRows: 1,
      lingerMs: 0,
      insert: () => {
        throw new Error('sync failure');
      },
    });
    await expect(writer.write([1])).rejects.toThrow('sync failure');
    await expect(writer.write([2])).rejects.toThrow('sync failure');
  });

  it('keeps at most maxConcurrentInserts in flight, and grows the open batch meanwhile', async () => {
    const inserts = new ControlledInserts();
    const writer = new GroupCommitWriter<number>({ maxBatchRows: 100, lingerMs: 5, maxConcurrentInserts: 2, slowInsertMs: 5, insert: inserts.insert });
    void writer.write([1]);
    await sleep(15);
    void writer.write([2]);
    await sleep(15);
    expect(inserts.calls.map((c) => c.rows)).toEqual([[1], [2]]);

    // Both slots busy: later writes gather in one batch even though linger has passed.
    void writer.write([3]);
    await sleep(15);
    void writer.write([4]);
    await sleep(15);
    expect(inserts.inFlight).toBe(2);

    inserts.calls[0]!.resolve();
    await tick();
    expect(inserts.calls.map((c) => c.rows)).toEqual([[1], [2], [3, 4]]);
    inserts.calls[1]!.resolve();
    inserts.calls[2]!.resolve();
  });

  it('starts a second insert only when the first looks stuck or a batch is full', async () => {
    const inserts = new ControlledInserts();
    const writer = new GroupCommitWriter<number>({ maxBatchRows: 3, lingerMs: 5, maxConcurrentInserts: 2, slowInsertMs: 150, insert: inserts.insert });
    void writer.write([1]);
    await sleep(15);
    void writer.write([2]);
    await sleep(30);
    // The first insert is young: the next batch waits behind it, past its linger time.
    expect(inserts.calls.map((c) => c.rows)).toEqual([[1]]);
    void writer.write([3]);
    await sleep(160);
    // The first insert has run for slowInsertMs: the waiting batch goes on the second slot.
    expect(inserts.calls.map((c) => c.rows)).toEqual([[1], [2, 3]]);
    inserts.calls[0]!.resolve();
    inserts.calls[1]!.resolve();
    await tick();

    void writer.write([4]);
    await sleep(15);
    void writer.write([5, 6, 7]);
    await tick();
    // A full batch does not wait for the young insert in flight.
    expect(inserts.calls.map((c) => c.rows)).toEqual([[1], [2, 3], [4], [5, 6, 7]]);
    inserts.calls.slice(2).forEach((c) => c.resolve());
    await writer.close();
  });

  it('does not split a write larger than maxBatchRows, nor merge it with others', async () => {
    const inserts = new ControlledInserts();
    const writer = new GroupCommitWriter<number>({ maxBatchRows: 3, lingerMs: 1000, maxConcurrentInserts: 3, insert: inserts.insert });
    const small = writer.write([1]);
    const large = writer.write([2, 3, 4, 5, 6]);
    await tick();
    expect(inserts.calls.map((c) => c.rows)).toEqual([[1], [2, 3, 4, 5, 6]]);
    inserts.calls.forEach((c) => c.resolve());
    await Promise.all([small, large]);
  });

  it('resolves empty writes at once without an insert', async () => {
    const inserts = new ControlledInserts();
    const writer = new GroupCommitWriter<number>({ maxBatchRows: 3, lingerMs: 0, insert: inserts.insert });
    await writer.write([]);
    await sleep(5);
    expect(inserts.calls).toHaveLength(0);
  });

  it('close() flushes pending writes, then refuses new ones with RetryableStorageError', async () => {
    const inserts = new ControlledInserts();
    const writer = new GroupCommitWriter<number>({ maxBatchRows: 100, lingerMs: 60_000, insert: inserts.insert });
    const pending = writer.write([1, 2]);
    const closing = writer.close();
    await expect(writer.write([3])).rejects.toBeInstanceOf(RetryableStorageError);
    await tick();
    expect(inserts.calls.map((c) => c.rows)).toEqual([[1, 2]]);
    const states = track([closing]);
    await tick();
    expect(states).toEqual(['pending']); // close waits for the insert
    inserts.calls[0]!.resolve();
    await closing;
    await pending;
    expect(writer.pendingRows).toBe(0);
  });

  it('flush() resolves even when the flushed insert fails (its writers get the error)', async () => {
    const writer = new GroupCommitWriter<number>({
      maxBatchRows: 100,
      lingerMs: 60_000,
      insert: () => Promise.reject(new Error('down')),
    });
    const write = writer.write([1]).catch((e: unknown) => e);
    await writer.flush();
    expect(await write).toEqual(new Error('down'));
  });
});
