import { ConfigError, formatIssue } from '../config/config-error.js';
import { loadConfig } from '../config/config-loader.js';
import { checkScorers } from '../config/scorer-checks.js';

export async function validateCommand(file: string): Promise<number> {
  try {
    const config = loadConfig(file);
    await checkScorers(config);
    const enabled = config.rules.filter((r) => r.enabled);
    process.stdout.write(
      `${file}: valid. ${config.rules.length} rule(s) (${enabled.length} enabled), ${config.scorers.size} scorer(s), ` +
        `storage: ${config.storage.url ? `ClickHouse at ${new URL(config.storage.url).host}` : `embedded at ${config.storage.embeddedPath}`}\n`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${file}: ${error.issues.length} error(s):\n`);
    for (const issue of error.issues) process.stderr.write(`  ${formatIssue(file, issue)}\n`);
    return 1;
  }
}
