#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { queryCommand } from './query-command.js';
import { runCommand } from './run-command.js';
import { validateCommand } from './validate-command.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('spanscore')
  .description('Online scoring of LLM application traffic: OTLP in, rules and scorers, ClickHouse out')
  .version(version)
  .showHelpAfterError();

program
  .command('run')
  .description('run the daemon')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .action(async (options: { config: string }) => {
    process.exitCode = await runCommand(options.config);
  });

program
  .command('validate')
  .description('check a config file; exit 0 when valid, 1 with every error listed')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .action(async (options: { config: string }) => {
    process.exitCode = await validateCommand(options.config);
  });

program
  .command('query')
  .description('run a read-only SQL query against the configured store (its database is the default one)')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .option('-f, --format <format>', 'table | json', 'table')
  .argument('<sql>', 'the query, e.g. "SELECT count() FROM otel_traces"')
  .action(async (sql: string, options: { config: string; format: string }) => {
    process.exitCode = await queryCommand(options.config, sql, options.format);
  });

await program.parseAsync(process.argv);
