#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { AdminApiClient, ApiClientError, API_KEY_ENV, resolveApiTarget } from '../admin/api/api-client.js';
import { ConfigError } from '../config/config-error.js';
import { backfillCommand } from './backfill-command.js';
import { explainCommand } from './explain-command.js';
import { keysCreateCommand } from './keys-command.js';
import { queryCommand } from './query-command.js';
import { rulesListCommand, rulesTestCommand } from './rules-command.js';
import { runCommand } from './run-command.js';
import { schemaCommand } from './schema-command.js';
import { scoreCommand } from './score-command.js';
import { scoresCommand } from './scores-command.js';
import { validateCommand } from './validate-command.js';
import { packageVersion } from '../admin/package-version.js';

const version = packageVersion() ?? 'unknown';

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
  .command('schema')
  .description('print the ClickHouse DDL the daemon runs for this config (ON CLUSTER in cluster mode)')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .action((options: { config: string }) => {
    process.exitCode = schemaCommand(options.config);
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

interface ApiOptions {
  config?: string;
  admin?: string;
  key?: string;
}

/** The options every command that talks to a running daemon takes. */
function apiCommand(command: Command): Command {
  return command
    .option('-c, --config <file>', "the daemon's config file (its admin endpoint is used)")
    .option('--admin <host:port>', 'the admin endpoint of the running daemon')
    .option('--key <key>', `API key (default: $${API_KEY_ENV})`);
}

/** Runs an API command; the API's refusals and unreachable daemons print their message and exit 1. */
async function withApi(options: ApiOptions, run: (client: AdminApiClient) => Promise<number>): Promise<void> {
  try {
    process.exitCode = await run(new AdminApiClient(resolveApiTarget(options)));
  } catch (error) {
    if (!(error instanceof ApiClientError) && !(error instanceof ConfigError)) throw error;
    process.stderr.write(`spanscore: ${error.message}\n`);
    process.exitCode = 1;
  }
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

const rules = program.command('rules').description('the scoring rules of a running daemon');
apiCommand(rules.command('list').description('rules in force, their scorers and counters')).action((options: ApiOptions) =>
  withApi(options, (client) => rulesListCommand(client, process.stdout)),
);
apiCommand(rules.command('test').description('score a sample of recent stored spans with a rule, storing nothing'))
  .argument('<name>', 'a configured rule')
  .option('--hours <n>', 'look back this many hours', positiveNumber, 24)
  .option('--sample <n>', 'score this many of the most recent matches (at most 50)', positiveInteger, 5)
  .action((name: string, options: ApiOptions & { hours: number; sample: number }) =>
    withApi(options, (client) => rulesTestCommand(client, name, options, process.stdout)),
  );

apiCommand(program.command('score').description('score stored spans now with a rule (stored with Source manual)'))
  .requiredOption('--span <id>', 'a span id (repeatable)', collect, [])
  .option('--trace <id>', 'the trace of the spans')
  .option('--rule <name>', 'a configured rule')
  .option('--scorer <name>', 'a scorer instead of a rule (repeatable; stored under rule "manual")', collect, [])
  .action((options: ApiOptions & { span: string[]; trace?: string; rule?: string; scorer: string[] }) =>
    withApi(options, (client) => scoreCommand(client, { spans: options.span, trace: options.trace, rule: options.rule, scorers: options.scorer }, process.stdout)),
  );

apiCommand(program.command('backfill').description("score stored spans a rule selects, most recent first, skipping those it already scored"))
  .requiredOption('--rule <name>', 'a configured rule')
  .option('--filter <expr>', "narrow the rule's selection (filter language)")
  .option('--since <duration>', 'only spans of the last 24h, 30m, ...')
  .option('--limit <n>', 'at most this many spans', positiveInteger, 50)
  .option('--force', 'score spans that already have scores of the rule again', false)
  .option('-y, --yes', 'do not ask for confirmation', false)
  .action((options: ApiOptions & { rule: string; filter?: string; since?: string; limit: number; force: boolean; yes: boolean }) =>
    withApi(options, (client) => backfillCommand(client, options, { out: process.stdout, err: process.stderr, input: process.stdin })),
  );

apiCommand(program.command('explain').description('why each rule did or did not score a span'))
  .requiredOption('--span <id>', 'the span id')
  .option('--trace <id>', 'its trace id (needed only when the span id is ambiguous)')
  .action((options: ApiOptions & { span: string; trace?: string }) => withApi(options, (client) => explainCommand(client, options, process.stdout)));

apiCommand(program.command('scores').description('score averages, counts and errors per scorer, with a trend'))
  .option('--since <duration>', 'look back', '24h')
  .option('--bucket <duration>', 'one trend point per', '1h')
  .option('--rule <name>', 'only this rule')
  .option('--scorer <name>', 'only this scorer')
  .option('--project <name>', 'only this project')
  .action((options: ApiOptions & { since: string; bucket: string; rule?: string; scorer?: string; project?: string }) =>
    withApi(options, (client) => scoresCommand(client, options, process.stdout)),
  );

const keys = program.command('keys').description('API keys');
keys
  .command('create')
  .description('print a new API key and the auth.keys entry that admits it')
  .requiredOption('--name <name>', 'names the key in logs and errors')
  .option('--project <name>', 'a project it covers (repeatable; default: every project)', collect, [])
  .option('--permission <p>', 'ingest, read or update (repeatable; default: ingest)', collect, [])
  .action((options: { name: string; project: string[]; permission: string[] }) => {
    process.exitCode = keysCreateCommand({ name: options.name, projects: options.project, permissions: options.permission }, process.stdout);
  });

await program.parseAsync(process.argv);
