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

/** The validated config, in the shapes the components take. Built once by `loadConfig`. */
export interface SpanscoreConfig {
  /** Absolute path of the file it came from. */
  file: string;
  receivers: {
    grpc?: { endpoint: string; maxRecvMessageSizeBytes: number; tls?: ServerTlsFiles };
    http?: { endpoint: string; maxBodyBytes: number; tls?: ServerTlsFiles; readHeaderTimeoutMs: number; readTimeoutMs: number };
    /** Attribute values longer than this (characters) are truncated with a marker. */
    maxAttributeValueLength: number;
  };
  storage: {
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
  };
  scoring: {
    workers: number;
    taskTimeoutMs: number;
    queueSize: number;
    batchSize: number;
    conventions: FieldConventions;
    workerMemoryMib: number;
    recovery: { enabled: boolean; windowMs: number; intervalMs: number; minAgeMs: number; maxSpans: number };
  };
  scorers: Map<string, ScorerSpec>;
  /** Line and column of `scorers.<name>.<key>` in the file, for errors found after loading. */
  scorerLocations?: Record<string, { line?: number; column?: number }>;
  rules: RuleSpec[];
  admin: { endpoint: string; maxQueryRows: number; backfillMaxSpans: number; tls?: ServerTlsFiles };
  /** Bytes. soft = limit - spike; scoring sheds from scoringShedBytes. */
  memoryLimiter: { checkIntervalMs: number; limitBytes: number; softLimitBytes: number; scoringShedBytes: number };
  /** Empty: no keys, every receiver and the admin endpoint on loopback only. */
  auth: { keys: ApiKeySpec[] };
  service: { shutdownTimeoutMs: number; logLevel: string; instanceId: string };
}
