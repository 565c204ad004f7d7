import type { ApiKeySpec } from '../auth/api-key-spec.js';
import type { RuleSpec, ScorerSpec } from '../scoring/rule-spec.js';
import type { FieldConventions } from '../scoring/span-fields.js';

/** The validated config, in the shapes the components take. Built once by `loadConfig`. */
export interface SpanscoreConfig {
  /** Absolute path of the file it came from. */
  file: string;
  receivers: {
    grpc?: { endpoint: string; maxRecvMessageSizeBytes: number };
    http?: { endpoint: string; maxBodyBytes: number };
  };
  storage: {
    url?: string;
    embeddedPath?: string;
    database: string;
    username: string;
    password: string;
    ttlDays: number;
    requestTimeoutMs: number;
    insert: { maxBatchSpans: number; lingerMs: number; maxConcurrent: number };
  };
  scoring: {
    workers: number;
    taskTimeoutMs: number;
    queueSize: number;
    batchSize: number;
    conventions: FieldConventions;
  };
  scorers: Map<string, ScorerSpec>;
  /** Line and column of `scorers.<name>.<key>` in the file, for errors found after loading. */
  scorerLocations?: Record<string, { line?: number; column?: number }>;
  rules: RuleSpec[];
  admin: { endpoint: string; maxQueryRows: number; backfillMaxSpans: number };
  /** Empty: no keys, every receiver and the admin endpoint on loopback only. */
  auth: { keys: ApiKeySpec[] };
  service: { shutdownTimeoutMs: number; logLevel: string; instanceId: string };
}
