import { ConfigError, formatIssue } from '../config/config-error.js';
import { loadConfig } from '../config/config-loader.js';
import { createDatabaseStatement, createTableStatements } from '../storage/schema.js';

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
    process.stderr.write(`${file}: ${error.issues.length} error(s):\n`);
    for (const issue of error.issues) process.stderr.write(`  ${formatIssue(file, issue)}\n`);
    return 1;
  }
  const { database, ttlDays, cluster } = config.storage;
  const statements = [createDatabaseStatement(database, cluster), ...createTableStatements({ database, ttlDays, cluster })];
  process.stdout.write(statements.map((statement) => `${statement};\n`).join('\n'));
  return 0;
}
