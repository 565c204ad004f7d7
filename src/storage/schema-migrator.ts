import { ClickHouseError } from '@clickhouse/client';
import { RetryableStorageError } from '../pipeline/errors.js';
import { SchemaError } from './schema-error.js';
import { SCORES_TABLE, TRACES_TABLE, schemaSteps, type SchemaOptions, type SchemaStep } from './schema.js';

export interface MigrationOptions extends SchemaOptions {
  /** False: the tables are the operators' to create; only check that they are there. */
  createSchema: boolean;
}

/** What the database holds now. */
export interface PresentSchema {
  databaseExists: boolean;
  /** Table name -> engine. */
  tables: Map<string, string>;
  /** `table.column`. */
  columns: Set<string>;
  /** Table name -> its engine with its settings (`system.tables.engine_full`). */
  engineFull?: Map<string, string>;
}

type Query = (sql: string, params: Record<string, unknown>) => Promise<Record<string, unknown>[]>;

export async function readPresentSchema(query: Query, database: string): Promise<PresentSchema> {
  const [databases, tables, columns] = await Promise.all([
    query('SELECT name FROM system.databases WHERE name = {database:String}', { database }),
    query('SELECT name, engine, engine_full FROM system.tables WHERE database = {database:String}', { database }),
    query('SELECT table, name FROM system.columns WHERE database = {database:String}', { database }),
  ]);
  return {
    databaseExists: databases.length > 0,
    tables: new Map(tables.map((row) => [String(row.name), String(row.engine)])),
    columns: new Set(columns.map((row) => `${String(row.table)}.${String(row.name)}`)),
    engineFull: new Map(tables.map((row) => [String(row.name), String(row.engine_full)])),
  };
}

/**
 * The steps still to run. Only what is missing runs, so a restarted sidecar sends no DDL at
 * all: on a cluster every `ON CLUSTER` statement is a task in the distributed DDL queue that
 * each host executes, and hundreds of pods re-sending eight of them at each start would load
 * it for nothing.
 */
export function planMigration(options: MigrationOptions, present: PresentSchema): SchemaStep[] {
  // A table created now has every column: its upgrade steps are for older tables only.
  let missing = schemaSteps(options).filter((step) => {
    if (step.setting !== undefined) return present.tables.has(step.table) && !(present.engineFull?.get(step.table) ?? '').includes(step.setting);
    return step.column === undefined
      ? !present.tables.has(step.table)
      : present.tables.has(step.table) && !present.columns.has(`${step.table}.${step.column}`);
  });
  refuseMismatchedEngines(options, present);
  // Operators who own the tables may leave the deduplication window off: inserts still work,
  // a replayed batch can then be stored twice (docs/reliability.md says so).
  if (!options.createSchema) missing = missing.filter((step) => step.setting === undefined);
  if (!options.createSchema && missing.length > 0) {
    const what = missing.map((step) => (step.column === undefined ? `table ${step.table}` : `column ${step.table}.${step.column}`));
    throw new SchemaError(
      `storage.clickhouse.create_schema is false, but database ${options.database} lacks ${what.join(', ')}: ` +
        'create them with the statements `spanscore schema --config FILE` prints, or set create_schema: true',
    );
  }
  return missing;
}

/**
 * Writing through a table of the wrong kind would work and spread the data wrongly: rows of
 * one cluster mode's schema in the other's tables, invisible to the other replicas.
 */
function refuseMismatchedEngines(options: MigrationOptions, present: PresentSchema): void {
  if (options.cluster === undefined) return;
  for (const table of [TRACES_TABLE, SCORES_TABLE]) {
    const engine = present.tables.get(table);
    if (engine !== undefined && engine !== 'Distributed') {
      throw new SchemaError(
        `storage.clickhouse.cluster is set, but ${options.database}.${table} is a ${engine} table, not a Distributed one ` +
          '(it was made without `cluster`): point spanscore at a new database, or move the data into the cluster schema ' +
          '(`spanscore schema --config FILE` prints it) and drop the old table',
      );
    }
  }
}

/**
 * ClickHouse error codes that a later attempt can clear: a host of the cluster or Keeper
 * away (DDL tasks time out), replicas read-only while Keeper is unreachable.
 */
const TRANSIENT_CODES = new Set(['159', '209', '210', '225', '242', '999']);
/** Socket errors of a server that is down, restarting or not yet resolvable. */
const NETWORK_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'UND_ERR_SOCKET']);

/**
 * Failures to reach ClickHouse become RetryableStorageError (the daemon retries and answers
 * 503 meanwhile); everything else (bad credentials, a wrong cluster name, unreadable TLS
 * files, a schema conflict, a locked store) stays as it is and stops the start, so the
 * operator sees it at once.
 */
export function classifyMigrationError(error: unknown): unknown {
  if (!isTransient(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new RetryableStorageError(`preparing the ClickHouse schema failed: ${reason}`, 2, { cause: error });
}

function isTransient(error: unknown): boolean {
  if (error instanceof ClickHouseError) return TRANSIENT_CODES.has(error.code);
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_ERRNOS.has(code)) return true;
  // The client's own request timeout, and errors it wraps around a socket error.
  return /^Timeout error/.test(error.message) || (error.cause !== undefined && isTransient(error.cause));
}
