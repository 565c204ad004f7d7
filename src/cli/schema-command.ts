import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/config-loader.js';
import { createDatabaseStatement, createTableStatements } from '../storage/schema.js';
import { reportConfigError } from './config-error-report.js';

/**
 * Prints the DDL the daemon would run for this config, for operators who create the tables
 * themselves (`create_schema: false`) or review them before a first start on a cluster.
 */
export function schemaCommand(file: string): number {
  let config;
  try {
    config = loadConfig(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return reportConfigError(file, error);
  }
  if (config.storage === undefined) {
    process.stderr.write(`${file}: no storage.clickhouse: this spanscore runs forward-only and creates no tables\n`);
    return 1;
  }
  const { database, ttlDays, cluster } = config.storage;
  const statements = [createDatabaseStatement(database, cluster), ...createTableStatements({ database, ttlDays, cluster })];
  process.stdout.write(statements.map((statement) => `${statement};\n`).join('\n'));
  return 0;
}
