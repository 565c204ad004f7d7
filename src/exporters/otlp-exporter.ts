import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import { packageVersion } from '../admin/package-version.js';
import type { OtlpExporterSpec } from '../config/spanscore-config.js';
import type { ForwardingExporter, ForwardKind, ForwardPayload } from './forwarding-exporter.js';
import { OtlpGrpcSender } from './otlp-grpc-sender.js';
import { OtlpHttpSender } from './otlp-http-sender.js';
import { jsonToProtobuf, protobufToJson } from './otlp-transcoder.js';
import { permanent, type FailureReason, type OtlpSender, type SendOutcome } from './send-outcome.js';
import { SendingQueue, type QueueResult } from './sending-queue.js';

export interface OtlpExporterDeps {
  metrics: DaemonMetrics;
  logger: Logger;
  /** For the User-Agent (`spanscore/<version>`); default: package.json's. */
  version?: string;
  /** The backoff's randomness, for tests. */
  random?: () => number;
}

interface QueuedPayload {
  payload: ForwardPayload;
  /** The body in the downstream's encoding, made on first send and kept for retries. */
  wireBody?: Uint8Array;
}

/** Repeated failures are logged at most this often (with a count of those not logged). */
const FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * `exporters.otlp*`: the Collector's otlp / otlphttp exporter with exporterhelper's sending
 * queue and retry. Payloads are queued as received and transcoded only when sent, so one
 * received body is shared by every exporter that forwards it in its own encoding, without
 * copies. Logs report changes of state (downstream lost / back, shedding started / stopped),
 * not every request, so a down downstream does not flood the log.
 */
export class OtlpExporter implements ForwardingExporter {
  readonly name: string;
  readonly forwardsReceived: boolean;
  readonly forwardsScoring: boolean;
  private readonly sender: OtlpSender;
  private readonly queue: SendingQueue<QueuedPayload>;
  private readonly wireEncoding: 'protobuf' | 'json';
  private readonly metrics: DaemonMetrics;
  private readonly logger: Logger;
  private unreachableSince: number | undefined;
  private failedAttempts = 0;
  private shedding = false;
  private shedSpans = 0;
  private readonly lastFailureLog = new Map<FailureReason, { at: number; suppressed: number }>();
  private shutdownFailedSpans = 0;

  constructor(spec: OtlpExporterSpec, deps: OtlpExporterDeps) {
    this.name = spec.name;
    this.forwardsReceived = spec.forwardReceived;
    this.forwardsScoring = spec.forwardScoring;
    this.metrics = deps.metrics;
    this.logger = deps.logger.child({ exporter: spec.name });
    this.wireEncoding = spec.protocol === 'http/json' ? 'json' : 'protobuf';
    this.sender = createSender(spec, `spanscore/${deps.version ?? packageVersion() ?? 'unknown'}`);
    this.queue = new SendingQueue<QueuedPayload>({
      queue: spec.queue,
      retry: spec.retry,
      ...(deps.random && { random: deps.random }),
      send: (item, signal) => this.send(item, signal),
      onDone: (item, result) => this.done(item.payload, result),
      onAttempt: (_item, outcome) => this.trackReachability(outcome),
      onRetry: () => this.metrics.exporterRetries.inc({ exporter: this.name }),
      onSizeChange: (requests, bytes) => {
        this.metrics.exporterQueueRequests.set({ exporter: this.name }, requests);
        this.metrics.exporterQueueBytes.set({ exporter: this.name }, bytes);
      },
    });
    this.metrics.exporterQueueCapacity.set({ exporter: this.name }, this.queue.capacity);
    this.metrics.exporterQueueRequests.set({ exporter: this.name }, 0);
    this.metrics.exporterQueueBytes.set({ exporter: this.name }, 0);
    this.metrics.exporterRetries.inc({ exporter: this.name }, 0);
    // Series exist from the start, so a rate() over them is defined before the first span.
    for (const kind of this.kinds()) {
      this.metrics.exporterSentSpans.inc({ exporter: this.name, kind }, 0);
      this.metrics.exporterShedSpans.inc({ exporter: this.name, kind }, 0);
    }
  }

  /**
   * Optional, before traffic: reads the TLS files so that a missing or bad one fails the
   * daemon's start (TlsFileError) instead of every request. Without it they are read on
   * the first send, and a problem fails each request (reason `permanent`).
   */
  async start(): Promise<void> {
    await this.sender.ready();
  }

  hasRoom(bytes: number): boolean {
    return this.queue.hasRoom(bytes);
  }

  offer(payload: ForwardPayload): boolean {
    const labels = { exporter: this.name, kind: payload.kind };
    if (!this.queue.accepting) {
      this.metrics.exporterFailedSpans.inc({ ...labels, reason: 'shutdown' }, payload.spanCount);
      return false;
    }
    if (!this.queue.offer({ payload }, payload.body.byteLength)) {
      this.metrics.exporterShedSpans.inc(labels, payload.spanCount);
      this.shedSpans += payload.spanCount;
      if (!this.shedding) {
        this.shedding = true;
        this.logger.warn(
          { queuedRequests: this.queue.requests, queuedBytes: this.queue.bytes, capacity: this.queue.capacity },
          'sending queue full (downstream slow or down): shedding spans until there is room',
        );
      }
      return false;
    }
    if (this.shedding) {
      this.shedding = false;
      this.logger.info({ shedSpans: this.shedSpans }, 'sending queue has room again: shedding stopped');
      this.shedSpans = 0;
    }
    return true;
  }

  /** Sends what is queued for up to `deadlineMs`; the rest is counted failed (`shutdown`). Then closes the connections. */
  async shutdown(deadlineMs: number): Promise<void> {
    await this.queue.shutdown(deadlineMs);
    if (this.shutdownFailedSpans > 0) {
      this.logger.warn({ spans: this.shutdownFailedSpans, deadlineMs }, 'spans still queued at the shutdown deadline were dropped');
      this.shutdownFailedSpans = 0;
    }
    this.close();
  }

  /** Releases the keep-alive sockets or the gRPC channel (done by `shutdown` too). */
  close(): void {
    this.sender.close();
  }

  private kinds(): ForwardKind[] {
    const kinds: ForwardKind[] = [];
    if (this.forwardsReceived) kinds.push('received');
    if (this.forwardsScoring) kinds.push('scoring');
    return kinds;
  }

  private send(item: QueuedPayload, signal: AbortSignal): Promise<SendOutcome> {
    if (item.wireBody === undefined) {
      try {
        item.wireBody = toWireEncoding(item.payload, this.wireEncoding);
      } catch (error) {
        // The receivers accepted this body, so this is rare (a bug or a schema gap): no retry helps.
        return Promise.resolve(permanent(`cannot transcode the ${item.payload.encoding} body to ${this.wireEncoding}: ${(error as Error).message}`));
      }
    }
    return this.sender.send(item.wireBody, signal);
  }

  private done(payload: ForwardPayload, result: QueueResult): void {
    const labels = { exporter: this.name, kind: payload.kind };
    if (result.kind === 'sent') {
      const rejected = Math.min(result.rejectedSpans, payload.spanCount);
      this.metrics.exporterSentSpans.inc(labels, payload.spanCount - rejected);
      if (rejected > 0) this.metrics.exporterFailedSpans.inc({ ...labels, reason: 'rejected' }, rejected);
      // OTLP: a partial success with only a message is a warning from the downstream, worth a line too.
      if (rejected > 0 || result.rejectionMessage !== '') {
        this.logger.warn({ kind: payload.kind, spans: payload.spanCount, rejectedSpans: result.rejectedSpans, downstreamMessage: result.rejectionMessage }, 'downstream accepted the request partially');
      }
      return;
    }
    this.metrics.exporterFailedSpans.inc({ ...labels, reason: result.reason }, payload.spanCount);
    if (result.reason === 'shutdown') {
      this.shutdownFailedSpans += payload.spanCount;
      return;
    }
    this.logFailure(result.reason, { kind: payload.kind, spans: payload.spanCount, reason: result.reason, err: result.message });
  }

  /** One line per reason per interval: a permanent refusal repeats for every request until someone fixes it. */
  private logFailure(reason: FailureReason, fields: Record<string, unknown>): void {
    const now = Date.now();
    const last = this.lastFailureLog.get(reason);
    if (last !== undefined && now - last.at < FAILURE_LOG_INTERVAL_MS) {
      last.suppressed += 1;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.lastFailureLog.set(reason, { at: now, suppressed: 0 });
    const message = reason === 'permanent' ? 'downstream refused spans (not retryable): dropped' : 'spans dropped after retrying';
    this.logger.error({ ...fields, ...(suppressed > 0 && { similarFailuresNotLogged: suppressed }) }, message);
  }

  private trackReachability(outcome: SendOutcome): void {
    if (outcome.kind === 'retryable') {
      this.failedAttempts += 1;
      if (this.unreachableSince === undefined) {
        this.unreachableSince = Date.now();
        this.logger.warn({ err: outcome.message }, 'downstream unreachable or refusing retryably: retrying (logged again when it is back)');
      }
      return;
    }
    // Any answer that is not a retryable failure, a refusal included, means the downstream is there.
    if (this.unreachableSince !== undefined) {
      this.logger.info({ failedAttempts: this.failedAttempts, downMs: Date.now() - this.unreachableSince }, 'downstream reachable again');
      this.unreachableSince = undefined;
      this.failedAttempts = 0;
    }
  }
}

function createSender(spec: OtlpExporterSpec, userAgent: string): OtlpSender {
  const common = { headers: spec.headers, compression: spec.compression, timeoutMs: spec.timeoutMs, tls: spec.tls, userAgent, owner: spec.name };
  if (spec.protocol === 'grpc') {
    return new OtlpGrpcSender({
      ...common,
      endpoint: spec.endpoint,
      reconnectBackoff: { initialMs: Math.min(spec.retry.initialIntervalMs, 1000), maxMs: Math.min(Math.max(spec.retry.maxIntervalMs, 1), 30_000) },
    });
  }
  return new OtlpHttpSender({ ...common, url: spec.endpoint, encoding: spec.protocol === 'http/json' ? 'json' : 'protobuf' });
}

/** The payload's body when already in `encoding` (the very same bytes), else a transcoded copy. */
function toWireEncoding(payload: ForwardPayload, encoding: 'protobuf' | 'json'): Uint8Array {
  if (payload.encoding === encoding) return payload.body;
  return encoding === 'json' ? Buffer.from(protobufToJson(payload.body), 'utf8') : jsonToProtobuf(payload.body);
}
