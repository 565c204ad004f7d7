/**
 * The embedded ClickHouse store (a chdb data directory) is open in another process. The
 * engine locks the directory for one process at a time, so a second daemon, or a CLI
 * command run next to a live daemon, cannot open it.
 */
export class StoreLockedError extends Error {
  override readonly name = 'StoreLockedError';
  constructor(
    readonly path: string,
    /** The process holding the store, when it could be found. */
    readonly holderPid: number | undefined,
    options?: { cause?: unknown },
  ) {
    const pid = holderPid === undefined ? '' : `pid ${holderPid}, `;
    super(
      `the embedded store at ${path} is in use by another process (${pid}a running spanscore daemon?): ` +
        'stop it, or query through the daemon',
      options,
    );
  }
}
