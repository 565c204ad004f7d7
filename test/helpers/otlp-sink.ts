import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import {
  Metadata,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  ServerListenerBuilder,
  status as GrpcStatus,
  type sendUnaryData,
  type ServerInterceptor,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { RAW_TRACE_SERVICE, TRACE_EXPORT_PATH } from '../../src/receivers/trace-service.js';
import { encodeRetryInfoStatus } from '../../src/exporters/export-response.js';
import { jsonToProtobuf } from '../../src/exporters/otlp-transcoder.js';
import { encodeExportResponse, encodeRpcStatus } from '../../src/receivers/otlp-responses.js';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';

/**
 * A minimal OTLP receiver on the real protocols (OTLP/HTTP protobuf and JSON, OTLP/gRPC) for
 * the exporter tests: it records every request as it arrived, answers what a test scripts,
 * and can go down and come back on the same ports.
 */

export interface RecordedExport {
  transport: 'http' | 'grpc';
  encoding: 'protobuf' | 'json';
  /** Lower-cased HTTP headers, or the gRPC metadata (text entries). */
  headers: Record<string, string>;
  /** The body after decompression. */
  rawBody: Buffer;
  /** HTTP `Content-Encoding: gzip`, or gRPC `grpc-encoding: gzip`. */
  compressed: boolean;
  /** The HTTP path, or the gRPC method path. */
  path: string;
  /** The sink answered success and the client was still there to hear it. */
  accepted: boolean;
}

/** What to answer one request; undefined fields take the success defaults. */
export interface SinkReply {
  /** HTTP: the status (default 200). */
  httpStatus?: number;
  /** HTTP: the Retry-After header. */
  retryAfter?: string;
  /** HTTP: the body (default: an ExportTraceServiceResponse, or a google.rpc.Status, in the request's encoding). */
  body?: Buffer | string;
  contentType?: string;
  /** gRPC: the status code (default OK). */
  grpcCode?: GrpcStatus;
  /** The failure's message (gRPC details, or the default HTTP Status body's message). */
  message?: string;
  /** gRPC: a google.rpc.RetryInfo with this delay in `grpc-status-details-bin`. */
  retryDelayMs?: number;
  /** A success with partial_success. */
  partialSuccess?: { rejectedSpans: number; errorMessage: string };
  /** Answers only after this long (for client timeouts). */
  delayMs?: number;
}

/** `index` counts the requests of both transports, from 0. */
export type SinkHandler = (request: RecordedExport, index: number) => SinkReply | undefined;

export type SinkAttributeValue = string | boolean | number | bigint | Buffer | SinkAttributeValue[] | { [key: string]: SinkAttributeValue } | null;

export interface SinkSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, SinkAttributeValue>;
  resource: Record<string, SinkAttributeValue>;
  scope: { name: string; version: string };
  status: { code: number; message: string };
}

export interface SinkOptions {
  /** Serve HTTPS and gRPC over TLS with this certificate. */
  tls?: { cert: Buffer; key: Buffer };
}

export interface OtlpSink {
  /** `http://127.0.0.1:PORT` (https with TLS), without a path. */
  httpUrl: string;
  /** `127.0.0.1:PORT`. */
  grpcAddress: string;
  requests: RecordedExport[];
  /** The spans of every accepted request, in arrival order. */
  spans(): SinkSpan[];
  respond(handler: SinkHandler | undefined): void;
  waitForSpans(count: number, timeoutMs?: number): Promise<SinkSpan[]>;
  /** Both servers down, connections cut (the ports stay reserved for `restart`). */
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

const ENCODING_KEY = 'x-sink-grpc-encoding';

/**
 * grpc-js strips `grpc-encoding` before the handler sees the metadata; the base call keeps it
 * (a private field), so an interceptor copies it into the metadata under another name.
 */
const recordEncoding: ServerInterceptor = (_method, call) => {
  const encoding = (call as unknown as { incomingEncoding?: string }).incomingEncoding ?? 'identity';
  return new ServerInterceptingCall(call, {
    start: (next) =>
      next(
        new ServerListenerBuilder()
          .withOnReceiveMetadata((metadata, nextMetadata) => {
            metadata.set(ENCODING_KEY, encoding);
            nextMetadata(metadata);
          })
          .build(),
      ),
  });
};

export async function startOtlpSink(options: SinkOptions = {}): Promise<OtlpSink> {
  const requests: RecordedExport[] = [];
  let handler: SinkHandler | undefined;
  let httpServer: http.Server | undefined;
  let grpcServer: Server | undefined;
  let httpPort = 0;
  let grpcPort = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const record = (request: Omit<RecordedExport, 'accepted'>): { recorded: RecordedExport; reply: SinkReply } => {
    const recorded: RecordedExport = { ...request, accepted: false };
    requests.push(recorded);
    return { recorded, reply: handler?.(recorded, requests.length - 1) ?? {} };
  };

  const later = (ms: number | undefined, action: () => void) => {
    if (!ms) {
      action();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      action();
    }, ms);
    timers.add(timer);
  };

  const handleHttp = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const compressed = /gzip/i.test(String(req.headers['content-encoding'] ?? ''));
      const body = Buffer.concat(chunks);
      const encoding = /json/i.test(String(req.headers['content-type'] ?? '')) ? 'json' : 'protobuf';
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
      const { recorded, reply } = record({
        transport: 'http',
        encoding,
        headers,
        rawBody: compressed ? gunzipSync(body) : body,
        compressed,
        path: req.url ?? '',
      });
      later(reply.delayMs, () => {
        if (res.destroyed || req.socket.destroyed) return;
        const status = reply.httpStatus ?? 200;
        const ok = status >= 200 && status < 300;
        const payload =
          reply.body ??
          (ok
            ? encodeExportResponse(encoding, reply.partialSuccess?.rejectedSpans ?? 0, reply.partialSuccess?.errorMessage ?? '')
            : encodeRpcStatus(encoding, 14, reply.message ?? `sink answered ${status}`));
        const responseHeaders: Record<string, string | number> = {
          'content-type': reply.contentType ?? (encoding === 'json' ? 'application/json' : 'application/x-protobuf'),
          'content-length': Buffer.byteLength(payload),
        };
        if (reply.retryAfter !== undefined) responseHeaders['retry-after'] = reply.retryAfter;
        recorded.accepted = ok;
        res.writeHead(status, responseHeaders).end(payload);
      });
    });
  };

  const handleGrpc = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(call.metadata.getMap())) if (typeof value === 'string' && name !== ENCODING_KEY) headers[name] = value;
    const encoding = String(call.metadata.get(ENCODING_KEY)[0] ?? 'identity');
    const { recorded, reply } = record({
      transport: 'grpc',
      encoding: 'protobuf',
      headers,
      rawBody: Buffer.from(call.request),
      compressed: encoding === 'gzip',
      path: TRACE_EXPORT_PATH,
    });
    later(reply.delayMs, () => {
      if (call.cancelled) return;
      const code = reply.grpcCode ?? GrpcStatus.OK;
      if (code === GrpcStatus.OK) {
        recorded.accepted = true;
        callback(null, encodeExportResponse('protobuf', reply.partialSuccess?.rejectedSpans ?? 0, reply.partialSuccess?.errorMessage ?? ''));
        return;
      }
      const message = reply.message ?? `sink answered ${GrpcStatus[code]}`;
      const metadata = new Metadata();
      if (reply.retryDelayMs !== undefined) metadata.set('grpc-status-details-bin', encodeRetryInfoStatus(code, message, reply.retryDelayMs));
      callback({ code, details: message, metadata });
    });
  };

  const credentialsFor = () =>
    options.tls === undefined
      ? ServerCredentials.createInsecure()
      : ServerCredentials.createSsl(null, [{ cert_chain: options.tls.cert, private_key: options.tls.key }], false);

  const start = async () => {
    httpServer = options.tls === undefined ? http.createServer(handleHttp) : https.createServer({ cert: options.tls.cert, key: options.tls.key }, handleHttp);
    httpServer.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    const server = httpServer;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(httpPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    httpPort = (httpServer.address() as AddressInfo).port;

    grpcServer = new Server({ interceptors: [recordEncoding] });
    grpcServer.addService(RAW_TRACE_SERVICE, { Export: handleGrpc });
    const grpc = grpcServer;
    grpcPort = await new Promise<number>((resolve, reject) => {
      grpc.bindAsync(`127.0.0.1:${grpcPort}`, credentialsFor(), (error, port) => (error ? reject(error) : resolve(port)));
    });
  };

  const stop = async () => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    const server = httpServer;
    httpServer = undefined;
    if (server !== undefined) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    }
    grpcServer?.forceShutdown();
    grpcServer = undefined;
  };

  const spans = () => requests.filter((r) => r.accepted).flatMap(requestSpans);

  await start();
  const scheme = options.tls === undefined ? 'http' : 'https';
  return {
    httpUrl: `${scheme}://127.0.0.1:${httpPort}`,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    requests,
    spans,
    respond: (next) => {
      handler = next;
    },
    async waitForSpans(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = spans();
        if (found.length >= count) return found;
        if (Date.now() > deadline) throw new Error(`the sink got ${found.length} spans, not ${count}, within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    close: stop,
  };
}

/** The spans one recorded request carried, whichever its encoding and whether or not the sink accepted it. */
export function requestSpans(request: RecordedExport): SinkSpan[] {
  return decodeSpans(request.encoding === 'json' ? jsonToProtobuf(request.rawBody) : request.rawBody);
}

/** The spans of a protobuf ExportTraceServiceRequest, flattened (ids hex, times as decimal strings). */
export function decodeSpans(body: Uint8Array): SinkSpan[] {
  const type = otlpSchema().exportTraceServiceRequest;
  const request = type.toObject(type.decode(body), { longs: String }) as { resourceSpans?: RawResourceSpans[] };
  const out: SinkSpan[] = [];
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = attributesOf(resourceSpans.resource?.attributes);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      const scope = { name: scopeSpans.scope?.name ?? '', version: scopeSpans.scope?.version ?? '' };
      for (const span of scopeSpans.spans ?? []) {
        out.push({
          traceId: hex(span.traceId),
          spanId: hex(span.spanId),
          parentSpanId: hex(span.parentSpanId),
          name: span.name ?? '',
          kind: span.kind ?? 0,
          startTimeUnixNano: span.startTimeUnixNano ?? '0',
          endTimeUnixNano: span.endTimeUnixNano ?? '0',
          attributes: attributesOf(span.attributes),
          resource,
          scope,
          status: { code: span.status?.code ?? 0, message: span.status?.message ?? '' },
        });
      }
    }
  }
  return out;
}

interface RawKeyValue {
  key?: string;
  value?: RawAnyValue;
}
interface RawAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
  bytesValue?: Uint8Array;
  arrayValue?: { values?: RawAnyValue[] };
  kvlistValue?: { values?: RawKeyValue[] };
}
interface RawSpan {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  parentSpanId?: Uint8Array;
  name?: string;
  kind?: number;
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  attributes?: RawKeyValue[];
  status?: { code?: number; message?: string };
}
interface RawResourceSpans {
  resource?: { attributes?: RawKeyValue[] };
  scopeSpans?: { scope?: { name?: string; version?: string }; spans?: RawSpan[] }[];
}

function hex(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? '' : Buffer.from(bytes).toString('hex');
}

function attributesOf(list: RawKeyValue[] | undefined): Record<string, SinkAttributeValue> {
  const out: Record<string, SinkAttributeValue> = {};
  for (const { key, value } of list ?? []) out[key ?? ''] = valueOf(value);
  return out;
}

function valueOf(value: RawAnyValue | undefined): SinkAttributeValue {
  if (value === undefined) return null;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return BigInt(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.bytesValue !== undefined) return Buffer.from(value.bytesValue);
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(valueOf);
  if (value.kvlistValue !== undefined) return attributesOf(value.kvlistValue.values);
  return null;
}
