import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { RawConfig, RawOtlpExporter } from './config-schema.js';
import type { ClientTlsSpec, OtlpExporterSpec, OtlpProtocol, SelfTelemetrySpec, SpanscoreConfig } from './spanscore-config.js';

type Problem = (path: PropertyKey[], message: string) => void;
type RawClientTls = NonNullable<RawOtlpExporter['tls']>;

/** `exporters.otlp*` in the shape the exporters take; endpoint problems are reported, not thrown. */
export function resolveExporters(raw: RawConfig, problem: Problem): OtlpExporterSpec[] {
  return Object.entries(raw.exporters).map(([name, exporter]) => {
    const at = (...rest: PropertyKey[]) => problem(['exporters', name, ...rest.slice(0, -1)], String(rest[rest.length - 1]));
    if (exporter.traces_endpoint !== undefined && exporter.protocol === 'grpc') at('traces_endpoint', '`traces_endpoint` is for the HTTP protocols; gRPC takes `endpoint` only');
    const target = resolveTarget(exporter.protocol, exporter.endpoint ?? '', exporter.tls, (message) => at('endpoint', message), exporter.traces_endpoint ?? '/v1/traces');
    return {
      name,
      protocol: exporter.protocol,
      endpoint: target.endpoint,
      forwardReceived: exporter.forward !== 'scoring',
      forwardScoring: exporter.forward !== 'received',
      headers: exporter.headers,
      compression: exporter.compression,
      timeoutMs: exporter.timeout,
      tls: target.tls,
      retry: {
        enabled: exporter.retry_on_failure.enabled,
        initialIntervalMs: exporter.retry_on_failure.initial_interval,
        maxIntervalMs: exporter.retry_on_failure.max_interval,
        maxElapsedMs: exporter.retry_on_failure.max_elapsed_time,
        multiplier: exporter.retry_on_failure.multiplier,
        randomizationFactor: exporter.retry_on_failure.randomization_factor,
      },
      queue: {
        enabled: exporter.sending_queue.enabled,
        numConsumers: exporter.sending_queue.num_consumers,
        maxRequests: exporter.sending_queue.queue_size,
        maxBytes: Math.round(exporter.sending_queue.queue_size_mib * 1024 * 1024),
      },
    };
  });
}

/** `service.telemetry.traces`, or undefined (off). */
export function resolveSelfTelemetry(raw: RawConfig, problem: Problem): SelfTelemetrySpec | undefined {
  const traces = raw.service.telemetry?.traces;
  if (traces === undefined) return undefined;
  const path = ['service', 'telemetry', 'traces', 'endpoint'];
  const target = resolveTarget(traces.protocol, traces.endpoint, traces.tls, (message) => problem(path, message), '');
  return { protocol: traces.protocol, endpoint: target.endpoint, headers: traces.headers, tls: target.tls, samplingRatio: traces.sampling_ratio };
}

/**
 * gRPC endpoints are `host:port` (TLS unless `tls.insecure`) or `http(s)://host:port` (the scheme
 * decides), as in the Collector. HTTP endpoints are URLs; `path` is appended unless it is a URL
 * of its own (`traces_endpoint`).
 */
function resolveTarget(
  protocol: OtlpProtocol,
  endpoint: string,
  rawTls: RawClientTls | undefined,
  problem: (message: string) => void,
  path: string,
): { endpoint: string; tls: ClientTlsSpec } {
  const tls = clientTls(rawTls);
  if (protocol === 'grpc') {
    const scheme = /^(https?):\/\//.exec(endpoint)?.[1];
    const hostPort = scheme === undefined ? endpoint : endpoint.slice(scheme.length + 3).replace(/\/+$/, '');
    if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):\d{1,5}$/.test(hostPort)) {
      problem(`must be host:port (or http(s)://host:port) for gRPC, got ${JSON.stringify(endpoint)}`);
    }
    if (scheme === 'http') tls.insecure = true;
    if (scheme === 'https' && rawTls?.insecure === true) problem('an https:// endpoint with `tls.insecure: true` contradicts itself');
    return { endpoint: hostPort, tls };
  }
  let url: URL;
  try {
    url = new URL(path.startsWith('http') ? path : endpoint);
  } catch {
    problem(`must be an http:// or https:// URL for ${protocol}, got ${JSON.stringify(endpoint)}`);
    return { endpoint, tls };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') problem(`must be an http:// or https:// URL for ${protocol}, got ${JSON.stringify(endpoint)}`);
  if (!path.startsWith('http') && path !== '') url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  if (url.protocol === 'http:') tls.insecure = true;
  return { endpoint: url.toString(), tls };
}

function clientTls(raw: RawClientTls | undefined): ClientTlsSpec {
  return {
    insecure: raw?.insecure ?? false,
    insecureSkipVerify: raw?.insecure_skip_verify ?? false,
    ...(raw?.ca_file && { caFile: resolve(raw.ca_file) }),
    ...(raw?.cert_file && { certFile: resolve(raw.cert_file) }),
    ...(raw?.key_file && { keyFile: resolve(raw.key_file) }),
    ...(raw?.server_name_override && { serverNameOverride: raw.server_name_override }),
  };
}

/**
 * What only the whole config can tell: a pipeline that would drop what it received or scored,
 * rules that need storage, and exporters that would send into this daemon's own receivers.
 */
export function checkPipeline(config: Pick<SpanscoreConfig, 'storage' | 'exporters' | 'rules' | 'receivers' | 'service'>, problem: Problem): void {
  const { storage, exporters, rules } = config;
  if (storage === undefined) {
    if (exporters.length === 0) {
      problem(['storage'], 'no `storage.clickhouse` and no `exporters`: spans would be acknowledged and dropped. Configure ClickHouse, an OTLP exporter, or both');
    }
    const enabled = rules.filter((rule) => rule.enabled);
    if (enabled.length > 0 && exporters.length > 0 && !exporters.some((e) => e.forwardScoring)) {
      problem(
        ['exporters'],
        `without \`storage.clickhouse\` scores exist only as scoring spans, and no exporter forwards them (rules ${enabled.map((r) => r.name).join(', ')} would score into nothing): set \`forward: scoring\` or \`both\` on an exporter, or configure ClickHouse`,
      );
    }
    if (exporters.length > 0 && !exporters.some((e) => e.forwardReceived) && !rules.some((rule) => rule.enabled)) {
      problem(['exporters'], 'no `storage.clickhouse`, no enabled rule, and no exporter forwards received spans (`forward: received` or `both`): every span would be acknowledged and dropped');
    }
    rules.forEach((rule, index) => {
      if (rule.scope === 'trace') problem(['rules', index, 'scope'], 'trace rules read the whole trace back from ClickHouse: they need `storage.clickhouse`');
    });
  }
  const ownPorts = receiverAddresses(config.receivers);
  for (const exporter of exporters) {
    const loop = loopsBack(exporter.endpoint, ownPorts);
    if (loop) {
      const consequence = exporter.forwardReceived ? 'every forwarded span would come back as a new request and be forwarded again, without end' : 'every scoring span would come back as a received span';
      problem(['exporters', exporter.name, 'endpoint'], `${loop}: ${consequence}`);
    }
  }
  const telemetry = config.service.telemetry;
  if (telemetry) {
    const loop = loopsBack(telemetry.endpoint, ownPorts);
    if (loop) problem(['service', 'telemetry', 'traces', 'endpoint'], `${loop}: spanscore would trace the handling of its own traces, without end`);
  }
}

interface OwnAddress {
  receiver: string;
  host: string;
  port: number;
}

function receiverAddresses(receivers: SpanscoreConfig['receivers']): OwnAddress[] {
  const out: OwnAddress[] = [];
  for (const [receiver, spec] of [['otlp/grpc', receivers.grpc], ['otlp/http', receivers.http]] as const) {
    if (spec === undefined) continue;
    const { host, port } = splitHostPort(spec.endpoint);
    // Port 0 is picked by the OS at start: it cannot be named in advance, so cannot loop.
    if (port !== 0) out.push({ receiver, host, port });
  }
  return out;
}

/** The receiver an endpoint (host:port or URL) reaches, as a sentence; undefined when none. */
function loopsBack(endpoint: string, own: OwnAddress[]): string | undefined {
  let target: { host: string; port: number };
  if (/^https?:\/\//.test(endpoint)) {
    const url = new URL(endpoint);
    target = { host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
  } else {
    target = splitHostPort(endpoint);
  }
  const host = target.host.replace(/^\[|\]$/g, '').toLowerCase();
  for (const address of own) {
    if (address.port !== target.port) continue;
    const ownHost = address.host.replace(/^\[|\]$/g, '').toLowerCase();
    if (host === ownHost || isThisMachine(host) || (isUnspecified(ownHost) && host === hostname().toLowerCase())) {
      return `${endpoint} is this spanscore's own ${address.receiver} receiver (${address.host}:${address.port})`;
    }
  }
  return undefined;
}

function isThisMachine(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '::1' || isUnspecified(host) || host === hostname().toLowerCase();
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function splitHostPort(endpoint: string): { host: string; port: number } {
  const at = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, at), port: Number(endpoint.slice(at + 1)) };
}
