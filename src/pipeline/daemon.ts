import { AdminServer } from '../admin/admin-server.js';
import { ApiKeys } from '../auth/api-keys.js';
import { OnDemandScoring } from '../scoring/on-demand/on-demand-scoring.js';
import { SpanReader } from '../storage/span-reader.js';
import { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import type { SpanscoreConfig } from '../config/spanscore-config.js';
import { GrpcReceiver } from '../receivers/grpc-receiver.js';
import { HttpReceiver } from '../receivers/http-receiver.js';
import type { Receiver } from '../receivers/receiver.js';
import { ScoringProcessor, type RuleCounters } from '../scoring/scoring-processor.js';
import type { RuleSpec } from '../scoring/rule-spec.js';
import { ClickHouseStorage } from '../storage/clickhouse-storage.js';
import { NoStorage } from '../storage/no-storage.js';
import type { TraceStorage } from '../storage/trace-storage.js';
import { OtlpExporter } from '../exporters/otlp-exporter.js';
import { SpanForwarder } from '../exporters/span-forwarder.js';
import { randomUUID } from 'node:crypto';
import { GroupCommitWriter } from '../storage/group-commit-writer.js';
import { insertRetryingAmbiguous } from '../storage/ambiguous-insert-retry.js';
import { BufferLog } from '../storage/buffer/buffer-log.js';
import { BufferMetrics } from '../storage/buffer/buffer-metrics.js';
import { BufferingInserter, type InsertOutcome } from '../storage/buffer/buffering-inserter.js';
import { SCORING_SCOPE_NAME } from '../scoring/score-recorder.js';
import { EMBEDDED_SPAN_MEMORY, SERVER_SPAN_MEMORY } from './span-size.js';
import { RetryableStorageError } from './errors.js';
import { MemoryLimiter } from './memory-limiter.js';
import type { SpanRow } from './span-row.js';
import { TracesPipeline } from './traces-pipeline.js';
import { defaultAutoevalsResolveFrom } from '../config/scorer-checks.js';

/** The bound addresses, as logged in the ready line. */
export interface DaemonAddresses {
  grpc?: string;
  http?: string;
  admin: string;
}

/**
 * Wires the stages from a validated config (the Collector's "service"): receivers ->
 * traces pipeline (group commit into ClickHouse) -> scoring processor -> score recorder.
 */
export class Daemon {
  readonly metrics = new DaemonMetrics();
  /** NoStorage in a forward-only pipeline. */
  private readonly storage: TraceStorage;
  /** Undefined in a forward-only pipeline. */
  private readonly writer?: GroupCommitWriter<SpanRow, InsertOutcome>;
  /** The durable buffer in front of span inserts (`storage.clickhouse.buffer`), opened by `start`. */
  private buffer?: BufferingInserter;
  private readonly forwarder: SpanForwarder;
  private scoring: ScoringProcessor;
  /** Processors replaced by a reload, still draining their queues. */
  private readonly retiring = new Set<Promise<void>>();
  private readonly pipeline: TracesPipeline;
  private readonly receivers: Receiver[] = [];
  private readonly admin: AdminServer;
  /** Replaced on reload; receivers and the admin API read it per request. */
  private apiKeys: ApiKeys;
  private readonly onDemand: OnDemandScoring;
  private readonly memoryLimiter: MemoryLimiter;
  private schemaReady = false;
  private receiversListening = false;
  private migrateTimer?: NodeJS.Timeout;
  private stopping?: Promise<void>;

  constructor(
    private config: SpanscoreConfig,
    private readonly logger: Logger,
  ) {
    const { storage } = config;
    this.forwarder = new SpanForwarder(
      config.exporters.map((spec) => new OtlpExporter(spec, { metrics: this.metrics, logger: logger.child({ component: 'exporter' }) })),
      logger.child({ component: 'exporter' }),
    );
    if (storage === undefined) {
      this.storage = new NoStorage();
    } else {
      const clickhouse = new ClickHouseStorage({
        url: storage.url,
        embeddedPath: storage.embeddedPath,
        database: storage.database,
        username: storage.username,
        password: storage.password,
        ttlDays: storage.ttlDays,
        requestTimeoutMs: storage.requestTimeoutMs,
        ...(storage.tls && { tls: storage.tls }),
        ...(storage.cluster && { cluster: storage.cluster }),
        createSchema: storage.createSchema,
        ...(config.admin.query.username !== undefined && { queryUser: { username: config.admin.query.username, password: config.admin.query.password } }),
        metrics: this.metrics,
        logger: logger.child({ component: 'storage' }),
      });
      this.storage = clickhouse;
      this.writer = new GroupCommitWriter<SpanRow, InsertOutcome>({
        maxBatchRows: storage.insert.maxBatchSpans,
        lingerMs: storage.insert.lingerMs,
        maxConcurrentInserts: storage.insert.maxConcurrent,
        insert: async (rows) => {
          if (this.buffer !== undefined) return this.buffer.insert(rows);
          const token = randomUUID();
          await insertRetryingAmbiguous(() => this.insertSpans(rows, token));
          return 'stored';
        },
      });
    }
    this.apiKeys = new ApiKeys(config.auth.keys);
    this.memoryLimiter = new MemoryLimiter({ ...config.memoryLimiter, metrics: this.metrics, logger: logger.child({ component: 'memory_limiter' }) });
    this.scoring = this.createScoring(config);
    // Through `this.scoring`, not the processor itself: a reload swaps it.
    this.pipeline = new TracesPipeline(this.writer, [{ onStored: (spans) => this.scoring.onStored(spans) }], this.metrics, logger.child({ component: 'pipeline' }), {
      limiter: this.memoryLimiter,
      spanMemory: storage?.embeddedPath !== undefined ? EMBEDDED_SPAN_MEMORY : SERVER_SPAN_MEMORY,
      forwarder: this.forwarder,
    });
    const receiverLogger = logger.child({ component: 'receiver' });
    const { maxAttributeValueLength, maxAttributesPerSpan, maxSpanAttributesBytes } = config.receivers;
    const receiverAuth = { auth: () => this.apiKeys, instanceId: config.service.instanceId, maxAttributeValueLength, maxAttributesPerSpan, maxSpanAttributesBytes };
    if (config.receivers.grpc) {
      this.receivers.push(
        new GrpcReceiver({ ...config.receivers.grpc, consumer: this.pipeline, metrics: this.metrics, logger: receiverLogger, ...receiverAuth }),
      );
    }
    if (config.receivers.http) {
      this.receivers.push(
        new HttpReceiver({ ...config.receivers.http, consumer: this.pipeline, metrics: this.metrics, logger: receiverLogger, ...receiverAuth }),
      );
    }
    const reader = new SpanReader(this.storage);
    this.onDemand = new OnDemandScoring({
      storage: this.scoringStorage(),
      reader,
      conventions: () => this.config.scoring.conventions,
      metrics: this.metrics,
      logger: logger.child({ component: 'on-demand' }),
      maxBackfillSpans: () => this.config.admin.backfillMaxSpans,
    });
    this.admin = new AdminServer({
      endpoint: config.admin.endpoint,
      metrics: this.metrics,
      logger: logger.child({ component: 'admin' }),
      readiness: () => this.readiness(),
      ...(config.admin.tls && { tls: config.admin.tls }),
      api: {
        keys: () => this.apiKeys,
        config: () => this.config,
        ruleCounters: () => this.scoring.ruleCounters,
        scorerStatuses: () => this.scoring.scorerStatuses,
        storage: this.storage,
        reader,
        onDemand: this.onDemand,
      },
    });
  }

  async start(): Promise<DaemonAddresses> {
    await this.openBuffer();
    // A store held by another process is a configuration mistake: fail fast rather than retry.
    await this.migrateOrRetryLater();
    await this.forwarder.start();
    this.memoryLimiter.start();
    await this.scoring.start();
    // Replayed spans go to scoring, so replay what an earlier run buffered once scoring runs.
    this.buffer?.start();
    const addresses: DaemonAddresses = { admin: await this.admin.start() };
    for (const receiver of this.receivers) {
      const address = await receiver.start();
      if (receiver.name === 'otlp/grpc') addresses.grpc = address;
      else addresses.http = address;
    }
    this.receiversListening = true;
    if (!this.apiKeys.enabled) {
      this.logger.warn({ addresses }, 'no API keys configured (auth.keys): nobody is asked for one, so spanscore listens on loopback only');
    }
    this.logger.info(
      {
        addresses,
        storage: describeStorage(this.config.storage),
        exporters: this.config.exporters.map((e) => `${e.name} (${e.protocol} ${e.endpoint})`),
        rules: this.config.rules.filter((r) => r.enabled).map((r) => r.name),
      },
      `spanscore ready: OTLP/gRPC ${addresses.grpc ?? 'off'}, OTLP/HTTP ${addresses.http ?? 'off'}, admin ${addresses.admin}`,
    );
    return addresses;
  }

  /** One span insert into ClickHouse, refused (retryably) until the schema is ready. */
  private insertSpans(rows: SpanRow[], token?: string): Promise<void> {
    if (!this.schemaReady) {
      return Promise.reject(new RetryableStorageError('ClickHouse is not reachable yet (the schema is not created)', 5));
    }
    return (this.storage as ClickHouseStorage).insertSpans(rows, token);
  }

  private async openBuffer(): Promise<void> {
    const spec = this.config.storage?.buffer;
    if (spec === undefined) return;
    const log = await BufferLog.open(spec.path, { maxBytes: spec.maxSizeBytes, fsync: spec.fsync });
    this.buffer = new BufferingInserter({
      log,
      insert: (rows, token) => this.insertSpans(rows, token),
      spillAfterMs: spec.spillAfterMs,
      // Scoring spans in a replayed batch are spanscore's own output, not spans to score.
      onReplayed: (rows) => {
        const received = rows.filter((row) => row.ScopeName !== SCORING_SCOPE_NAME);
        this.metrics.spansStored.inc(received.length);
        this.pipeline.deliverStored(received);
      },
      metrics: new BufferMetrics(this.metrics.registry),
      logger: this.logger.child({ component: 'buffer' }),
    });
  }

  /** The storage on-demand scoring writes through: its scoring spans are forwarded like the live ones. */
  private scoringStorage(): TraceStorage {
    const storage = this.storage;
    const forwarder = this.forwarder;
    return {
      migrate: () => storage.migrate(),
      insertSpans: (rows) => {
        forwarder.forwardScoring(rows);
        return storage.insertSpans(rows);
      },
      insertScores: (rows) => storage.insertScores(rows),
      ping: () => storage.ping(),
      query: (sql, params, options) => storage.query(sql, params, options),
      userQuery: (sql, limits) => storage.userQuery(sql, limits),
      close: () => storage.close(),
    };
  }

  private createScoring(config: SpanscoreConfig, carriedCounters?: Record<string, RuleCounters>): ScoringProcessor {
    return new ScoringProcessor({
      rules: config.rules,
      scorers: config.scorers,
      conventions: config.scoring.conventions,
      workers: config.scoring.workers,
      taskTimeoutMs: config.scoring.taskTimeoutMs,
      workerMemoryMib: config.scoring.workerMemoryMib,
      queueCapacity: config.scoring.queueSize,
      maxBatchSize: config.scoring.batchSize,
      // Scoring spans join the received spans' inserts (group commit) instead of making
      // small inserts of their own: ClickHouse pays per insert and per part.
      storage: {
        insertSpans: async (rows) => {
          this.forwarder.forwardScoring(rows);
          // Stored or buffered, either way they are kept: the recorder need not retry them.
          if (this.writer) await this.writer.write(rows);
        },
        insertScores: (rows) => this.storage.insertScores(rows),
        // Forward-only: nothing to query, so no recovery and (refused at load) no trace rules.
        ...(config.storage && {
          query: (sql: string, params?: Record<string, unknown>, options?: { readonly?: boolean }) => this.storage.query(sql, params, options),
          ping: () => this.storage.ping(),
        }),
      },
      metrics: this.metrics,
      logger: this.logger.child({ component: 'scoring' }),
      autoevalsResolveFrom: defaultAutoevalsResolveFrom(config),
      instanceId: config.service.instanceId,
      recovery: { ...config.scoring.recovery, enabled: config.scoring.recovery.enabled && config.storage !== undefined },
      // Scoring sheds on its own queues' memory, and on RSS only above the soft limit (MemoryLimiter.shedScoring).
      shouldShed: () => this.memoryLimiter.shedScoring(),
      maxHeldBytes: config.memoryLimiter.scoringLimitBytes,
      // Only the constructor's processor comes without carried counters: the first of this process.
      startsProcess: carriedCounters === undefined,
      ...(carriedCounters && { initialCounters: carriedCounters }),
    });
  }

  /**
   * Puts a new, already validated config into effect: rules, scorers and scoring settings.
   * The new scoring processor starts before it takes over, so no stored span goes unseen;
   * the old one drains what it had queued in the background. Paused LLM scorers start
   * afresh (a reload is how a fixed key or model is picked up). Counters of unchanged rules
   * carry over. Receivers, storage, exporters, admin and service settings need a restart.
   */
  async reload(next: SpanscoreConfig): Promise<void> {
    if (this.stopping) throw new Error('shutting down');
    const unchanged = new Map(this.config.rules.map((rule) => [rule.name, ruleKey(rule)]));
    const counters = this.scoring.ruleCounters;
    const carried: Record<string, RuleCounters> = {};
    for (const rule of next.rules) {
      if (unchanged.get(rule.name) === ruleKey(rule) && counters[rule.name]) carried[rule.name] = counters[rule.name]!;
    }
    const scoring = this.createScoring(next, carried);
    try {
      await scoring.start();
    } catch (error) {
      await scoring.shutdown(0);
      throw error;
    }
    const old = this.scoring;
    this.scoring = scoring;
    this.apiKeys = new ApiKeys(next.auth.keys);
    const needRestart = (['receivers', 'storage', 'exporters', 'admin', 'service'] as const).filter((key) => JSON.stringify(this.config[key]) !== JSON.stringify(next[key]));
    if (needRestart.length > 0) this.logger.warn({ sections: needRestart }, `config reload: changes to ${needRestart.join(', ')} take effect at the next restart`);
    this.config = { ...next, receivers: this.config.receivers, storage: this.config.storage, exporters: this.config.exporters, admin: this.config.admin, service: this.config.service };
    const draining = old.shutdown(this.config.service.shutdownTimeoutMs).catch((error) => this.logger.error({ err: error }, 'draining the replaced scoring processor failed'));
    this.retiring.add(draining);
    void draining.finally(() => this.retiring.delete(draining));
  }

  private async migrateOrRetryLater(): Promise<void> {
    try {
      await this.storage.migrate();
      this.schemaReady = true;
    } catch (error) {
      if (!(error instanceof RetryableStorageError)) throw error;
      this.logger.warn({ err: error }, 'ClickHouse is not reachable; receivers answer 503 / UNAVAILABLE until it is (retrying every 2 s)');
      this.migrateTimer = setTimeout(() => {
        this.migrateTimer = undefined;
        if (!this.stopping) void this.migrateOrRetryLater();
      }, 2000);
      this.migrateTimer.unref();
    }
  }

  private async readiness(): Promise<{ ready: boolean; reason?: string }> {
    if (this.stopping) return { ready: false, reason: 'shutting down' };
    if (!this.receiversListening) return { ready: false, reason: 'receivers are not listening yet' };
    if (this.config.storage === undefined) return { ready: true };
    const clickhouseUp = this.schemaReady && (await this.storage.ping());
    // With the durable buffer a replica takes data while ClickHouse is away, as long as there is room.
    if (!clickhouseUp && this.buffer !== undefined) {
      return this.buffer.hasRoom ? { ready: true } : { ready: false, reason: 'ClickHouse does not answer and the durable buffer is full' };
    }
    if (!this.schemaReady) return { ready: false, reason: 'ClickHouse schema not created yet (ClickHouse unreachable?)' };
    if (!clickhouseUp) return { ready: false, reason: 'ClickHouse does not answer' };
    return { ready: true };
  }

  /**
   * Stops taking requests, lets in-flight ones finish, flushes the span writer, then drains
   * scoring, all within `deadlineMs`; whatever scoring is left at the deadline is logged.
   */
  shutdown(deadlineMs = this.config.service.shutdownTimeoutMs): Promise<void> {
    this.stopping ??= this.doShutdown(deadlineMs);
    return this.stopping;
  }

  private async doShutdown(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    const left = () => Math.max(0, deadline - Date.now());
    if (this.migrateTimer) clearTimeout(this.migrateTimer);
    this.logger.info({ deadlineMs }, 'shutting down: draining requests, inserts and scoring');
    await Promise.all(this.receivers.map((r) => r.shutdown(left())));
    this.pipeline.stopAccepting();
    // Scoring spans go through the writer too: it closes once scoring has drained.
    await this.writer?.flush().catch((error) => this.logger.error({ err: error }, 'final span insert failed'));
    await Promise.all([this.scoring.shutdown(left()), ...this.retiring, this.onDemand.close()]);
    await this.writer?.close().catch((error) => this.logger.error({ err: error }, 'final scoring span insert failed'));
    // What it still holds is replayed at the next start.
    await this.buffer?.stop().catch((error) => this.logger.error({ err: error }, 'closing the durable buffer failed'));
    // Last: received and scoring spans are all offered by now.
    await this.forwarder.shutdown(left());
    await this.admin.shutdown();
    this.memoryLimiter.stop();
    await this.storage.close();
    this.logger.info('spanscore stopped');
  }
}

/** What makes two rule definitions the same rule (the parsed filter is derived from its text). */
function ruleKey(rule: RuleSpec): string {
  return JSON.stringify({ ...rule, filter: rule.filter?.text });
}

function describeStorage(storage: SpanscoreConfig['storage']): Record<string, string> {
  if (storage === undefined) return { none: 'forward-only' };
  return storage.url ? { url: redactUrl(storage.url), database: storage.database } : { embedded: storage.embeddedPath ?? '', database: storage.database };
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
