import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/config-loader.js';
import { checkScorers } from '../config/scorer-checks.js';
import type { OtlpExporterSpec, SpanscoreConfig } from '../config/spanscore-config.js';
import { reportConfigError } from './config-error-report.js';

export async function validateCommand(file: string): Promise<number> {
  try {
    const config = loadConfig(file);
    await checkScorers(config);
    process.stdout.write(`${describePipeline(file, config).join('\n')}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return reportConfigError(file, error);
  }
}

/**
 * What a valid config does, one line per stage: the first says it is valid (with the rule
 * and scorer counts), the others, indented, where spans come in, where they are kept, where
 * received spans and scores go, and where the daemon's own traces go.
 */
export function describePipeline(file: string, config: SpanscoreConfig): string[] {
  const enabled = config.rules.filter((r) => r.enabled);
  return [
    `${file}: valid. ${config.rules.length} rule(s) (${enabled.length} enabled), ${config.scorers.size} scorer(s).`,
    `  receivers: ${describeReceivers(config.receivers)}`,
    `  storage: ${config.storage ? describeStorage(config.storage) : 'none: forward-only (the admin API calls that read ClickHouse answer 501)'}`,
    `  received spans: ${describeReceived(config)}`,
    `  scoring: ${describeScoring(config)}`,
    `  self-telemetry: ${describeSelfTelemetry(config.service.telemetry)}`,
  ];
}

function describeReceivers(receivers: SpanscoreConfig['receivers']): string {
  const out: string[] = [];
  if (receivers.grpc) out.push(`OTLP/gRPC ${receivers.grpc.endpoint}${tlsNote(receivers.grpc.tls)}`);
  if (receivers.http) out.push(`OTLP/HTTP ${receivers.http.endpoint}${tlsNote(receivers.http.tls)}`);
  return out.join(', ');
}

function tlsNote(tls: { clientCaFile?: string } | undefined): string {
  if (tls === undefined) return '';
  return tls.clientCaFile === undefined ? ' (TLS)' : ' (mutual TLS)';
}

function describeStorage(storage: NonNullable<SpanscoreConfig['storage']>): string {
  if (storage.url === undefined) return `embedded ClickHouse at ${storage.embeddedPath}`;
  const host = new URL(storage.url).host;
  if (storage.cluster === undefined) return `ClickHouse at ${host}`;
  const engines = storage.cluster.replicated ? 'Replicated tables' : 'unreplicated shards';
  return `ClickHouse cluster ${storage.cluster.name} through ${host} (ON CLUSTER DDL, ${engines}, Distributed tables)`;
}

function describeReceived(config: SpanscoreConfig): string {
  const forwarders = config.exporters.filter((e) => e.forwardReceived);
  const targets = listing(forwarders.map(describeExporter));
  if (config.storage) {
    const buffer = config.storage.buffer;
    const stored =
      buffer === undefined
        ? 'stored in ClickHouse (acknowledged once stored)'
        : `stored in ClickHouse (acknowledged once stored, or while ClickHouse is away once written${buffer.fsync ? ' and fsynced' : ''} to the durable buffer ${buffer.path}, at most ${Math.round(buffer.maxSizeBytes / 1048576)} MiB, replayed when it is back)`;
    return forwarders.length === 0 ? stored : `${stored}, then forwarded to ${targets}; a full sending queue sheds`;
  }
  if (forwarders.length > 0) {
    const every = forwarders.length > 1 ? ' in every one' : '';
    return `forwarded to ${targets}; acknowledged once queued for forwarding${every}, refused with 503/UNAVAILABLE (retryable) while a queue is full`;
  }
  return config.rules.some((r) => r.enabled)
    ? 'scored, then dropped (neither stored nor forwarded)'
    : 'dropped (neither stored nor forwarded, and no enabled rule scores them)';
}

/** `a`, `a and b`, `a, b and c`. */
function listing(items: string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function describeScoring(config: SpanscoreConfig): string {
  const enabled = config.rules.filter((r) => r.enabled);
  if (enabled.length === 0) return 'no enabled rule: nothing is scored';
  const rules = `${enabled.length} enabled rule(s): ${enabled.map((r) => (r.scope === 'trace' ? `${r.name} (trace)` : r.name)).join(', ')}`;
  const forwarders = config.exporters.filter((e) => e.forwardScoring).map((e) => e.name);
  const parts = [rules];
  if (config.storage) {
    parts.push(`scores: scores table + scoring spans in ClickHouse${forwarders.length > 0 ? `; scoring spans forwarded to ${listing(forwarders)}` : ''}`);
    const recovery = config.scoring.recovery;
    parts.push(recovery.enabled ? `recovery: on (last ${formatDuration(recovery.windowMs)}, every ${formatDuration(recovery.intervalMs)})` : 'recovery: off');
  } else {
    parts.push(`scores: scoring spans forwarded to ${listing(forwarders)} (no scores table without storage)`);
    parts.push('recovery: off (it reads ClickHouse)');
  }
  return parts.join('; ');
}

function describeExporter(exporter: OtlpExporterSpec): string {
  const notes: string[] = [];
  if (exporter.protocol === 'grpc' && exporter.tls.insecure) notes.push('plaintext');
  if (!exporter.tls.insecure && exporter.tls.insecureSkipVerify) notes.push('certificate not verified');
  if (!exporter.queue.enabled) notes.push('no sending queue');
  return `${exporter.name} (${exporter.protocol} ${exporter.endpoint}${notes.map((note) => `, ${note}`).join('')})`;
}

function describeSelfTelemetry(telemetry: SpanscoreConfig['service']['telemetry']): string {
  if (telemetry === undefined) return 'off';
  const percent = Number((telemetry.samplingRatio * 100).toFixed(4));
  return `traces via ${telemetry.protocol} to ${telemetry.endpoint}, ${percent}% of root operations sampled`;
}

function formatDuration(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
