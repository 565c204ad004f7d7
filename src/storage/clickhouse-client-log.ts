import { ClickHouseLogLevel, type ClickHouseClientConfigOptions } from '@clickhouse/client';
import type { Logger } from '../admin/logger.js';

type ClientLogOptions = NonNullable<ClickHouseClientConfigOptions['log']>;
type ClientLogParams = { module: string; message: string; args?: Record<string, unknown>; err?: Error };

/**
 * Sends the ClickHouse client's own log lines to our logger instead of the console: the
 * daemon logs JSON on stdout and the CLI prints query results there, and the client's
 * console lines would interleave with both.
 *
 * The client logs every failed request as an error, but each failure also reaches the
 * caller (RetryableStorageError, a rejected query), which reports it; so client errors
 * are kept at debug level to avoid logging one failure twice.
 */
export function clientLogOptions(logger: Logger): ClientLogOptions {
  const forward =
    (level: 'debug' | 'warn') =>
    ({ module, message, args, err }: ClientLogParams): void => {
      logger[level]({ clickhouseClient: module, ...(args !== undefined && { args }), ...(err !== undefined && { err: err.message }) }, message);
    };
  class ClientLogger {
    trace = forward('debug');
    debug = forward('debug');
    info = forward('debug');
    warn = forward('warn');
    error = forward('debug');
  }
  return { LoggerClass: ClientLogger, level: ClickHouseLogLevel.WARN };
}
