import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DaemonMetrics } from '../admin/daemon-metrics.js';
import type { Logger } from '../admin/logger.js';
import type { ApiKeys, AuthFailure } from '../auth/api-keys.js';
import { PROJECT_HEADER } from '../pipeline/project.js';
import type { TracesConsumer } from '../pipeline/traces-consumer.js';
import { createHttpOrHttpsServer, type HttpOrHttpsServer } from '../tls/http-server.js';
import { loadServerTls, type ServerTlsFiles } from '../tls/tls-files.js';
import { receiverLimits, type AttributeLimitOptions } from './attribute-limits.js';
import { DecodeError } from './decode-error.js';
import { formatEndpoint, parseEndpoint } from './endpoint.js';
import { ExportHandler } from './export-handler.js';
import { admitExport, authorizeSpanProjects } from './ingest-auth.js';
import {
  BodyEncodingError,
  BodyTooLargeError,
  parseContentEncoding,
  readRequestBody,
  SUPPORTED_CONTENT_CODINGS,
} from './http-body.js';
import { decodeJson, decodeProtobuf } from './otlp-decoder.js';
import { CONTENT_TYPE, parseOtlpContentType, writeErrorStatus, writeExportResponse } from './otlp-http-response.js';
import type { OtlpBodyFormat } from './otlp-responses.js';
import type { Receiver } from './receiver.js';
import type { MappedSpans, MapOptions } from './span-mapper.js';

export interface HttpReceiverOptions extends AttributeLimitOptions {
  /** `host:port`; port 0 binds a free port. Default `127.0.0.1:4318`. */
  endpoint?: string;
  /** Largest accepted body, measured after decompression. Default 20 MiB. */
  maxBodyBytes?: number;
  consumer: TracesConsumer;
  metrics: DaemonMetrics;
  logger: Logger;
  /** The API keys in force, asked per request: a config reload swaps them. */
  auth: () => ApiKeys;
  /** This replica's `service.instance_id`, stamped on every span as `spanscore.instance`. */
  instanceId?: string;
  /** HTTPS with this certificate and key; with `clientCaFile`, clients must show a certificate it signed. */
  tls?: ServerTlsFiles;
  /** A client that has not sent all its headers this long after connecting is answered 408 and cut. Default 10 s. */
  readHeaderTimeoutMs?: number;
  /** A client that has not sent its whole request (body included) in this time is answered 408 and cut. Default 30 s. */
  readTimeoutMs?: number;
}

export const DEFAULT_HTTP_ENDPOINT = '127.0.0.1:4318';
export const DEFAULT_HTTP_MAX_BODY_BYTES = 20 * 1024 * 1024;
export const DEFAULT_READ_HEADER_TIMEOUT_MS = 10_000;
export const DEFAULT_READ_TIMEOUT_MS = 30_000;

const TRACES_PATH = '/v1/traces';
/**
 * Where other products' OTLP senders post, so that moving to spanscore is a change of host:
 * Braintrust's OTel processor (`/otel/v1/traces`) and Langfuse's endpoint
 * (`/api/public/otel/v1/traces`). Same request, same answers.
 */
const TRACES_PATH_ALIASES = new Set([TRACES_PATH, '/otel/v1/traces', '/api/public/otel/v1/traces']);
const SHUTTING_DOWN_RETRY_AFTER_SECONDS = '5';

/**
 * OTLP/HTTP receiver: `POST /v1/traces` (and the aliases above) with protobuf or JSON bodies, optionally gzip or
 * deflate compressed. Every answer is an OTLP body in the request's encoding (JSON when
 * the request's encoding is unknown).
 *
 * Slow clients are cut by Node itself (`headersTimeout` / `requestTimeout`: a 408 and the
 * socket closed); they only hold their own socket, so other clients are served meanwhile.
 * Time spent storing a completely received request does not count.
 */
export class HttpReceiver implements Receiver {
  readonly name = 'otlp/http';
  private readonly endpoint: string;
  private readonly maxBodyBytes: number;
  private readonly options: HttpReceiverOptions;
  /** Created by `start`, which reads the TLS files. */
  private server?: HttpOrHttpsServer;
  private readonly exportHandler: ExportHandler;
  private readonly metrics: DaemonMetrics;
  private readonly logger: Logger;
  private readonly auth: () => ApiKeys;
  private readonly mapOptions: MapOptions;
  private closing = false;
  /** Responses not yet closed, to mark them `Connection: close` when shutdown begins. */
  private readonly inFlight = new Set<ServerResponse>();

  constructor(options: HttpReceiverOptions) {
    this.endpoint = options.endpoint ?? DEFAULT_HTTP_ENDPOINT;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_HTTP_MAX_BODY_BYTES;
    this.metrics = options.metrics;
    this.logger = options.logger.child({ receiver: this.name });
    this.auth = options.auth;
    this.options = options;
    this.mapOptions = { instanceId: options.instanceId, ...receiverLimits(options) };
    this.exportHandler = new ExportHandler({ transport: 'http', consumer: options.consumer, metrics: options.metrics, logger: this.logger });
  }

  async start(): Promise<string> {
    const { host, port } = parseEndpoint(this.endpoint);
    const tls = this.options.tls === undefined ? undefined : await loadServerTls(this.options.tls, this.name);
    const server = createHttpOrHttpsServer(
      {
        tls,
        headersTimeoutMs: this.options.readHeaderTimeoutMs ?? DEFAULT_READ_HEADER_TIMEOUT_MS,
        requestTimeoutMs: this.options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS,
        logger: this.logger,
      },
      (request, response) => void this.handle(request, response),
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) =>
        reject(new Error(`${this.name}: cannot listen on ${this.endpoint}: ${error.message}`, { cause: error }));
      server.once('error', onError);
      server.listen(port, host === '' ? undefined : host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const address = formatEndpoint({ host, port: (server.address() as AddressInfo).port });
    this.logger.info({ address, tls: tls === undefined ? 'off' : tls.clientCa === undefined ? 'on' : 'mutual' }, 'OTLP/HTTP receiver listening');
    return address;
  }

  /**
   * Stops listening and closes idle keep-alive connections at once; requests in flight
   * finish (answered with `Connection: close`), then their connections close. Connections
   * still open at the deadline are cut.
   */
  async shutdown(deadlineMs: number): Promise<void> {
    this.closing = true;
    const server = this.server;
    if (server === undefined || !server.listening) return;
    for (const response of this.inFlight) {
      if (!response.headersSent) response.setHeader('Connection', 'close');
    }
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const deadline = setTimeout(() => {
      this.logger.warn({ deadlineMs }, 'in-flight OTLP/HTTP requests did not finish in time; closing their connections');
      server.closeAllConnections();
    }, deadlineMs);
    await closed;
    clearTimeout(deadline);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // Without a listener, a connection reset while reading would be an uncaught 'error'.
    request.on('error', (error) => this.logger.debug({ err: error }, 'OTLP/HTTP request stream error'));
    if (this.closing) response.setHeader('Connection', 'close');
    this.inFlight.add(response);
    response.on('close', () => this.inFlight.delete(response));
    try {
      await this.route(request, response);
    } catch (error) {
      this.logger.error({ err: error }, 'unexpected error while handling an OTLP/HTTP export');
      if (!response.headersSent) this.reject(request, response, 500, 'json', 'internal error');
      else response.destroy();
    }
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?', 1)[0];
    if (!TRACES_PATH_ALIASES.has(path)) {
      this.reject(request, response, 404, 'json', `no such path ${JSON.stringify(path)}; OTLP traces are accepted at POST ${TRACES_PATH}`);
      return;
    }
    if (request.method !== 'POST') {
      this.reject(request, response, 405, 'json', `method ${request.method} not allowed on ${path}; use POST`, { Allow: 'POST' });
      return;
    }
    const format = parseOtlpContentType(request.headers['content-type']);
    if (format === undefined) {
      const type = request.headers['content-type'] ?? '(none)';
      const supported = `${CONTENT_TYPE.protobuf} or ${CONTENT_TYPE.json}`;
      this.reject(request, response, 415, 'json', `unsupported Content-Type ${type}; use ${supported}`);
      return;
    }
    // Before the body is read: an unauthorized client costs no decompression or decoding.
    const keys = this.auth();
    const project = singleHeader(request.headers[PROJECT_HEADER]);
    const admission = admitExport(keys, request.headers.authorization, project);
    if (!admission.ok) {
      this.refuse(request, response, format, admission);
      return;
    }
    if (this.closing) {
      const headers = { 'Retry-After': SHUTTING_DOWN_RETRY_AFTER_SECONDS };
      this.reject(request, response, 503, format, 'receiver is shutting down; retry later', headers);
      return;
    }
    const coding = parseContentEncoding(request.headers['content-encoding']);
    if (coding === undefined) {
      const message = `unsupported Content-Encoding ${request.headers['content-encoding']}; use ${SUPPORTED_CONTENT_CODINGS}`;
      this.reject(request, response, 415, format, message, { 'Accept-Encoding': SUPPORTED_CONTENT_CODINGS });
      return;
    }
    if (coding === 'identity' && Number(request.headers['content-length'] ?? 0) > this.maxBodyBytes) {
      this.reject(request, response, 413, format, `request body size exceeds the limit of ${this.maxBodyBytes} bytes`);
      return;
    }

    let body: Buffer;
    try {
      body = await readRequestBody(request, coding, this.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) this.reject(request, response, 413, format, error.message);
      else if (error instanceof BodyEncodingError) this.reject(request, response, 400, format, error.message);
      else this.logger.debug({ err: error }, 'OTLP/HTTP request abandoned by the client');
      return;
    }

    let mapped: MappedSpans;
    try {
      const mapOptions = { ...this.mapOptions, project };
      mapped = format === 'json' ? decodeJson(body, mapOptions) : decodeProtobuf(body, mapOptions);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.reject(request, response, 400, format, error.message);
      return;
    }

    const projects = authorizeSpanProjects(keys, admission.key, mapped.rows);
    if (!projects.ok) {
      this.exportHandler.countRefused(mapped);
      this.refuse(request, response, format, projects);
      return;
    }

    const outcome = await this.exportHandler.export(mapped, requestHeaders(request), { bytes: body, encoding: format === 'json' ? 'json' : 'protobuf' });
    if (!outcome.stored) {
      this.reject(request, response, 503, format, outcome.message, { 'Retry-After': String(outcome.retryAfterSeconds) });
      return;
    }
    this.countRequest(200);
    writeExportResponse(response, format, outcome.rejected, outcome.errorMessage);
  }

  /** 401 (with the challenge RFC 6750 asks for) or 403; the message never holds the key. */
  private refuse(request: IncomingMessage, response: ServerResponse, format: OtlpBodyFormat, failure: AuthFailure): void {
    this.logger.debug({ status: failure.status, reason: failure.message }, 'OTLP/HTTP export refused');
    const headers: Record<string, string> = failure.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {};
    this.reject(request, response, failure.status, format, failure.message, headers);
  }

  /** Answers with an error status, then throws away what is left of the request body. */
  private reject(
    request: IncomingMessage,
    response: ServerResponse,
    httpStatus: number,
    format: OtlpBodyFormat,
    message: string,
    headers: Record<string, string> = {},
  ): void {
    this.countRequest(httpStatus);
    writeErrorStatus(response, httpStatus, format, message, headers);
    this.discardRest(request);
  }

  /**
   * Reads and drops the unread rest of a refused body so that the client, still sending,
   * gets to read our answer (closing on unread data resets the connection) and the
   * connection can be reused. A client that keeps sending past another `maxBodyBytes`
   * is cut off.
   */
  private discardRest(request: IncomingMessage): void {
    if (request.complete) return;
    let discarded = 0;
    request.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > this.maxBodyBytes) request.socket.destroy();
    });
    request.resume();
  }

  private countRequest(httpStatus: number): void {
    this.metrics.requests.inc({ transport: 'http', status: String(httpStatus) });
  }
}

/**
 * Request headers as the consumer's map (repeated headers joined, as HTTP allows), without
 * `Authorization`: the key must not travel further than the check.
 */
function requestHeaders(request: IncomingMessage): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (name === 'authorization') continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
