import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { resolve } from 'node:path';
import { LineCounter, isNode, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { builtinScorers } from '../scoring/builtins/index.js';
import { resolveRule } from './rule-config.js';
import { resolveScorers } from './scorer-config.js';
import { resolveKeys } from './auth-config.js';
import type { RuleSpec, ScorerSpec } from '../scoring/rule-spec.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../scoring/span-fields.js';
import { ConfigError, formatPath, type ConfigIssue } from './config-error.js';
import { ADMIN_QUERY_DEFAULTS, configSchema, REPLICATION_DEFAULTS, type RawConfig } from './config-schema.js';
import { substituteEnv } from './env-substitution.js';
import type { ServerTlsFiles, SpanscoreConfig, StorageSpec } from './spanscore-config.js';
import { checkPipeline, resolveExporters, resolveSelfTelemetry } from './exporter-config.js';

const MIB = 1024 * 1024;

/**
 * Reads, substitutes, validates and resolves a config file. Every problem is collected and
 * thrown together as one ConfigError, each naming its key path and line, so that a user
 * fixes a file in one pass. Relative paths are resolved against the working directory,
 * as the Collector does.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): SpanscoreConfig {
  const absolute = resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(error as Error).message}` }]);
  }
  return parseConfigText(text, file, env);
}

export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): SpanscoreConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: '', line: pos.line, column: pos.col, message: `YAML syntax: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const locate = (path: readonly PropertyKey[]): Pick<ConfigIssue, 'line' | 'column'> => locateNode(doc, lineCounter, path);

  const envProblems = substituteEnv(doc, env);
  const issues: ConfigIssue[] = envProblems.map((p) => ({ path: formatPath(p.path), ...locate(p.path), message: p.message }));

  const parsed = configSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    issues.push(...parsed.error.issues.flatMap((issue) => zodIssueToConfigIssues(issue, locate)));
    throw new ConfigError(file, issues);
  }
  const resolved = resolveConfig(parsed.data, file, locate, issues);
  if (issues.length > 0) throw new ConfigError(file, issues);
  return resolved;
}

function zodIssueToConfigIssues(
  issue: z.core.$ZodIssue,
  locate: (path: readonly PropertyKey[]) => Pick<ConfigIssue, 'line' | 'column'>,
): ConfigIssue[] {
  // zod reports a record key that fails its pattern as `invalid_key`, with the pattern's message inside.
  if (issue.code === 'invalid_key') {
    return issue.issues.map((inner) => ({ path: formatPath(issue.path), ...locate(issue.path), message: `key ${JSON.stringify(String(issue.path[issue.path.length - 1] ?? ''))}: ${inner.message}` }));
  }
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const path = [...issue.path, key];
      return { path: formatPath(path), ...locate(path), message: 'unknown key (check its spelling and indentation)' };
    });
  }
  const message =
    issue.code === 'invalid_type' && issue.input === undefined ? `required: ${issue.message.replace(/, received undefined$/, '')}` : issue.message;
  return [{ path: formatPath(issue.path), ...locate(issue.path), message }];
}

function resolveConfig(
  raw: RawConfig,
  file: string,
  locate: (path: readonly PropertyKey[]) => Pick<ConfigIssue, 'line' | 'column'>,
  issues: ConfigIssue[],
): SpanscoreConfig {
  const problem = (path: PropertyKey[], message: string) => issues.push({ path: formatPath(path), ...locate(path), message });

  const scorers = resolveScorers(raw, problem);
  // A rule may name a built-in directly without declaring it.
  const scorerFor = (name: string): ScorerSpec | undefined => {
    const declared = scorers.get(name);
    if (declared) return declared;
    if (name in builtinScorers && !(name in raw.scorers)) {
      const spec: ScorerSpec = { name, timeoutMs: raw.scoring.task_timeout, kind: 'builtin', builtin: name, options: {} };
      scorers.set(name, spec);
      return spec;
    }
    return undefined;
  };

  const rules: RuleSpec[] = [];
  const seen = new Map<string, number>();
  raw.rules.forEach((rule, index) => {
    const at = (...rest: PropertyKey[]) => ['rules', index, ...rest];
    const earlier = seen.get(rule.name);
    if (earlier !== undefined) problem(at('name'), `duplicate rule name "${rule.name}" (also rules[${earlier}])`);
    seen.set(rule.name, index);
    rules.push(resolveRule(rule, (name) => scorerFor(name) !== undefined || raw.scorers[name] !== undefined, (path, message) => problem(at(...path), message)));
  });

  const clickhouse = raw.storage?.clickhouse;
  const protocols = raw.receivers.otlp.protocols;
  if (!protocols.grpc && !protocols.http) problem(['receivers', 'otlp', 'protocols'], 'enable at least one of `grpc` or `http`');
  const fields = raw.scoring.fields ?? {};
  const telemetry = resolveSelfTelemetry(raw, problem);
  const config: SpanscoreConfig = {
    file: resolve(file),
    receivers: {
      grpc: protocols.grpc && {
        endpoint: protocols.grpc.endpoint,
        maxRecvMessageSizeBytes: Math.round(protocols.grpc.max_recv_msg_size_mib * MIB),
        ...(protocols.grpc.tls && { tls: serverTls(protocols.grpc.tls) }),
      },
      http: protocols.http && {
        endpoint: protocols.http.endpoint,
        maxBodyBytes: protocols.http.max_request_body_size,
        readHeaderTimeoutMs: protocols.http.read_header_timeout,
        readTimeoutMs: protocols.http.read_timeout,
        ...(protocols.http.tls && { tls: serverTls(protocols.http.tls) }),
      },
      maxAttributeValueLength: raw.receivers.otlp.max_attribute_value_length,
      maxAttributesPerSpan: raw.receivers.otlp.max_attributes_per_span,
      maxSpanAttributesBytes: raw.receivers.otlp.max_span_attributes_bytes,
    },
    ...(clickhouse && { storage: resolveStorage(clickhouse) }),
    exporters: resolveExporters(raw, problem),
    scoring: {
      workers: raw.scoring.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1)),
      taskTimeoutMs: raw.scoring.task_timeout,
      queueSize: raw.scoring.queue_size,
      batchSize: raw.scoring.batch_size,
      conventions: {
        input: fields.input ?? DEFAULT_FIELD_CONVENTIONS.input,
        output: fields.output ?? DEFAULT_FIELD_CONVENTIONS.output,
        expected: fields.expected ?? DEFAULT_FIELD_CONVENTIONS.expected,
        metadataPrefix: fields.metadata_prefix ?? DEFAULT_FIELD_CONVENTIONS.metadataPrefix,
        metadataAttribute: fields.metadata_attribute ?? DEFAULT_FIELD_CONVENTIONS.metadataAttribute,
      },
      workerMemoryMib: raw.scoring.worker_memory_mib,
      recovery: {
        enabled: raw.scoring.recovery.enabled,
        windowMs: raw.scoring.recovery.window,
        intervalMs: raw.scoring.recovery.interval,
        minAgeMs: raw.scoring.recovery.min_age,
        maxSpans: raw.scoring.recovery.max_spans,
        pageBytes: Math.round(raw.scoring.recovery.page_mib * MIB),
      },
    },
    scorers,
    scorerLocations: Object.fromEntries(
      [...scorers.keys()].flatMap((name) => ['module', 'export', 'autoevals'].map((key) => [`${name}.${key}`, locate(['scorers', name, key])])),
    ),
    rules,
    admin: {
      endpoint: raw.admin.endpoint,
      maxQueryRows: raw.admin.max_query_rows,
      backfillMaxSpans: raw.admin.backfill_max_spans,
      maxFilterBytes: raw.admin.max_filter_bytes,
      ...(raw.admin.tls && { tls: serverTls(raw.admin.tls) }),
      query: {
        ...(raw.admin.query?.username !== undefined && { username: raw.admin.query.username, password: raw.admin.query.password }),
        maxExecutionMs: raw.admin.query?.max_execution_time ?? ADMIN_QUERY_DEFAULTS.maxExecutionMs,
        maxResultRows: raw.admin.query?.max_result_rows ?? raw.admin.max_query_rows,
        maxResultBytes: raw.admin.query?.max_result_bytes ?? ADMIN_QUERY_DEFAULTS.maxResultBytes,
      },
    },
    memoryLimiter: memoryLimits(raw, problem),
    auth: { keys: resolveKeys(raw, problem) },
    service: {
      shutdownTimeoutMs: raw.service.shutdown_timeout,
      logLevel: raw.service.log_level,
      instanceId: raw.service.instance_id ?? hostname(),
      ...(telemetry && { telemetry }),
    },
  };
  checkPipeline(config, problem);
  return config;
}

function resolveStorage(clickhouse: NonNullable<NonNullable<RawConfig['storage']>['clickhouse']>): StorageSpec {
  return {
    url: clickhouse.url,
    embeddedPath: clickhouse.embedded ? resolve(clickhouse.embedded.path) : undefined,
    database: clickhouse.database,
    username: clickhouse.username,
    password: clickhouse.password,
    ttlDays: clickhouse.ttl_days,
    requestTimeoutMs: clickhouse.request_timeout,
    ...(clickhouse.cluster !== undefined && {
      cluster: {
        name: clickhouse.cluster,
        replicated: (clickhouse.replication ?? REPLICATION_DEFAULTS).enabled,
        zookeeperPath: (clickhouse.replication ?? REPLICATION_DEFAULTS).zookeeper_path,
        replicaName: (clickhouse.replication ?? REPLICATION_DEFAULTS).replica_name,
      },
    }),
    createSchema: clickhouse.create_schema,
    ...(clickhouse.tls && {
      tls: {
        ...(clickhouse.tls.ca_file && { caFile: resolve(clickhouse.tls.ca_file) }),
        ...(clickhouse.tls.cert_file && { certFile: resolve(clickhouse.tls.cert_file) }),
        ...(clickhouse.tls.key_file && { keyFile: resolve(clickhouse.tls.key_file) }),
      },
    }),
    insert: {
      maxBatchSpans: clickhouse.insert.max_batch_spans,
      lingerMs: clickhouse.insert.linger,
      maxConcurrent: clickhouse.insert.max_concurrent,
    },
    ...(clickhouse.buffer && {
      buffer: {
        path: resolve(clickhouse.buffer.path),
        maxSizeBytes: Math.round(clickhouse.buffer.max_size_mib * 1024 * 1024),
        fsync: clickhouse.buffer.fsync,
        spillAfterMs: clickhouse.buffer.spill_after,
      },
    }),
  };
}

/** The line of the deepest node of `path` that exists in the file (a missing key points at its parent). */
function locateNode(doc: Document, lineCounter: LineCounter, path: readonly PropertyKey[]): Pick<ConfigIssue, 'line' | 'column'> {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) {
      // For a key that exists, point at the key itself rather than its value.
      const pair = depth > 0 ? findPairKey(doc, path.slice(0, depth)) : undefined;
      const offset = pair ?? node.range[0];
      const pos = lineCounter.linePos(offset);
      return { line: pos.line, column: pos.col };
    }
    if (depth > 0 && depth === path.length) {
      const keyOffset = findPairKey(doc, path);
      if (keyOffset !== undefined) {
        const pos = lineCounter.linePos(keyOffset);
        return { line: pos.line, column: pos.col };
      }
    }
  }
  return {};
}

function findPairKey(doc: Document, path: readonly PropertyKey[]): number | undefined {
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1) as unknown[], true);
  const last = path[path.length - 1];
  const items = (parent as { items?: Array<{ key?: { value?: unknown; range?: number[] } }> } | null)?.items;
  if (!items || typeof last === 'number') return undefined;
  const pair = items.find((p) => p.key && String(p.key.value) === String(last));
  return pair?.key?.range?.[0];
}

function serverTls(tls: { cert_file: string; key_file: string; client_ca_file?: string | undefined }): ServerTlsFiles {
  return { certFile: resolve(tls.cert_file), keyFile: resolve(tls.key_file), ...(tls.client_ca_file && { clientCaFile: resolve(tls.client_ca_file) }) };
}

/** The embedded ClickHouse lives in the daemon's process: its caches and merges count in RSS. */
const DEFAULT_LIMIT_MIB = { server: 512, embedded: 2048 };

function memoryLimits(raw: RawConfig, problem: (path: PropertyKey[], message: string) => void): SpanscoreConfig['memoryLimiter'] {
  const limiter = raw.memory_limiter;
  const limitMib = limiter.limit_mib ?? (raw.storage?.clickhouse?.embedded ? DEFAULT_LIMIT_MIB.embedded : DEFAULT_LIMIT_MIB.server);
  const spikeMib = limiter.spike_limit_mib ?? Math.round(limitMib / 4);
  if (spikeMib >= limitMib) problem(['memory_limiter', 'spike_limit_mib'], `must be below limit_mib (${limitMib})`);
  const limitBytes = limitMib * MIB;
  const softLimitBytes = Math.max(1, limitMib - spikeMib) * MIB;
  const scoringLimitBytes = Math.round((limiter.scoring_limit_mib ?? Math.max(1, spikeMib)) * MIB);
  return { checkIntervalMs: limiter.check_interval, limitBytes, softLimitBytes, scoringLimitBytes };
}
