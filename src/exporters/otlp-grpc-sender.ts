import { Client, credentials, Metadata, status, type ChannelCredentials, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import type { ClientTlsSpec } from '../config/spanscore-config.js';
import { loadClientTls } from '../tls/tls-files.js';
import { parsePartialSuccess, retryInfoDelayMs } from './export-response.js';
import { permanent, retryable, success, type OtlpSender, type SendOutcome } from './send-outcome.js';
import { TRACE_EXPORT_PATH } from '../receivers/trace-service.js';

export interface OtlpGrpcSenderOptions {
  /** `host:port`. */
  endpoint: string;
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  timeoutMs: number;
  tls: ClientTlsSpec;
  userAgent: string;
  /** Names the exporter in TLS file errors. */
  owner: string;
  /**
   * The channel's own reconnect backoff (grpc-js defaults: 1 s growing to 120 s). Kept close to
   * the exporter's retry intervals, or a restarted downstream would be noticed only minutes later.
   */
  reconnectBackoff?: { initialMs: number; maxMs: number };
}

/** grpc-js `grpc.default_compression_algorithm` values. */
const COMPRESSION_GZIP = 2;

/** OTLP/gRPC §Failures; RESOURCE_EXHAUSTED joins them only when the server sent RetryInfo. */
const RETRYABLE_CODES = new Set<number>([
  status.CANCELLED,
  status.DEADLINE_EXCEEDED,
  status.ABORTED,
  status.OUT_OF_RANGE,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

const identity = (bytes: Buffer): Buffer => bytes;

/** OTLP/gRPC client: TraceService/Export with the body as raw bytes on one channel. */
export class OtlpGrpcSender implements OtlpSender {
  private clientLoad: Promise<Client> | undefined;
  private client: Client | undefined;
  private readonly metadata: Metadata;
  private closed = false;

  constructor(private readonly options: OtlpGrpcSenderOptions) {
    this.metadata = new Metadata();
    for (const [name, value] of Object.entries(options.headers)) {
      const key = name.toLowerCase();
      // Binary metadata (`-bin`) must be bytes; grpc-js base64-encodes it on the wire.
      this.metadata.set(key, key.endsWith('-bin') ? Buffer.from(value) : value);
    }
  }

  ready(): Promise<void> {
    return this.loadClient().then(() => undefined);
  }

  async send(body: Uint8Array, signal: AbortSignal): Promise<SendOutcome> {
    let client: Client;
    try {
      client = await this.loadClient();
    } catch (error) {
      return permanent((error as Error).message);
    }
    const request = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return new Promise((resolve) => {
      const onAbort = () => call.cancel();
      const call = client.makeUnaryRequest<Buffer, Buffer>(
        TRACE_EXPORT_PATH,
        identity,
        identity,
        request,
        // Cloned: grpc-js adds its own entries to the metadata it is given.
        this.metadata.clone(),
        { deadline: Date.now() + this.options.timeoutMs },
        (error, response) => {
          signal.removeEventListener('abort', onAbort);
          resolve(error ? classify(error) : succeeded(response));
        },
      );
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.closed = true;
    this.client?.close();
  }

  private loadClient(): Promise<Client> {
    this.clientLoad ??= this.createClient();
    return this.clientLoad;
  }

  private async createClient(): Promise<Client> {
    const { options } = this;
    const channelOptions: ChannelOptions = {
      'grpc.primary_user_agent': options.userAgent,
      // The downstream decides what is too large; it answers RESOURCE_EXHAUSTED (permanent).
      'grpc.max_send_message_length': -1,
    };
    if (options.compression === 'gzip') channelOptions['grpc.default_compression_algorithm'] = COMPRESSION_GZIP;
    if (options.reconnectBackoff) {
      channelOptions['grpc.initial_reconnect_backoff_ms'] = Math.max(1, Math.round(options.reconnectBackoff.initialMs));
      channelOptions['grpc.max_reconnect_backoff_ms'] = Math.max(1, Math.round(options.reconnectBackoff.maxMs));
    }
    if (!options.tls.insecure && options.tls.serverNameOverride !== undefined) {
      channelOptions['grpc.ssl_target_name_override'] = options.tls.serverNameOverride;
    }
    this.client = new Client(options.endpoint, await this.credentials(), channelOptions);
    if (this.closed) this.client.close();
    return this.client;
  }

  private async credentials(): Promise<ChannelCredentials> {
    const { tls } = this.options;
    if (tls.insecure) return credentials.createInsecure();
    const { ca, cert, key } = await loadClientTls(tls, this.options.owner);
    const verify = tls.insecureSkipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {};
    return credentials.createSsl(ca ?? null, key ?? null, cert ?? null, verify);
  }
}

function succeeded(response: Buffer | undefined): SendOutcome {
  const partial = response === undefined ? undefined : parsePartialSuccess(response, 'protobuf');
  return success(partial?.rejectedSpans ?? 0, partial?.errorMessage ?? '');
}

function classify(error: ServiceError): SendOutcome {
  const details = error.metadata?.get('grpc-status-details-bin')[0];
  const retryAfterMs = Buffer.isBuffer(details) ? retryInfoDelayMs(details) : undefined;
  const message = `gRPC ${status[error.code] ?? error.code}: ${error.details}`;
  if (RETRYABLE_CODES.has(error.code) || (error.code === status.RESOURCE_EXHAUSTED && retryAfterMs !== undefined)) {
    return retryable(message, retryAfterMs);
  }
  return permanent(message);
}
