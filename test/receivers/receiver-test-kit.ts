import http from 'node:http';
import net from 'node:net';
import { Client, credentials, Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import type { Counter } from 'prom-client';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../src/admin/logger.js';
import { ApiKeys } from '../../src/auth/api-keys.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import type { ConsumeContext, TracesConsumer } from '../../src/pipeline/traces-consumer.js';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';

/** Shared fixtures of the receiver tests: a recording consumer, raw clients, request builders. */

export class RecordingConsumer implements TracesConsumer {
  readonly batches: { spans: SpanRow[]; context: ConsumeContext }[] = [];
  /** Errors thrown by the next calls, in order (one per call). */
  private readonly failures: unknown[] = [];
  /** Resolves the consume call once released (to hold requests in flight). */
  private gate: Promise<void> | undefined;

  get spans(): SpanRow[] {
    return this.batches.flatMap((batch) => batch.spans);
  }

  failNext(...errors: unknown[]): void {
    this.failures.push(...errors);
  }

  /** Holds every consume call until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise((resolve) => (release = resolve));
    return () => {
      this.gate = undefined;
      release();
    };
  }

  async consume(spans: SpanRow[], context: ConsumeContext): Promise<void> {
    if (this.gate) await this.gate;
    if (this.failures.length > 0) throw this.failures.shift();
    this.batches.push({ spans, context });
  }
}

export function testMetrics(): DaemonMetrics {
  return new DaemonMetrics({ processMetrics: false });
}

export const logger = silentLogger();

/** The receivers' `auth` option with no keys configured: nobody is asked for one. */
const NO_KEYS = new ApiKeys([]);
export const noAuth = (): ApiKeys => NO_KEYS;

export async function counterValue(counter: Counter<string>, labels: Record<string, string>): Promise<number> {
  const { values } = await counter.get();
  const match = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

// ---- raw OTLP requests ----

/** A span as a protobufjs plain object (`fromObject` input), with overridable fields. */
export function spanObject(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: Buffer.from('5b8efff798038103d269b633813fc60c', 'hex'),
    spanId: Buffer.from('eee19b7ec3c1b174', 'hex'),
    name: 'GET /checkout',
    kind: 2,
    startTimeUnixNano: '1700000000123456789',
    endTimeUnixNano: '1700000000223456790',
    ...overrides,
  };
}

export function requestObject(spans: Record<string, unknown>[], scopeName = 'test-scope'): Record<string, unknown> {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
        scopeSpans: [{ scope: { name: scopeName, version: '1.2.3' }, spans }],
      },
    ],
  };
}

export function encodeRequest(request: Record<string, unknown>): Buffer {
  const type = otlpSchema().exportTraceServiceRequest;
  return Buffer.from(type.encode(type.fromObject(request)).finish());
}

/** A valid one-span protobuf request; `name` tells requests apart. */
export function goodProtobufRequest(name = 'good'): Buffer {
  return encodeRequest(requestObject([spanObject({ name })]));
}

/** A valid one-span OTLP/JSON request. */
export function goodJsonRequest(name = 'good'): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
        scopeSpans: [
          {
            scope: { name: 'test-scope' },
            spans: [
              {
                traceId: '5b8efff798038103d269b633813fc60c',
                spanId: 'eee19b7ec3c1b174',
                name,
                kind: 2,
                startTimeUnixNano: '1700000000123456789',
                endTimeUnixNano: '1700000000223456790',
              },
            ],
          },
        ],
      },
    ],
  });
}

// ---- raw HTTP ----

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Sends one request. `body` as an array is written chunk by chunk without Content-Length
 * (chunked transfer encoding).
 */
export function httpRequest(
  address: string,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | string | (Buffer | string)[] },
): Promise<HttpResult> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host, port, method: options.method ?? 'POST', path: options.path ?? '/v1/traces', headers: options.headers, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    const body = options.body;
    if (Array.isArray(body)) {
      for (const chunk of body) request.write(chunk);
    } else if (body !== undefined) {
      request.setHeader('Content-Length', Buffer.byteLength(body));
      request.write(body);
    }
    request.end();
  });
}

export function decodeStatus(result: HttpResult): { code: number; message: string } {
  const type = result.headers['content-type'];
  if (type === 'application/json') return JSON.parse(result.body.toString('utf8')) as { code: number; message: string };
  if (type !== 'application/x-protobuf') throw new Error(`unexpected content type ${type}`);
  const status = otlpSchema().rpcStatus;
  return status.toObject(status.decode(result.body), { defaults: true }) as { code: number; message: string };
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}

// ---- raw gRPC ----

export interface GrpcResult {
  error: ServiceError | null;
  response: { partialSuccess?: { rejectedSpans: string; errorMessage: string } } | undefined;
}

/**
 * Calls TraceService/Export with arbitrary request bytes (`compression`: grpc-js's
 * `grpc.default_compression_algorithm`, 1 = deflate, 2 = gzip).
 */
export function grpcExport(
  address: string,
  body: Buffer,
  options: { compression?: 0 | 1 | 2; metadata?: Record<string, string>; credentials?: ChannelCredentials } = {},
): Promise<GrpcResult> {
  const channelOptions = options.compression === undefined ? {} : { 'grpc.default_compression_algorithm': options.compression };
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  const client = new Client(address, options.credentials ?? credentials.createInsecure(), channelOptions);
  const responseType = otlpSchema().exportTraceServiceResponse;
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => responseType.toObject(responseType.decode(bytes), { longs: String }),
      body,
      metadata,
      { deadline: Date.now() + 10_000 },
      (error: ServiceError | null, response?: GrpcResult['response']) => {
        client.close();
        resolve({ error, response });
      },
    );
  });
}

// ---- wire inspection ----

/** A TCP pass-through that counts the bytes the client sends, to see compression on the wire. */
export async function startCountingProxy(target: string): Promise<{ address: string; bytesFromClient: () => number; close: () => Promise<void> }> {
  const [host, port] = splitAddress(target);
  let bytes = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => (bytes += chunk.length));
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    bytesFromClient: () => bytes,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
