import { readFileSync } from 'node:fs';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { credentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../admin/logger.js';
import type { ClientTlsSpec, SelfTelemetrySpec } from '../config/spanscore-config.js';
import { TlsFileError } from '../tls/tls-files.js';
import { clearSelfTracerDelegate, setSelfTracerDelegate } from './self-tracer.js';

export interface SelfTelemetryOptions {
  /** `service.instance_id`: the resource's `service.instance.id`. */
  instanceId: string;
  /** spanscore's version: `service.version`, and the instrumentation scope's version. */
  version: string;
  logger: Logger;
}

/** The instrumentation scope of every self span. */
export const SELF_TRACER_NAME = 'spanscore';

/** Default for shutdown: the daemon's own shutdown must not wait long for its telemetry. */
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5_000;

type HttpExporterConfig = NonNullable<ConstructorParameters<typeof ProtoTraceExporter>[0]>;
type Compression = NonNullable<HttpExporterConfig['compression']>;
type ExportResultCallback = Parameters<SpanExporter['export']>[1];
/** ExportResultCode.SUCCESS (@opentelemetry/core, which spanscore does not depend on directly). */
const EXPORT_SUCCESS = 0;

/**
 * The daemon's own traces (`service.telemetry.traces`): a BasicTracerProvider with a batch
 * processor and the stock OTLP exporter of the configured protocol, behind `selfTracer`.
 * Nothing is registered globally. Export failures are logged when the state changes (failing,
 * recovered), never per batch, and never reach the daemon: spans that cannot be sent are dropped.
 */
export class SelfTelemetry {
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  #stopped: Promise<void> | undefined;

  private constructor(provider: BasicTracerProvider, tracer: Tracer) {
    this.#provider = provider;
    this.#tracer = tracer;
  }

  /**
   * Builds the pipeline and switches `selfTracer` to it. Throws TlsFileError when a TLS file
   * the config names cannot be read (a config problem, reported at start like every other TLS
   * file); nothing is sent before the first batch is due.
   */
  static start(spec: SelfTelemetrySpec & { compression?: 'gzip' | 'none' }, options: SelfTelemetryOptions): SelfTelemetry {
    const exporter = new ReportingExporter(createExporter(spec), shownEndpoint(spec.endpoint), options.logger);
    const provider = new BasicTracerProvider({
      resource: defaultResource().merge(
        resourceFromAttributes({
          'service.name': 'spanscore',
          'service.version': options.version,
          'service.instance.id': options.instanceId,
        }),
      ),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(spec.samplingRatio) }),
      spanProcessors: [new BatchSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer(SELF_TRACER_NAME, options.version);
    setSelfTracerDelegate(tracer);
    return new SelfTelemetry(provider, tracer);
  }

  /** Sends the spans buffered so far now, instead of at the next scheduled batch. Never rejects. */
  async forceFlush(): Promise<void> {
    await this.#provider.forceFlush().catch(() => undefined);
  }

  /**
   * Switches `selfTracer` back to no-op, then sends what is buffered, for at most `timeoutMs`
   * (what is left then is dropped). Never rejects.
   */
  shutdown(timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS): Promise<void> {
    this.#stopped ??= this.#shutdown(timeoutMs);
    return this.#stopped;
  }

  async #shutdown(timeoutMs: number): Promise<void> {
    clearSelfTracerDelegate(this.#tracer);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, timeoutMs));
      timer.unref();
    });
    // shutdown() flushes the batch processor, then shuts the exporter down.
    await Promise.race([this.#provider.shutdown().catch(() => undefined), expired]);
    clearTimeout(timer);
  }
}

/** The stock exporter for the protocol, with the config's headers, TLS and compression. */
function createExporter(spec: SelfTelemetrySpec & { compression?: 'gzip' | 'none' }): SpanExporter {
  const compression = (spec.compression ?? 'gzip') as Compression;
  if (spec.protocol === 'grpc') {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(spec.headers)) metadata.set(key, value);
    // The URL's scheme would only choose default credentials; ours are given, per `tls.insecure`.
    return new GrpcTraceExporter({ url: `http://${spec.endpoint}`, metadata, compression, credentials: grpcCredentials(spec.tls) });
  }
  const config: HttpExporterConfig = {
    url: spec.endpoint,
    headers: { ...spec.headers },
    compression,
    ...(spec.endpoint.startsWith('https:') && { httpAgentOptions: httpsAgentOptions(spec.tls) }),
  };
  return spec.protocol === 'http/json' ? new JsonTraceExporter(config) : new ProtoTraceExporter(config);
}

const OWNER = 'service.telemetry.traces.tls';

function grpcCredentials(tls: ClientTlsSpec): ChannelCredentials {
  if (tls.insecure) return credentials.createInsecure();
  const { ca, cert, key } = readClientTls(tls);
  const override = tls.serverNameOverride;
  return credentials.createSsl(ca ?? null, key ?? null, cert ?? null, {
    rejectUnauthorized: !tls.insecureSkipVerify,
    // The exporter takes no channel options, so the name is checked here (the TLS SNI stays the endpoint's host).
    ...(override !== undefined && { checkServerIdentity: (_host: string, peer: PeerCertificate) => checkServerIdentity(override, peer) }),
  });
}

function httpsAgentOptions(tls: ClientTlsSpec): NonNullable<HttpExporterConfig['httpAgentOptions']> {
  const { ca, cert, key } = readClientTls(tls);
  return {
    keepAlive: true,
    rejectUnauthorized: !tls.insecureSkipVerify,
    ...(ca && { ca }),
    ...(cert && key && { cert, key }),
    ...(tls.serverNameOverride !== undefined && { servername: tls.serverNameOverride }),
  };
}

/** The CA and client certificate the config names, read now (once, at start). */
function readClientTls(tls: ClientTlsSpec): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new TlsFileError(`${OWNER}: a client certificate needs both cert_file and key_file; only ${tls.certFile !== undefined ? 'cert_file' : 'key_file'} is set`);
  }
  const read = (file: string | undefined, role: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      throw new TlsFileError(`${OWNER}: cannot read the TLS ${role} file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
    }
  };
  const ca = read(tls.caFile, 'CA (ca_file)');
  const cert = read(tls.certFile, 'client certificate (cert_file)');
  const key = read(tls.keyFile, 'client private key (key_file)');
  return { ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }) };
}

/**
 * Passes batches on and logs the export state when it changes: the first failure (warn) and
 * the recovery (info) with how many spans were lost in between. Whatever the exporter does,
 * the batch processor hears a result and the daemon nothing.
 */
class ReportingExporter implements SpanExporter {
  #failing = false;
  #lostSpans = 0;
  #lostBatches = 0;

  constructor(
    private readonly inner: SpanExporter,
    private readonly endpoint: string,
    private readonly logger: Logger,
  ) {}

  export(spans: ReadableSpan[], done: ExportResultCallback): void {
    try {
      this.inner.export(spans, (result) => {
        this.#observe(spans.length, result.code === EXPORT_SUCCESS ? undefined : (result.error ?? new Error('export failed')));
        done(result);
      });
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      this.#observe(spans.length, failure);
      done({ code: 1, error: failure });
    }
  }

  #observe(spanCount: number, error: Error | undefined): void {
    try {
      if (error === undefined) {
        if (!this.#failing) return;
        this.logger.info({ endpoint: this.endpoint, lostSpans: this.#lostSpans, lostBatches: this.#lostBatches }, 'self-telemetry export recovered');
        this.#failing = false;
        this.#lostSpans = 0;
        this.#lostBatches = 0;
        return;
      }
      this.#lostSpans += spanCount;
      this.#lostBatches++;
      if (this.#failing) return;
      this.#failing = true;
      this.logger.warn(
        { endpoint: this.endpoint, err: error.message },
        `self-telemetry export failing: the daemon's own spans are dropped until ${this.endpoint} takes them again (${error.message})`,
      );
    } catch {
      // A logger failure must not end the batch processor's export loop.
    }
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** The endpoint for logs, without the credentials or query a URL might carry. */
export function shownEndpoint(endpoint: string): string {
  if (!/^https?:\/\//.test(endpoint)) return endpoint;
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    url.search = '';
    return url.toString();
  } catch {
    return endpoint;
  }
}
