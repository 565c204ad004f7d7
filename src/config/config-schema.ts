import { z } from 'zod';
import { durationMs } from './duration.js';
import { llmPricesSchema, scorerSchema } from './scorer-schema.js';

const MIB = 1024 * 1024;

/** `host:port`, as the Collector writes endpoints. */
const endpoint = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]*):\d{1,5}$/, 'must be host:port, for example 127.0.0.1:4318');

/** YAML `grpc:` with nothing under it means "enabled with defaults", as in the Collector. */
const section = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === null ? {} : v), schema);

/** Server TLS, as the Collector's `tls:` block: certificate and key, and a CA to require client certificates. */
const serverTls = z.strictObject({
  cert_file: z.string().min(1),
  key_file: z.string().min(1),
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  client_ca_file: z.string().min(1).optional(),
});

const grpcProtocol = z.strictObject({
  endpoint: endpoint.default('127.0.0.1:4317'),
  max_recv_msg_size_mib: z.number().positive().max(1024).default(16),
  tls: serverTls.optional(),
});

const httpProtocol = z.strictObject({
  endpoint: endpoint.default('127.0.0.1:4318'),
  max_request_body_size: z.number().int().positive().default(20 * MIB),
  tls: serverTls.optional(),
  /** Slowloris guards: time to receive the request headers, and the whole request. */
  read_header_timeout: durationMs({ min: 100 }).default(10_000),
  read_timeout: durationMs({ min: 100 }).default(30_000),
});

const receivers = z.strictObject({
  otlp: section(
    z.strictObject({
      protocols: section(
        z.strictObject({
          grpc: section(grpcProtocol).optional(),
          http: section(httpProtocol).optional(),
        }),
      ),
      /** Longer attribute values (and event/link attributes) are cut, with a marker, before storage. */
      max_attribute_value_length: z.number().int().min(64).default(65_536),
      /** Attributes kept per list (a span's, each event's and link's, a resource's); the rest are dropped and counted. */
      max_attributes_per_span: z.number().int().min(16).default(4096),
      /** UTF-8 bytes of keys and stored values kept per list; entries past it are dropped and counted. */
      max_span_attributes_bytes: z.number().int().min(65_536).default(4 * MIB),
    }),
  ),
});

/** `storage.clickhouse.replication` when a cluster is set without it: ClickHouse's usual layout. */
export const REPLICATION_DEFAULTS = {
  enabled: true,
  zookeeper_path: '/clickhouse/tables/{shard}/{database}/{table}',
  replica_name: '{replica}',
};

const clickhouse = z
  .strictObject({
    url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    embedded: section(z.strictObject({ path: z.string().min(1).default('./data/clickhouse') })).optional(),
    database: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier (letters, digits, _)')
      .default('spanscore'),
    username: z.string().default('default'),
    password: z.string().default(''),
    ttl_days: z.number().int().nonnegative().default(0),
    /**
     * A cluster of the servers' `remote_servers` (macros such as `{cluster}` allowed): DDL
     * runs ON CLUSTER, rows go to `<table>_local` on each shard through Distributed tables.
     */
    cluster: z.string().min(1).optional(),
    replication: section(
      z.strictObject({
        enabled: z.boolean().default(REPLICATION_DEFAULTS.enabled),
        zookeeper_path: z.string().min(1).default(REPLICATION_DEFAULTS.zookeeper_path),
        replica_name: z.string().min(1).default(REPLICATION_DEFAULTS.replica_name),
      }),
    ).optional(),
    /** As the Collector's clickhouseexporter: false leaves the tables to the operators and only checks them. */
    create_schema: z.boolean().default(true),
    request_timeout: durationMs({ min: 100 }).default(30_000),
    /** TLS to the ClickHouse server (an https:// url): a CA to trust, and a client certificate for mutual TLS. */
    tls: z
      .strictObject({
        ca_file: z.string().min(1).optional(),
        cert_file: z.string().min(1).optional(),
        key_file: z.string().min(1).optional(),
      })
      .optional(),
    insert: section(
      z.strictObject({
        max_batch_spans: z.number().int().positive().default(20_000),
        linger: durationMs({ max: 10_000 }).default(20),
        max_concurrent: z.number().int().positive().max(64).default(2),
      }),
    ).default({ max_batch_spans: 20_000, linger: 20, max_concurrent: 2 }),
    /**
     * A durable local buffer, as the Collector's persistent queue (`file_storage`): while
     * ClickHouse refuses or is unreachable, requests are acknowledged once their rows are on
     * this disk, then replayed in order (exactly once) when ClickHouse answers.
     */
    buffer: section(
      z.strictObject({
        path: z.string().min(1),
        max_size_mib: z.number().positive().max(1_048_576).default(1024),
        /** false: acknowledge after the write reaches the OS (survives a crash of spanscore, not of the machine). */
        fsync: z.boolean().default(true),
        /** An insert still unanswered after this long is buffered rather than waited for (clients time out at 10 s). */
        spill_after: durationMs({ min: 100, max: 600_000 }).default(5_000),
      }),
    ).optional(),
  })
  .superRefine((value, ctx) => {
    if ((value.url === undefined) === (value.embedded === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'give exactly one of `url` (a ClickHouse server) or `embedded.path` (in-process ClickHouse)',
      });
    }
    if (value.cluster !== undefined && value.embedded !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'a cluster needs ClickHouse servers (`url`); the embedded engine is a single process' });
    }
    if (value.replication !== undefined && value.cluster === undefined) {
      ctx.addIssue({ code: 'custom', path: ['replication'], message: 'replication applies to a cluster: set `cluster` too' });
    }
  });

const samplingRate = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const rate =
    typeof value === 'number'
      ? value
      : /^\s*\d+(\.\d+)?\s*%\s*$/.test(value)
        ? Number(value.trim().slice(0, -1).trim()) / 100
        : Number.NaN;
  if (!Number.isFinite(rate) || rate < 0 || rate > 1) {
    ctx.addIssue({ code: 'custom', message: `must be a number from 0 to 1 or a percentage like "10%", got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return rate;
});

/** One entry of `rules:`; also the body of `POST /api/v1/rules/test` for a rule not in the config. */
export const ruleSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'must be letters, digits and _ . : - only'),
  description: z.string().default(''),
  scorers: z.array(z.string().min(1)).min(1, 'a rule needs at least one scorer'),
  sampling_rate: samplingRate.default(1),
  filter: z.string().optional(),
  apply_to: section(
    z.strictObject({
      root_spans: z.boolean().default(false),
      span_names: z.array(z.string().min(1)).default([]),
    }),
  ).default({ root_spans: true, span_names: [] }),
  enabled: z.boolean().default(true),
  /** Only spans of this project; absent = every project. */
  project: z.string().min(1).optional(),
  /** `trace`: score whole traces once they go idle, attached to the root span. */
  scope: z.enum(['span', 'trace']).default('span'),
  idle_seconds: z.number().positive().max(86_400).optional(),
});

const fieldList = z.array(z.string().min(1));

const scoring = z.strictObject({
  workers: z.number().int().positive().max(64).optional(),
  task_timeout: durationMs({ min: 1 }).default(10_000),
  queue_size: z.number().int().positive().default(10_000),
  batch_size: z.number().int().positive().max(10_000).default(64),
  llm_prices: llmPricesSchema.default({}),
  /** Heap limit of each scorer worker thread: a scorer that exhausts it costs its task, not the daemon. */
  worker_memory_mib: z.number().int().min(16).max(16_384).default(256),
  /**
   * Scoring recovery: selected spans of the last `window` that lack their rules' scores (a
   * crash, an outage that outlasted the score buffer, shedding) are scored at start and then
   * every `interval` (at once again while a backlog is left); spans younger than `min_age`
   * are left to the live pipeline, except this replica's from before its start. Spans are
   * read back in pages of `page_mib` (their uncompressed size in ClickHouse).
   */
  recovery: section(
    z.strictObject({
      enabled: z.boolean().default(true),
      window: durationMs({ min: 1_000 }).default(3_600_000),
      interval: durationMs({ min: 1_000 }).default(300_000),
      min_age: durationMs({ min: 0 }).default(120_000),
      max_spans: z.number().int().positive().default(10_000),
      page_mib: z.number().positive().max(1024).default(4),
    }),
  ).default({ enabled: true, window: 3_600_000, interval: 300_000, min_age: 120_000, max_spans: 10_000, page_mib: 4 }),
  fields: section(
    z.strictObject({
      input: fieldList.optional(),
      output: fieldList.optional(),
      expected: fieldList.optional(),
      metadata_prefix: z.string().optional(),
      metadata_attribute: z.string().optional(),
    }),
  ).optional(),
});

/** What `admin.query` has when the section or a key is absent (`max_result_rows`: `admin.max_query_rows`). */
export const ADMIN_QUERY_DEFAULTS = { maxExecutionMs: 30_000, maxResultBytes: 64 * MIB };

/** `admin.query`: how SQL typed by a user (`POST /api/v1/query`, `spanscore query`) runs. */
const adminQuery = z
  .strictObject({
    /** Server mode: ClickHouse credentials of their own for these queries, e.g. a read-only user. */
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    max_execution_time: durationMs({ min: 100, max: 3_600_000 }).default(ADMIN_QUERY_DEFAULTS.maxExecutionMs),
    /** Default: `admin.max_query_rows`. */
    max_result_rows: z.number().int().positive().optional(),
    /** At most 256 MiB: the rows become one JSON response, and a JS string holds at most 512 M characters. */
    max_result_bytes: z.number().int().positive().max(256 * MIB).default(ADMIN_QUERY_DEFAULTS.maxResultBytes),
  })
  .refine((query) => query.password === undefined || query.username !== undefined, { message: 'password needs a username', path: ['password'] });

const admin = z.strictObject({
  endpoint: endpoint.default('127.0.0.1:13133'),
  tls: serverTls.optional(),
  /** Rows `POST /api/v1/query` returns at most (kept for older configs: `query.max_result_rows` wins). */
  max_query_rows: z.number().int().positive().default(10_000),
  query: section(adminQuery).optional(),
  /** Spans one backfill job may score at most. */
  backfill_max_spans: z.number().int().positive().default(10_000),
  /** Longest filter (UTF-8 bytes) `POST /api/v1/rules/test` and `/backfill` take: it becomes megabytes of SQL. */
  max_filter_bytes: z.number().int().positive().max(64 * 1024 * 1024).default(1024 * 1024),
});

const apiKey = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'must be letters, digits and _ . : - only'),
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be `sha256:` and 64 lower-case hex digits (the line `spanscore keys create` prints)'),
  projects: z.array(z.string().min(1)).min(1).default(['*']),
  permissions: z.array(z.enum(['ingest', 'read', 'update'])).min(1, 'give at least one of ingest, read, update'),
});

const auth = z.strictObject({ keys: z.array(apiKey).default([]) });

/** Client TLS, as the Collector's exporters write it. */
const clientTls = z.strictObject({
  /** gRPC only: plaintext (h2c). An `http://` endpoint means the same. */
  insecure: z.boolean().default(false),
  /** Accept any server certificate (tests, never production). */
  insecure_skip_verify: z.boolean().default(false),
  ca_file: z.string().min(1).optional(),
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
  /** The name to check the server certificate against, when it differs from the endpoint's host. */
  server_name_override: z.string().min(1).optional(),
});

export const EXPORTER_PROTOCOLS = ['grpc', 'http/protobuf', 'http/json'] as const;

/** The Collector's exporterhelper retry_on_failure, with its defaults. */
export const RETRY_DEFAULTS = { enabled: true, initial_interval: 5_000, max_interval: 30_000, max_elapsed_time: 300_000, multiplier: 1.5, randomization_factor: 0.5 };
/** The Collector's sending_queue (`queue_size` in requests), plus a bound in bytes: requests vary from a span to many MiB. */
export const QUEUE_DEFAULTS = { enabled: true, num_consumers: 10, queue_size: 1_000, queue_size_mib: 64 };

/**
 * One `exporters.otlp` / `exporters.otlp/<name>` entry: forwards received spans (the request
 * bytes as received) and scoring spans to an OTLP endpoint downstream.
 */
const otlpExporter = z.strictObject({
  /** gRPC: `host:port` or `http(s)://host:port`. HTTP: a base URL to which `/v1/traces` is added (not needed with `traces_endpoint`). */
  endpoint: z.string().min(1).optional(),
  /** HTTP only: the full URL to POST to, used as is (the SDKs' OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). */
  traces_endpoint: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  protocol: z.enum(EXPORTER_PROTOCOLS).default('grpc'),
  /** What to forward: the spans the receivers took, the scoring spans spanscore writes, or both. */
  forward: z.enum(['received', 'scoring', 'both']).default('both'),
  headers: z.record(z.string().min(1), z.string()).default({}),
  compression: z.enum(['gzip', 'none']).default('gzip'),
  timeout: durationMs({ min: 1 }).default(10_000),
  tls: section(clientTls).optional(),
  retry_on_failure: section(
    z.strictObject({
      enabled: z.boolean().default(RETRY_DEFAULTS.enabled),
      initial_interval: durationMs({ min: 1 }).default(RETRY_DEFAULTS.initial_interval),
      max_interval: durationMs({ min: 1 }).default(RETRY_DEFAULTS.max_interval),
      /** 0: retry until the request is shed or spanscore stops. */
      max_elapsed_time: durationMs({ min: 0 }).default(RETRY_DEFAULTS.max_elapsed_time),
      multiplier: z.number().min(1).default(RETRY_DEFAULTS.multiplier),
      randomization_factor: z.number().min(0).max(1).default(RETRY_DEFAULTS.randomization_factor),
    }),
  ).default(RETRY_DEFAULTS),
  sending_queue: section(
    z.strictObject({
      /** false: no queue, a request is sent at once (one at a time per consumer) or shed. */
      enabled: z.boolean().default(QUEUE_DEFAULTS.enabled),
      num_consumers: z.number().int().positive().max(256).default(QUEUE_DEFAULTS.num_consumers),
      queue_size: z.number().int().positive().default(QUEUE_DEFAULTS.queue_size),
      queue_size_mib: z.number().positive().max(16_384).default(QUEUE_DEFAULTS.queue_size_mib),
    }),
  ).default(QUEUE_DEFAULTS),
}).superRefine((value, ctx) => {
  if (value.endpoint === undefined && (value.protocol === 'grpc' || value.traces_endpoint === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['endpoint'], message: value.protocol === 'grpc' ? 'required: the downstream host:port' : 'required: the downstream base URL (or give `traces_endpoint`)' });
  }
});

export type RawOtlpExporter = z.output<typeof otlpExporter>;

/** Collector-style names: `otlp`, or `otlp/<name>` for more than one. */
const exporters = z.record(
  z.string().regex(/^otlp(\/[A-Za-z0-9_.:-]+)?$/, 'exporters are `otlp` or `otlp/<name>` (letters, digits and _ . : -)'),
  section(otlpExporter),
);

/** The daemon's own traces (`service.telemetry.traces`): off unless an endpoint is given. */
const selfTelemetry = z.strictObject({
  traces: section(
    z.strictObject({
      /** gRPC: `host:port` or `http(s)://host:port`; HTTP: the full URL (`.../v1/traces`). */
      endpoint: z.string().min(1),
      protocol: z.enum(EXPORTER_PROTOCOLS).default('http/protobuf'),
      headers: z.record(z.string().min(1), z.string()).default({}),
      tls: section(clientTls).optional(),
      /** Share of root operations traced (parent-based below them). */
      sampling_ratio: z.number().min(0).max(1).default(1),
    }),
  ).optional(),
});

/**
 * The Collector's memory_limiter: above `limit_mib - spike_limit_mib` (soft) the receivers
 * refuse new data with a retryable status and scoring sheds new tasks, above `limit_mib`
 * (hard) too. Below that, scoring sheds on what its queues hold: `scoring_limit_mib` of
 * estimated span memory (and `scoring.queue_size` tasks), not on RSS.
 */
const memoryLimiter = z.strictObject({
  check_interval: durationMs({ min: 10 }).default(500),
  /** Default 512 MiB with a ClickHouse server (a sidecar); 2048 MiB with the embedded engine, whose memory is the daemon's. */
  limit_mib: z.number().int().min(64).optional(),
  /** Default a quarter of `limit_mib`. */
  spike_limit_mib: z.number().int().min(0).optional(),
  /** Default `spike_limit_mib`: the memory set aside for what is admitted but not done with. */
  scoring_limit_mib: z.number().positive().optional(),
  /** Accepted so that older configs load; no effect since scoring sheds on its queues, not on RSS. */
  scoring_shed_percent: z.number().min(10).max(100).optional(),
});

const service = z.strictObject({
  shutdown_timeout: durationMs({ min: 100 }).default(30_000),
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  /** Names this replica: trace rules are decided by the replica that stored the root span. Default: the host name. */
  instance_id: z.string().min(1).optional(),
  telemetry: section(selfTelemetry).optional(),
});

/** The whole config file. Unknown keys anywhere are errors (strict objects). */
export const configSchema = z.strictObject({
  receivers: section(receivers).default({
    otlp: {
      protocols: {
        grpc: { endpoint: '127.0.0.1:4317', max_recv_msg_size_mib: 16 },
        http: { endpoint: '127.0.0.1:4318', max_request_body_size: 20 * MIB, read_header_timeout: 10_000, read_timeout: 30_000 },
      },
      max_attribute_value_length: 65_536,
      max_attributes_per_span: 4096,
      max_span_attributes_bytes: 4 * MIB,
    },
  }),
  /** Absent: a forward-only pipeline (exporters.otlp must carry the spans and the scores). */
  storage: section(z.strictObject({ clickhouse: clickhouse.optional() })).optional(),
  exporters: section(exporters).default({}),
  scoring: section(scoring).default({ task_timeout: 10_000, queue_size: 10_000, batch_size: 64, llm_prices: {}, worker_memory_mib: 256, recovery: { enabled: true, window: 3_600_000, interval: 300_000, min_age: 120_000, max_spans: 10_000, page_mib: 4 } }),
  scorers: section(z.record(z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'scorer names are letters, digits and _ . : - only'), scorerSchema)).default({}),
  rules: section(z.array(ruleSchema)).default([]),
  admin: section(admin).default({ endpoint: '127.0.0.1:13133', max_query_rows: 10_000, backfill_max_spans: 10_000, max_filter_bytes: 1024 * 1024 }),
  auth: section(auth).default({ keys: [] }),
  memory_limiter: section(memoryLimiter).default({ check_interval: 500 }),
  service: section(service).default({ shutdown_timeout: 30_000, log_level: 'info' }),
});

export type RawConfig = z.output<typeof configSchema>;
