import { silentLogger } from '../admin/logger.js';
import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/config-loader.js';
import { ClickHouseStorage } from '../storage/clickhouse-storage.js';
import { StoreLockedError } from '../storage/store-locked-error.js';
import { QueryLimitError, QueryRefusedError } from '../storage/user-query-errors.js';
import { formatTable } from './table-format.js';

export async function queryCommand(file: string, sql: string, format: string): Promise<number> {
  if (format !== 'table' && format !== 'json') {
    process.stderr.write(`--format must be "table" or "json", got "${format}"\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(file);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (config.storage === undefined) {
    process.stderr.write(`${file}: no storage.clickhouse: this spanscore runs forward-only and stores nothing to query\n`);
    return 1;
  }
  // The same guard and limits as the admin API's POST /query (admin.query).
  const limits = config.admin.query;
  const queryUser = limits.username !== undefined ? { username: limits.username, password: limits.password } : undefined;
  const storage = new ClickHouseStorage({ ...config.storage, ...(queryUser && { queryUser }), logger: silentLogger() });
  try {
    const { rows, truncated } = await storage.userQuery(sql, limits);
    process.stdout.write(format === 'json' ? `${JSON.stringify(rows, null, 2)}\n` : formatTable(rows));
    if (truncated) process.stderr.write(`only the first ${limits.maxResultRows} rows (admin.query.max_result_rows)\n`);
    return 0;
  } catch (error) {
    if (error instanceof QueryRefusedError || error instanceof QueryLimitError) {
      process.stderr.write(`query refused: ${error.message}\n`);
      return 1;
    }
    if (error instanceof StoreLockedError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    process.stderr.write(`query failed: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await storage.close().catch(() => undefined);
  }
}
