import { silentLogger } from '../admin/logger.js';
import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/config-loader.js';
import { ClickHouseStorage } from '../storage/clickhouse-storage.js';
import { StoreLockedError } from '../storage/store-locked-error.js';
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
  const storage = new ClickHouseStorage({ ...config.storage, logger: silentLogger() });
  try {
    const rows = await storage.query(sql, {}, { readonly: true });
    process.stdout.write(format === 'json' ? `${JSON.stringify(rows, null, 2)}\n` : formatTable(rows));
    return 0;
  } catch (error) {
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
