import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { RetryableStorageError } from '../../src/pipeline/errors.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { StoreLockedError } from '../../src/storage/store-locked-error.js';
import { PACKAGE_ROOT } from '../helpers/package-root.js';
import { spanRow } from './storage-fixtures.js';

const dataDir = mkdtempSync(join(tmpdir(), 'spanscore-locked-'));
let holder: ChildProcess | undefined;
afterAll(() => {
  holder?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** Another process with the store open, as a running daemon would have it. */
async function holdStore(path: string): Promise<ChildProcess> {
  const code = `
    const { createChdbConnection } = await import('chdb/connection');
    const connection = createChdbConnection({ path: process.argv[1] });
    await connection.query({ query: 'CREATE DATABASE IF NOT EXISTS held' });
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, path], {
    cwd: PACKAGE_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`the store holder exited early (code ${code})`)));
  });
  return child;
}

describe('embedded store held by another process', () => {
  it('reports StoreLockedError saying what to do, and opens once the other process is gone', async () => {
    holder = await holdStore(dataDir);
    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'spanscore', logger: silentLogger() });
    try {
      const error = await storage.migrate().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreLockedError);
      expect((error as StoreLockedError).holderPid).toBe(holder.pid);
      expect((error as Error).message).toBe(
        `the embedded store at ${dataDir} is in use by another process (pid ${holder.pid}, a running spanscore daemon?): ` +
          'stop it, or query through the daemon',
      );
      await expect(storage.query('SELECT 1', {}, { readonly: true })).rejects.toBeInstanceOf(StoreLockedError);
      const insertError = await storage.insertSpans([spanRow()]).catch((e: unknown) => e);
      expect(insertError).toBeInstanceOf(RetryableStorageError);
      expect((insertError as Error).cause).toBeInstanceOf(StoreLockedError);
      expect(await storage.ping()).toBe(false);

      const exited = new Promise((resolve) => holder!.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;

      await storage.migrate();
      expect(await storage.query('SHOW DATABASES')).toContainEqual({ name: 'held' });
      expect(await storage.ping()).toBe(true);
    } finally {
      await storage.close();
    }
  });
});
