import {
  Metadata,
  ResponderBuilder,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  status,
  type ServerInterceptor,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import type { ApiKeys, AuthFailure } from '../auth/api-keys.js';
import { encodeRetryInfoStatus } from '../exporters/export-response.js';
import { PROJECT_HEADER } from '../pipeline/project.js';
import type { TracesConsumer } from '../pipeline/traces-consumer.js';
import { loadServerTls, type ServerTlsFiles } from '../tls/tls-files.js';
import { receiverLimits, type AttributeLimitOptions } from './attribute-limits.js';
import { DecodeError } from './decode-error.js';
import { ExportHandler } from './export-handler.js';
import { withBoundPort } from './endpoint.js';
import { admitExport, authorizeSpanProjects } from './ingest-auth.js';
import { decodeProtobuf } from './otlp-decoder.js';
import { TRACE_EXPORT_PATH } from './trace-service.js';
import { encodeProtobuf, exportResponseObject, type ExportResponseObject } from './otlp-responses.js';
import { otlpSchema } from './otlp-schema.js';
import type { Receiver } from './receiver.js';
import type { MapOptions } from './span-mapper.js';

export interface GrpcReceiverOptions extends AttributeLimitOptions {
  /** `host:port`; port 0 binds a free port. Default `127.0.0.1:4317`. */
  endpoint?: string;
  /** Largest accepted request message, after decompression. Default 16 MiB. */
  maxRecvMessageSizeBytes?: number;
  /** Connections without a call for this long are closed. Default 60 s. */
  maxConnectionIdleMs?: number;
  consumer: TracesConsumer;
  metrics: DaemonMetrics;
  logger: Logger;
  /** The API keys in force, asked per call: a config reload swaps them. */
  auth: () => ApiKeys;
  /** This replica's `service.instance_id`, stamped on every span as `spanscore.instance`. */
  instanceId?: string;
  /** TLS with this certificate and key; with `clientCaFile`, clients must show a certificate it signed. */
  tls?: ServerTlsFiles;
}

export const DEFAULT_GRPC_ENDPOINT = '127.0.0.1:4317';
export const DEFAULT_GRPC_MAX_RECV_MESSAGE_SIZE_BYTES = 16 * 1024 * 1024;

/**
 * `TraceService/Export` with the request left as raw bytes: grpc-js turns an exception in
 * `requestDeserialize` into INTERNAL, but a body that does not decode is the client's fault
 * (INVALID_ARGUMENT), so decoding happens in the handler.
 */
const TRACE_SERVICE: ServiceDefinition = {
  Export: {
    path: TRACE_EXPORT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (request: Buffer) => request,
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (response: ExportResponseObject) => encodeProtobuf(otlpSchema().exportTraceServiceResponse, response),
    responseDeserialize: (bytes: Buffer) => otlpSchema().exportTraceServiceResponse.decode(bytes),
  },
};

/**
 * OTLP/gRPC receiver. Compression (gzip, deflate) and the message size limit are enforced
 * by grpc-js itself, before the handler runs (RESOURCE_EXHAUSTED over the limit, also when
 * the limit is only passed after decompression).
 */
const DEFAULT_GRPC_MAX_CONNECTION_IDLE_MS = 60_000;

export class GrpcReceiver implements Receiver {
  readonly name = 'otlp/grpc';
  private readonly endpoint: string;
  private readonly server: Server;
  private readonly exportHandler: ExportHandler;
  private readonly metrics: DaemonMetrics;
  private readonly logger: Logger;
  private readonly auth: () => ApiKeys;
  private readonly mapOptions: MapOptions;
  private readonly tls: ServerTlsFiles | undefined;

  constructor(options: GrpcReceiverOptions) {
    this.endpoint = options.endpoint ?? DEFAULT_GRPC_ENDPOINT;
    this.metrics = options.metrics;
    this.logger = options.logger.child({ receiver: this.name });
    this.auth = options.auth;
    this.mapOptions = { instanceId: options.instanceId, ...receiverLimits(options) };
    this.tls = options.tls;
    this.exportHandler = new ExportHandler({ transport: 'grpc', consumer: options.consumer, metrics: options.metrics, logger: this.logger });
    this.server = new Server({
      'grpc.max_receive_message_length': options.maxRecvMessageSizeBytes ?? DEFAULT_GRPC_MAX_RECV_MESSAGE_SIZE_BYTES,
      // A connection that holds no call for this long is closed: idle or slow-opening clients
      // (slowloris) cannot pile up sockets. Exporters reconnect transparently.
      'grpc.max_connection_idle_ms': options.maxConnectionIdleMs ?? DEFAULT_GRPC_MAX_CONNECTION_IDLE_MS,
      interceptors: [incompleteRequestIsInvalidArgument],
    });
    this.server.addService(TRACE_SERVICE, {
      Export: (call: ServerUnaryCall<Buffer, ExportResponseObject>, callback: sendUnaryData<ExportResponseObject>) => {
        void this.export(call, callback);
      },
    });
  }

  async start(): Promise<string> {
    const credentials = await this.credentials();
    return new Promise((resolve, reject) => {
      this.server.bindAsync(this.endpoint, credentials, (error, port) => {
        if (error) {
          reject(new Error(`${this.name}: cannot listen on ${this.endpoint}: ${error.message}`, { cause: error }));
          return;
        }
        const address = withBoundPort(this.endpoint, port);
        const tls = this.tls === undefined ? 'off' : this.tls.clientCaFile === undefined ? 'on' : 'mutual';
        this.logger.info({ address, tls }, 'OTLP/gRPC receiver listening');
        resolve(address);
      });
    });
  }

  /** With a client CA, a client without a certificate it signed fails the handshake (no call is made). */
  private async credentials(): Promise<ServerCredentials> {
    if (this.tls === undefined) return ServerCredentials.createInsecure();
    const { cert, key, clientCa } = await loadServerTls(this.tls, this.name);
    return ServerCredentials.createSsl(clientCa ?? null, [{ cert_chain: cert, private_key: key }], clientCa !== undefined);
  }

  /** Graceful (GOAWAY, in-flight calls complete) until the deadline, then forced. */
  shutdown(deadlineMs: number): Promise<void> {
    return new Promise((resolve) => {
      const deadline = setTimeout(() => {
        this.logger.warn({ deadlineMs }, 'in-flight gRPC calls did not finish in time; cancelling them');
        this.server.forceShutdown();
        resolve();
      }, deadlineMs);
      this.server.tryShutdown(() => {
        clearTimeout(deadline);
        resolve();
      });
    });
  }

  private async export(call: ServerUnaryCall<Buffer, ExportResponseObject>, callback: sendUnaryData<ExportResponseObject>) {
    try {
      // Before decoding: an unauthorized client costs no decoding.
      const keys = this.auth();
      const project = metadataString(call.metadata, PROJECT_HEADER);
      const admission = admitExport(keys, metadataString(call.metadata, 'authorization'), project);
      if (!admission.ok) {
        this.refuse(callback, admission);
        return;
      }
      const mapped = decodeProtobuf(call.request, { ...this.mapOptions, project });
      const projects = authorizeSpanProjects(keys, admission.key, mapped.rows);
      if (!projects.ok) {
        this.exportHandler.countRefused(mapped);
        this.refuse(callback, projects);
        return;
      }
      const outcome = await this.exportHandler.export(mapped, metadataHeaders(call.metadata), { bytes: call.request, encoding: 'protobuf' });
      if (!outcome.stored) {
        this.fail(callback, status.UNAVAILABLE, outcome.message, outcome.retryAfterSeconds);
        return;
      }
      this.countRequest(status.OK);
      callback(null, exportResponseObject(outcome.rejected, outcome.errorMessage));
    } catch (error) {
      if (error instanceof DecodeError) {
        this.fail(callback, status.INVALID_ARGUMENT, error.message);
        return;
      }
      this.logger.error({ err: error }, 'unexpected error while handling an OTLP/gRPC export');
      this.fail(callback, status.INTERNAL, 'internal error');
    }
  }

  /** UNAUTHENTICATED or PERMISSION_DENIED; the message never holds the key. */
  private refuse(callback: sendUnaryData<ExportResponseObject>, failure: AuthFailure): void {
    this.logger.debug({ code: failure.grpcCode, reason: failure.message }, 'OTLP/gRPC export refused');
    this.fail(callback, status[failure.grpcCode], failure.message);
  }

  /**
   * With `retryAfterSeconds` (UNAVAILABLE, RESOURCE_EXHAUSTED), the trailers carry a
   * google.rpc.RetryInfo in `grpc-status-details-bin`, as OTLP/gRPC asks of a server that
   * wants the client to wait: the gRPC twin of HTTP's Retry-After, same delay.
   */
  private fail(callback: sendUnaryData<ExportResponseObject>, code: status, details: string, retryAfterSeconds?: number): void {
    this.countRequest(code);
    if (retryAfterSeconds === undefined) {
      callback({ code, details });
      return;
    }
    const metadata = new Metadata();
    metadata.set('grpc-status-details-bin', encodeRetryInfoStatus(code, details, retryAfterSeconds * 1000));
    callback({ code, details, metadata });
  }

  private countRequest(code: status): void {
    this.metrics.requests.inc({ transport: 'grpc', status: status[code] });
  }
}

/**
 * grpc-js answers a call whose stream ends before one whole message (a frame's length
 * prefix promising more bytes than were sent) with UNIMPLEMENTED "Received no request
 * message for server streaming method", wrong on both counts for a unary export: it is
 * the client's malformed request, so INVALID_ARGUMENT, as for a body that does not decode.
 */
const incompleteRequestIsInvalidArgument: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(
    call,
    new ResponderBuilder()
      .withSendStatus((sent, next) => {
        if (sent.code === status.UNIMPLEMENTED && sent.details?.startsWith('Received no request message')) {
          next({
            ...sent,
            code: status.INVALID_ARGUMENT,
            details: 'the request stream ended before a whole request message arrived (truncated message, or a length prefix longer than the message)',
          });
        } else {
          next(sent);
        }
      })
      .build(),
  );

/**
 * gRPC metadata as the consumer's lower-cased header map (binary `-bin` entries left out),
 * without `authorization`: the key must not travel further than the check.
 */
function metadataHeaders(metadata: Metadata): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    const name = key.toLowerCase();
    if (typeof value === 'string' && name !== 'authorization') headers[name] = value;
  }
  return headers;
}

/** The first text value of a metadata key (grpc-js stores keys lower-cased). */
function metadataString(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}
