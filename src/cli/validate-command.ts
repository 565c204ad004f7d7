import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/config-loader.js';
import { checkScorers } from '../config/scorer-checks.js';
import type { SpanscoreConfig } from '../config/spanscore-config.js';
import { reportConfigError } from './config-error-report.js';

export async function validateCommand(file: string): Promise<number> {
  try {
    const config = loadConfig(file);
    await checkScorers(config);
    const enabled = config.rules.filter((r) => r.enabled);
    process.stdout.write(
      `${file}: valid. ${config.rules.length} rule(s) (${enabled.length} enabled), ${config.scorers.size} scorer(s), ` +
        `storage: ${describeStorage(config.storage)}\n`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return reportConfigError(file, error);
  }
}

function describeStorage(storage: SpanscoreConfig['storage']): string {
  if (storage.url === undefined) return `embedded at ${storage.embeddedPath}`;
  const host = new URL(storage.url).host;
  if (storage.cluster === undefined) return `ClickHouse at ${host}`;
  const engines = storage.cluster.replicated ? 'Replicated tables' : 'unreplicated shards';
  return `ClickHouse cluster ${storage.cluster.name} through ${host} (ON CLUSTER DDL, ${engines}, Distributed tables)`;
}
