import type { ApiKeySpec } from '../auth/api-key-spec.js';
import type { RuleSpec, ScorerSpec } from '../scoring/rule-spec.js';
import type { FieldConventions } from '../scoring/span-fields.js';

/** Paths (absolute) of a server's TLS material. */
export interface ServerTlsFiles {
  certFile: string;
  keyFile: string;
  /** Require client certificates signed by this CA. */
  clientCaFile?: string;
}

/** ClickHouse: a server (`url`) or the embedded engine (`embeddedPath`). */
export interface StorageSpec {
  url?: string;
  embeddedPath?: string;
  database: string;
  username: string;
  password: string;
  ttlDays: number;
  requestTimeoutMs: number;
  cluster?: { name: string; replicated: boolean; zookeeperPath: string; replicaName: string };
  createSchema: boolean;
  /** TLS to the server (absolute paths). */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  insert: { maxBatchSpans: number; lingerMs: number; maxConcurrent: number };
  /** The durable local buffer used while ClickHouse is away (absolute path). */
  buffer?: { path: string; maxSizeBytes: number; fsync: boolean; spillAfterMs: number };
}

export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';

/** Client TLS towards an OTLP endpoint (absolute paths). */
export interface ClientTlsSpec {
  /** Plaintext: gRPC `insecure: true` or an `http://` endpoint. */
  insecure: boolean;
  insecureSkipVerify: boolean;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  serverNameOverride?: string;
}

/** One resolved `exporters.otlp*` entry. */
export interface OtlpExporterSpec {
  /** `otlp` or `otlp/<name>`: the `exporter` label of its metrics. */
  name: string;
  protocol: OtlpProtocol;
  /**
   * gRPC: `host:port` (plaintext when `tls.insecure`). HTTP: the full URL the requests are
   * POSTed to (`traces_endpoint`, or `endpoint` + `/v1/traces`).
   */
  endpoint: string;
  forwardReceived: boolean;
  forwardScoring: boolean;
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  timeoutMs: number;
  tls: ClientTlsSpec;
  retry: { enabled: boolean; initialIntervalMs: number; maxIntervalMs: number; maxElapsedMs: number; multiplier: number; randomizationFactor: number };
  queue: { enabled: boolean; numConsumers: number; maxRequests: number; maxBytes: number };
}

/** `service.telemetry.traces`: where the daemon's own spans go. */
export interface SelfTelemetrySpec {
  protocol: OtlpProtocol;
  /** As OtlpExporterSpec.endpoint (HTTP: the full URL, used as is). */
  endpoint: string;
  headers: Record<string, string>;
  tls: ClientTlsSpec;
  samplingRatio: number;
}

/** `admin.query`: SQL typed by a user (the admin API's `POST /query`, `spanscore query`). */
export interface AdminQuerySpec {
  /** Server mode: ClickHouse credentials of their own for these queries. */
  username?: string;
  password?: string;
  maxExecutionMs: number;
  /** `admin.query.max_result_rows`, else `admin.max_query_rows`. */
  maxResultRows: number;
  maxResultBytes: number;
}

/** The validated config, in the shapes the components take. Built once by `loadConfig`. */
export interface SpanscoreConfig {
  /** Absolute path of the file it came from. */
  file: string;
  receivers: {
    grpc?: { endpoint: string; maxRecvMessageSizeBytes: number; tls?: ServerTlsFiles };
    http?: { endpoint: string; maxBodyBytes: number; tls?: ServerTlsFiles; readHeaderTimeoutMs: number; readTimeoutMs: number };
    /** Attribute values longer than this (characters) are truncated with a marker. */
    maxAttributeValueLength: number;
    /** Attributes kept per list (span, event, link, resource), and their UTF-8 bytes: the rest are dropped. */
    maxAttributesPerSpan: number;
    maxSpanAttributesBytes: number;
  };
  /** Absent: forward-only (no ClickHouse); `exporters` then carry the spans and the scores. */
  storage?: StorageSpec;
  /** `exporters.otlp*`, in file order. */
  exporters: OtlpExporterSpec[];
  scoring: {
    workers: number;
    taskTimeoutMs: number;
    queueSize: number;
    batchSize: number;
    conventions: FieldConventions;
    workerMemoryMib: number;
    recovery: { enabled: boolean; windowMs: number; intervalMs: number; minAgeMs: number; maxSpans: number; pageBytes: number };
  };
  scorers: Map<string, ScorerSpec>;
  /** Line and column of `scorers.<name>.<key>` in the file, for errors found after loading. */
  scorerLocations?: Record<string, { line?: number; column?: number }>;
  rules: RuleSpec[];
  admin: { endpoint: string; maxQueryRows: number; backfillMaxSpans: number; maxFilterBytes: number; tls?: ServerTlsFiles; query: AdminQuerySpec };
  /** Bytes. soft = limit - spike; scoring's queues hold at most scoringLimitBytes of estimated span memory. */
  memoryLimiter: { checkIntervalMs: number; limitBytes: number; softLimitBytes: number; scoringLimitBytes: number };
  /** Empty: no keys, every receiver and the admin endpoint on loopback only. */
  auth: { keys: ApiKeySpec[] };
  service: { shutdownTimeoutMs: number; logLevel: string; instanceId: string; telemetry?: SelfTelemetrySpec };
}
