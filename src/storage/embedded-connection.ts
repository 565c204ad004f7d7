import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ClickHouseClientConfigOptions } from '@clickhouse/client';
import { StoreLockedError } from './store-locked-error.js';

/** What `createClient({ connection })` accepts: chdb's in-process ClickHouse. */
export type EmbeddedConnection = NonNullable<ClickHouseClientConfigOptions['connection']> & {
  /** chdb's own extension: a batch handed to the engine's parser as is. */
  chdb: {
    rawInsert(params: { table: string; columns?: readonly string[]; values: string | Uint8Array; format: 'JSONCompactEachRow' | 'JSONEachRow'; settings?: Record<string, unknown> }): Promise<unknown>;
  };
};

/**
 * The part of `chdb/connection` used here, declared locally so that compiling spanscore does
 * not need the optional package (a server image is built without its 540 MB engine).
 */
interface ChdbConnectionModule {
  createChdbConnection(options: { path: string }): unknown;
}

/** A variable, not a literal, so the compiler does not look for chdb's own declarations. */
const CHDB_CONNECTION_MODULE: string = 'chdb/connection';

/**
 * Opens a chdb session on the data directory `path`. Each call gives an independent
 * session (its own settings and current database) over the one engine the process holds.
 *
 * chdb is loaded on demand because it is an optional dependency: a deployment that talks
 * to a ClickHouse server need not carry the embedded engine.
 *
 * @throws StoreLockedError when another process holds the directory.
 */
export async function openEmbeddedConnection(path: string): Promise<EmbeddedConnection> {
  const absolutePath = resolve(path);
  let chdb: ChdbConnectionModule;
  try {
    chdb = (await import(CHDB_CONNECTION_MODULE)) as ChdbConnectionModule;
  } catch (err) {
    throw new Error(
      'embedded ClickHouse needs the optional package "chdb", which could not be loaded ' +
        `(${err instanceof Error ? err.message : String(err)}): install it (npm install chdb), ` +
        'or configure the url of a ClickHouse server instead of an embedded path',
      { cause: err },
    );
  }
  try {
    // chdb implements the Connection contract of @clickhouse/client-common, which
    // @clickhouse/client 1.23 bundles as its own (structurally equal) copy.
    return chdb.createChdbConnection({ path: absolutePath }) as EmbeddedConnection;
  } catch (err) {
    // chdb reports only "Failed to create connection for path ..." here; the reason
    // ("Cannot lock file <path>/status. Another server instance in same directory is
    // already running.") goes to the process's stderr. The status file names the process
    // that locked the directory, so a live pid there tells us what happened.
    const holderPid = await findLiveHolder(absolutePath);
    if (holderPid !== undefined) throw new StoreLockedError(absolutePath, holderPid, { cause: err });
    throw new Error(
      `could not open the embedded ClickHouse store at ${absolutePath}: ` +
        `${err instanceof Error ? err.message : String(err)} (the engine's own reason is on stderr)`,
      { cause: err },
    );
  }
}

/**
 * The pid recorded in the store's `status` file ("PID: 1234" on the first line), if that
 * process is alive and is not this one. A stale file (holder gone) does not lock anything.
 */
async function findLiveHolder(absolutePath: string): Promise<number | undefined> {
  let status: string;
  try {
    status = await readFile(join(absolutePath, 'status'), 'utf8');
  } catch {
    return undefined;
  }
  const match = /^PID:\s*(\d+)/m.exec(status);
  if (match === null) return undefined;
  const pid = Number(match[1]);
  if (pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: alive, owned by another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}
