import {
  createClient,
  type ClickHouseClient,
  type ClickHouseClientConfigOptions,
  type ClickHouseSettings,
} from '@clickhouse/client';
import { SpanKind, type Span } from '@opentelemetry/api';
import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { RetryableStorageError } from '../pipeline/errors.js';
import type { SpanRow } from '../pipeline/span-row.js';
import { selfTracer, setSpanError } from '../telemetry/self-tracer.js';
import type { ClientTlsFiles } from '../tls/tls-files.js';
import { clickhouseClientTls } from './clickhouse-client-tls.js';
import { clientLogOptions } from './clickhouse-client-log.js';
import { SCORES_COLUMNS, TRACES_COLUMNS, encodePayload, toScoresCompactRow, toTracesCompactRow } from './clickhouse-rows.js';
import { setQueryAttributes, setServerAttributes } from './clickhouse-span-attributes.js';
import { openEmbeddedConnection, type EmbeddedConnection } from './embedded-connection.js';
import { openReadonlySession, queryInOwnReadonlySession } from './embedded-roomy-query.js';
import { inlineLargeParams } from './query-param-literals.js';
import { SCORES_TABLE, TRACES_TABLE, createDatabaseStatement, qualifiedName, quoteIdentifier, type ClusterSchemaOptions } from './schema.js';
import { classifyMigrationError, planMigration, readPresentSchema } from './schema-migrator.js';
import type { ScoreRow } from './score-row.js';
import { parseLimitsFor } from './statement-limits.js';
import type { TraceStorage } from './trace-storage.js';
import { runUserQuery, type QueryLimits, type ReadonlyConnections, type UserQueryResult } from './user-query.js';
import { embeddedConnections, serverConnections } from './user-query-connections.js';

export interface ClickHouseStorageOptions {
  /** A ClickHouse server, e.g. `http://localhost:8123`. Exactly one of url / embeddedPath. */
  url?: string;
  /** Data directory of the embedded engine (chdb). Exactly one of url / embeddedPath. */
  embeddedPath?: string;
  database: string;
  username?: string;
  password?: string;
  /** Days to keep spans (otel_traces and its trace-id lookup); unset keeps them forever. */
  ttlDays?: number;
  /** HTTP request timeout (server mode only: embedded calls cannot be timed out). */
  requestTimeoutMs?: number;
  /**
   * TLS to an https:// url: a CA to trust (default: Node's bundled roots) and, for mutual
   * TLS, a client certificate. With a certificate the client asks ClickHouse to
   * authenticate the user by it (`X-ClickHouse-SSL-Certificate-Auth: on`), so the user must
   * be one identified by certificate and the password empty. Files are read at the first
   * connection (at start, by `migrate`).
   */
  tls?: ClientTlsFiles;
  /** A ClickHouse cluster (server mode): ON CLUSTER DDL, `_local` tables behind Distributed ones. */
  cluster?: ClusterSchemaOptions;
  /** False: `migrate` only checks that the tables exist. Default true. */
  createSchema?: boolean;
  /**
   * Server mode: credentials of their own for user queries (`userQuery`), so that they can
   * run as a read-only ClickHouse user (`admin.query.username`). Ignored in embedded mode.
   */
  queryUser?: { username: string; password?: string };
  metrics?: DaemonMetrics;
  logger: Logger;
}

/**
 * Sent with every statement. UTC so that DateTime64 values read back the same whatever the
 * machine's time zone; quoted 64-bit integers because JS numbers cannot hold them (the
 * embedded engine returns them as numbers unless told otherwise).
 */
const SESSION_SETTINGS: ClickHouseSettings = {
  session_timezone: 'UTC',
  output_format_json_quote_64bit_integers: 1,
};

/**
 * TraceStorage on ClickHouse: a server over HTTP, or the embedded engine (chdb) plugged into
 * the same client, so that both modes run the same statements.
 *
 * Embedded-mode differences, handled here:
 * - chdb ignores the client's `database` option, so the session is switched with `USE`.
 * - per-query settings become session-wide `SET`s in chdb, so `readonly = 1` for one query
 *   would make the whole session read-only; readonly queries get a session of their own.
 */
export class ClickHouseStorage implements TraceStorage {
  readonly mode: 'server' | 'embedded';
  readonly #options: ClickHouseStorageOptions;
  readonly #logger: Logger;
  #client: Promise<ClickHouseClient> | undefined;
  /** Embedded mode: the session for readonly queries, with readonly = 1 set once. */
  #readonlyClient: Promise<ClickHouseClient> | undefined;
  /** Server mode: the client for user queries (`userQuery`), with `queryUser` if given. */
  #userQueryClient: Promise<ClickHouseClient> | undefined;
  /** Embedded mode: the main session has run `USE database`. */
  #databaseSelected: Promise<void> | undefined;
  /** Embedded mode: the engine's connection, for its raw insert. */
  #embedded: EmbeddedConnection | undefined;
  /** Server mode: the TLS client options, read from their files once. */
  #tls: Promise<Pick<ClickHouseClientConfigOptions, 'tls'>> | undefined;
  #closed = false;
  /**
   * Cluster mode: an insert into a Distributed table returns once every shard has its rows,
   * not when they are queued on the host that took them, so an acknowledgement still means
   * stored.
   */
  readonly #insertSettings: ClickHouseSettings | undefined;

  constructor(options: ClickHouseStorageOptions) {
    if ((options.url === undefined) === (options.embeddedPath === undefined)) {
      throw new Error('ClickHouse storage needs exactly one of url (a server) or embeddedPath (embedded engine)');
    }
    if (options.database.length === 0) throw new Error('ClickHouse storage needs a database name');
    if (options.cluster !== undefined && options.url === undefined) throw new Error('a ClickHouse cluster needs a server url');
    this.mode = options.url !== undefined ? 'server' : 'embedded';
    this.#options = options;
    this.#insertSettings = options.cluster === undefined ? undefined : { distributed_foreground_insert: 1 };
    this.#logger = options.logger;
    if (this.mode === 'embedded' && options.tls !== undefined) {
      this.#logger.warn('storage.clickhouse.tls is ignored: the embedded engine is in-process, there is no connection to secure');
    }
    if (this.mode === 'embedded' && options.queryUser !== undefined) {
      this.#logger.warn('admin.query.username / password are ignored: the embedded engine has no users; queries run read-only in sessions of their own');
    }
  }

  /** The database holding the tables. */
  get database(): string {
    return this.#options.database;
  }

  /**
   * Creates what the schema lacks (or, with `createSchema: false`, checks that nothing is
   * missing). Throws RetryableStorageError while ClickHouse cannot be reached, SchemaError
   * when the database does not fit the config.
   */
  async migrate(): Promise<void> {
    try {
      await this.#migrate();
    } catch (error) {
      throw classifyMigrationError(error);
    }
  }

  async #migrate(): Promise<void> {
    const { database, ttlDays, cluster, createSchema = true } = this.#options;
    const client = await this.#connect();
    const steps = await this.#withDatabaseFreeClient(client, async (admin) => {
      const present = await readPresentSchema(
        async (query, params) => (await admin.query({ query, query_params: params, format: 'JSONEachRow' })).json(),
        database,
      );
      const planned = planMigration({ database, ttlDays, cluster, createSchema }, present);
      if (!present.databaseExists) await admin.command({ query: createDatabaseStatement(database, cluster), clickhouse_settings: this.#ddlSettings() });
      return planned;
    });
    if (this.mode === 'embedded') await this.#selectDatabase(client);
    for (const step of steps) {
      await client.command({ query: step.statement, clickhouse_settings: this.#ddlSettings() });
    }
    this.#logger.info({ database, mode: this.mode, cluster: cluster?.name, statements: steps.length }, 'ClickHouse schema ready');
  }

  /**
   * ON CLUSTER statements wait for every host (180 s by default); ClickHouse is told to give
   * up before the client does, so a host that is away ends in a retryable timeout answer
   * rather than a cut connection.
   */
  #ddlSettings(): ClickHouseSettings | undefined {
    if (this.#options.cluster === undefined) return undefined;
    const seconds = Math.max(1, Math.floor((this.#options.requestTimeoutMs ?? 30_000) / 1000) - 2);
    return { distributed_ddl_task_timeout: String(seconds) };
  }

  /**
   * Every span insert carries an `insert_deduplication_token` (`token`, or a fresh one): with
   * the table's deduplication window an insert sent again with its token is stored once, and
   * without a token ClickHouse would deduplicate by content, hashing every block.
   */
  insertSpans(rows: SpanRow[], token: string = randomUUID()): Promise<void> {
    return this.#insert(TRACES_TABLE, TRACES_COLUMNS, rows, toTracesCompactRow, { insert_deduplication_token: token });
  }

  insertScores(rows: ScoreRow[]): Promise<void> {
    return this.#insert(SCORES_TABLE, SCORES_COLUMNS, rows, toScoresCompactRow);
  }

  async ping(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      const client = await this.#connect();
      const result = await client.ping();
      return result.success;
    } catch {
      return false;
    }
  }

  async query<T = Record<string, unknown>>(
    sql: string,
    params?: Record<string, unknown>,
    options?: { readonly?: boolean },
  ): Promise<T[]> {
    return this.#traced(sql, options?.readonly === true, () => this.#query<T>(sql, params, options), (rows) => rows.length);
  }

  /** Self-telemetry: a `clickhouse query` span around `run`. */
  async #traced<R>(sql: string, readonly: boolean, run: () => Promise<R>, rowsOf: (result: R) => number): Promise<R> {
    const span = this.#startSpan('clickhouse query');
    if (span.isRecording()) setQueryAttributes(span, sql, readonly);
    try {
      const result = await run();
      if (span.isRecording()) span.setAttribute('db.response.returned_rows', rowsOf(result));
      return result;
    } catch (error) {
      setSpanError(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  async #query<T>(sql: string, params: Record<string, unknown> | undefined, options: { readonly?: boolean } | undefined): Promise<T[]> {
    const readonly = options?.readonly === true;
    // A big filter's values go in the statement text, with parse limits sized to it (see both modules).
    const statement = inlineLargeParams(sql, params);
    const limits = parseLimitsFor(statement.sql);
    let client: ClickHouseClient;
    let settings: ClickHouseSettings | undefined;
    if (this.mode === 'server') {
      client = await this.#connect();
      settings = readonly ? { readonly: '1', ...limits } : limits;
    } else if (readonly) {
      if (limits !== undefined) {
        await this.#connect(); // opens the store first, so that a locked store reports StoreLockedError
        return queryInOwnReadonlySession<T>({ path: this.#options.embeddedPath!, database: this.database, clientOptions: this.#commonClientOptions(), statement, limits });
      }
      client = await this.#embeddedReadonlyClient();
    } else {
      client = await this.#connect();
      await this.#selectDatabase(client);
      // chdb keeps them for the session, which only ever runs spanscore's own statements.
      settings = limits;
    }
    const result = await client.query({
      query: statement.sql,
      query_params: statement.params,
      format: 'JSONEachRow',
      clickhouse_settings: settings,
    });
    return result.json<T>();
  }

  /**
   * SQL typed by a user (the admin API's `POST /query`, `spanscore query`): one SELECT of
   * this database's tables, as query-guard.ts decides, run read-only under `limits`.
   * Throws QueryRefusedError / QueryLimitError for what the user must change.
   */
  async userQuery(sql: string, limits: QueryLimits): Promise<UserQueryResult> {
    return this.#traced(sql, true, async () => runUserQuery(await this.#userQueryConnections(), sql, this.database, limits), (result) => result.rows.length);
  }

  async #userQueryConnections(): Promise<ReadonlyConnections> {
    if (this.mode === 'embedded') {
      await this.#connect(); // opens the store first, so that a locked store reports StoreLockedError
      return embeddedConnections({ path: this.#options.embeddedPath!, database: this.database, clientOptions: this.#commonClientOptions() });
    }
    if (this.#closed) throw new Error('the ClickHouse storage is closed');
    this.#userQueryClient ??= this.#openUserQueryClient().catch((err: unknown) => {
      this.#userQueryClient = undefined;
      throw err;
    });
    return serverConnections(await this.#userQueryClient);
  }

  /**
   * A client of its own, so that user queries neither wait for nor hold the sockets inserts
   * use. Its timeout is runUserQuery's deadline (from `max_execution_time`, which a reload
   * may change), so the client's own is only a backstop.
   */
  async #openUserQueryClient(): Promise<ClickHouseClient> {
    const { database, queryUser } = this.#options;
    const credentials = queryUser === undefined ? {} : { username: queryUser.username, password: queryUser.password ?? '' };
    return createClient({ ...(await this.#serverClientOptions()), ...credentials, database, request_timeout: USER_QUERY_REQUEST_TIMEOUT_MS });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const clients = await Promise.allSettled([this.#client, this.#readonlyClient, this.#userQueryClient]);
    for (const client of clients) {
      if (client.status === 'fulfilled' && client.value !== undefined) await client.value.close();
    }
  }

  async #insert<R>(table: string, columns: readonly string[], rows: R[], toRow: (row: R) => unknown[], settings?: ClickHouseSettings): Promise<void> {
    if (rows.length === 0) return;
    const span = this.#startSpan(`clickhouse insert ${table}`);
    if (span.isRecording()) {
      span.setAttribute('db.collection.name', table);
      span.setAttribute('db.operation.name', 'INSERT');
      span.setAttribute('spanscore.db.rows', rows.length);
    }
    const metrics = this.#options.metrics;
    metrics?.insertBatchRows.observe({ table }, rows.length);
    const started = process.hrtime.bigint();
    const elapsedSeconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      if (this.#closed) throw new Error('the storage is closed');
      const client = await this.#connect();
      const payload = encodePayload(rows, toRow);
      if (this.#embedded !== undefined) {
        // chdb's own insert would splice the payload into the SQL text (a copy of every
        // batch, parsed as part of the statement); rawInsert hands it to the engine's parser.
        await this.#embedded.chdb.rawInsert({ table: `${this.database}.${table}`, columns, values: payload, format: 'JSONCompactEachRow', ...(settings && { settings }) });
      } else {
        const result = await client.exec({
          query: `INSERT INTO ${qualifiedName(this.database, table)} (${columns.map(quoteIdentifier).join(', ')}) FORMAT JSONCompactEachRow`,
          values: Readable.from([payload]),
          clickhouse_settings: { ...this.#insertSettings, ...settings },
        });
        await finished(result.stream.resume());
      }
    } catch (err) {
      metrics?.insertDuration.observe({ table, outcome: 'error' }, elapsedSeconds());
      const reason = err instanceof Error ? err.message : String(err);
      this.#logger.warn({ table, rows: rows.length, err: reason }, 'ClickHouse insert failed');
      setSpanError(span, err);
      span.end();
      throw new RetryableStorageError(
        `ClickHouse insert of ${rows.length} rows into ${this.database}.${table} failed: ${reason}`,
        undefined,
        { cause: err },
      );
    }
    metrics?.insertDuration.observe({ table, outcome: 'ok' }, elapsedSeconds());
    span.end();
  }

  /** Self-telemetry: a CLIENT span with what every statement shares. */
  #startSpan(name: string): Span {
    const span = selfTracer.startSpan(name, { kind: SpanKind.CLIENT });
    if (span.isRecording()) {
      span.setAttribute('db.system.name', 'clickhouse');
      span.setAttribute('db.namespace', this.database);
      span.setAttribute('spanscore.clickhouse.mode', this.mode);
      if (this.#options.url !== undefined) setServerAttributes(span, this.#options.url);
    }
    return span;
  }

  /** The client for inserts, DDL and read-write queries, opened on first use. */
  #connect(): Promise<ClickHouseClient> {
    if (this.#closed) return Promise.reject(new Error('the ClickHouse storage is closed'));
    this.#client ??= this.#openClient().catch((err: unknown) => {
      this.#client = undefined; // let a later call retry (e.g. once another process released the store)
      throw err;
    });
    return this.#client;
  }

  async #openClient(): Promise<ClickHouseClient> {
    const { embeddedPath, database } = this.#options;
    if (embeddedPath !== undefined) {
      const connection = await openEmbeddedConnection(embeddedPath);
      this.#embedded = connection;
      return createClient({ connection, ...this.#commonClientOptions() });
    }
    return createClient({ ...(await this.#serverClientOptions()), database });
  }

  /** Everything but the database, which the client that creates it must not name. */
  async #serverClientOptions(): Promise<ClickHouseClientConfigOptions> {
    const { url, username, password, requestTimeoutMs } = this.#options;
    this.#tls ??= this.#loadTls().catch((err: unknown) => {
      this.#tls = undefined; // a file fixed in place is read again at the next attempt
      throw err;
    });
    const tls = await this.#tls;
    return { url, username, password, request_timeout: requestTimeoutMs, ...tls, ...this.#commonClientOptions() };
  }

  #loadTls(): Promise<Pick<ClickHouseClientConfigOptions, 'tls'>> {
    const { tls: files, url, password } = this.#options;
    return files === undefined ? Promise.resolve({}) : clickhouseClientTls(files, url!, password, this.#logger);
  }


  #commonClientOptions(): Pick<ClickHouseClientConfigOptions, 'clickhouse_settings' | 'log'> {
    return { clickhouse_settings: SESSION_SETTINGS, log: clientLogOptions(this.#logger) };
  }

  /**
   * Over HTTP the client's `database` option is sent with every request and is refused
   * while the database does not exist, so the schema is read and the database created
   * through a client without it. chdb ignores the option: the main session serves.
   */
  async #withDatabaseFreeClient<T>(client: ClickHouseClient, use: (admin: ClickHouseClient) => Promise<T>): Promise<T> {
    if (this.mode === 'embedded') return use(client);
    const admin = createClient(await this.#serverClientOptions());
    try {
      return await use(admin);
    } finally {
      await admin.close();
    }
  }

  /** Embedded mode: `USE database` on the main session, once it succeeds. */
  #selectDatabase(client: ClickHouseClient): Promise<void> {
    this.#databaseSelected ??= client
      .command({ query: `USE ${quoteIdentifier(this.database)}` })
      .then(
        () => undefined,
        (err: unknown) => {
          this.#databaseSelected = undefined; // the database may not exist yet (before migrate)
          throw err;
        },
      );
    return this.#databaseSelected;
  }

  #embeddedReadonlyClient(): Promise<ClickHouseClient> {
    if (this.#closed) return Promise.reject(new Error('the ClickHouse storage is closed'));
    this.#readonlyClient ??= this.#openEmbeddedReadonlyClient().catch((err: unknown) => {
      this.#readonlyClient = undefined;
      throw err;
    });
    return this.#readonlyClient;
  }

  async #openEmbeddedReadonlyClient(): Promise<ClickHouseClient> {
    await this.#connect(); // opens the store first, so that a locked store reports StoreLockedError
    return openReadonlySession(this.#options.embeddedPath!, this.database, this.#commonClientOptions());
  }
}

/** Above the longest `admin.query.max_execution_time` (1 h) and its grace. */
const USER_QUERY_REQUEST_TIMEOUT_MS = 2 * 3_600_000 + 60_000;
