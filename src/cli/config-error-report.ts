import { ConfigError, formatIssue } from '../config/config-error.js';

/** Prints every issue of an invalid config file, one per line with its location; exit code 1. */
export function reportConfigError(file: string, error: ConfigError): number {
  process.stderr.write(`${file}: ${error.issues.length} error(s):\n`);
  for (const issue of error.issues) process.stderr.write(`  ${formatIssue(file, issue)}\n`);
  return 1;
}
