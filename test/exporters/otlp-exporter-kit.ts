import { randomBytes } from 'node:crypto';
import type { Counter, Gauge } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { pino } from 'pino';
import { silentLogger, type Logger } from '../../src/admin/logger.js';
import type { OtlpExporterSpec, OtlpProtocol } from '../../src/config/spanscore-config.js';
import type { ForwardKind, ForwardPayload } from '../../src/exporters/forwarding-exporter.js';
import { OtlpExporter } from '../../src/exporters/otlp-exporter.js';
import { otlpSchema } from '../../src/receivers/otlp-schema.js';
import { startOtlpSink, type OtlpSink, type SinkOptions } from '../helpers/otlp-sink.js';

/** Shared by the exporter tests: specs with short retry intervals, payloads, metric reads. */

export const EXPORTER = 'otlp/test';
/** The labels of the received spans' series. */
export const RECEIVED = { exporter: EXPORTER, kind: 'received' };

export type SpecOverrides = Partial<Omit<OtlpExporterSpec, 'retry' | 'queue' | 'tls'>> & {
  retry?: Partial<OtlpExporterSpec['retry']>;
  queue?: Partial<OtlpExporterSpec['queue']>;
  tls?: Partial<OtlpExporterSpec['tls']>;
};

/** An exporter spec aimed at the sink (plaintext), retrying every 20-100 ms. */
export function sinkSpec(sink: OtlpSink, protocol: OtlpProtocol, overrides: SpecOverrides = {}): OtlpExporterSpec {
  const endpoint = protocol === 'grpc' ? sink.grpcAddress : `${sink.httpUrl}/v1/traces`;
  const secure = sink.httpUrl.startsWith('https:');
  return {
    name: EXPORTER,
    protocol,
    endpoint,
    forwardReceived: true,
    forwardScoring: true,
    headers: {},
    compression: 'none',
    timeoutMs: 5_000,
    ...overrides,
    tls: { insecure: !secure, insecureSkipVerify: false, ...overrides.tls },
    retry: { enabled: true, initialIntervalMs: 20, maxIntervalMs: 100, maxElapsedMs: 20_000, multiplier: 1.5, randomizationFactor: 0, ...overrides.retry },
    queue: { enabled: true, numConsumers: 2, maxRequests: 100, maxBytes: 16 * 1024 * 1024, ...overrides.queue },
  };
}

export function newExporter(spec: OtlpExporterSpec, logger: Logger = silentLogger()): { exporter: OtlpExporter; metrics: DaemonMetrics } {
  const metrics = new DaemonMetrics({ processMetrics: false });
  const exporter = new OtlpExporter(spec, { metrics, logger, version: '9.9.9-test' });
  return { exporter, metrics };
}

export interface TestbedOptions {
  /** The sink's options (called in `beforeAll`, after the hooks registered before the testbed). */
  sink?: () => SinkOptions;
  /** Restart the sink before each test, for files whose tests stop it. */
  restartSink?: boolean;
  /** The shutdown deadline after each test (default 2 s). */
  shutdownMs?: number;
}

export interface ExporterTestbed {
  /** The file's sink (set once `beforeAll` has run). */
  readonly sink: OtlpSink;
  /** An exporter aimed at the sink (`sinkSpec`), shut down after the test. */
  start(protocol: OtlpProtocol, overrides?: SpecOverrides, logger?: Logger): { exporter: OtlpExporter; metrics: DaemonMetrics };
}

/**
 * Registers the hooks an exporter test file shares: one sink for the file, answering success
 * with no requests recorded at the start of each test, and every exporter a test started shut
 * down after it (`shutdown` is idempotent, so a test may shut one down itself).
 */
export function exporterTestbed(options: TestbedOptions = {}): ExporterTestbed {
  let sink: OtlpSink | undefined;
  const started: OtlpExporter[] = [];
  beforeAll(async () => {
    sink = await startOtlpSink(options.sink?.());
  });
  afterAll(async () => {
    await sink?.close();
  });
  beforeEach(async () => {
    if (options.restartSink) await testbed.sink.restart();
    testbed.sink.requests.length = 0;
    testbed.sink.respond(undefined);
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((exporter) => exporter.shutdown(options.shutdownMs ?? 2_000)));
  });
  const testbed: ExporterTestbed = {
    get sink() {
      if (sink === undefined) throw new Error('the sink starts in beforeAll');
      return sink;
    },
    start(protocol, overrides = {}, logger) {
      const made = newExporter(sinkSpec(testbed.sink, protocol, overrides), logger);
      started.push(made.exporter);
      return made;
    },
  };
  return testbed;
}

/** A logger that keeps its lines (parsed) for assertions. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown> & { msg: string; level: number }> } {
  const lines: Array<Record<string, unknown> & { msg: string; level: number }> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** A protobuf request with `count` spans carrying every kind of attribute value. */
export function protobufRequest(count: number, name = 'chat'): Buffer {
  const type = otlpSchema().exportTraceServiceRequest;
  const traceId = randomBytes(16);
  const now = BigInt(Date.now()) * 1_000_000n;
  const message = type.fromObject({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'exporter-test' } }] },
        scopeSpans: [
          {
            scope: { name: 'exporter-test-scope', version: '1.2.3' },
            spans: Array.from({ length: count }, (_, i) => ({
              traceId,
              spanId: randomBytes(8),
              parentSpanId: i === 0 ? Buffer.alloc(0) : randomBytes(8),
              name: `${name}-${i}`,
              kind: 3,
              startTimeUnixNano: (now + BigInt(i)).toString(),
              endTimeUnixNano: (now + BigInt(i) + 1_500_000n).toString(),
              attributes: [
                { key: 'input.value', value: { stringValue: 'héllo ✓' } },
                { key: 'tokens', value: { intValue: '9007199254740993' } },
                { key: 'score', value: { doubleValue: 0.25 } },
                { key: 'ok', value: { boolValue: true } },
                { key: 'blob', value: { bytesValue: Buffer.from([0, 1, 254, 255]) } },
                { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '2' }] } } },
                { key: 'map', value: { kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }] } } },
              ],
              status: { code: 1, message: '' },
            })),
          },
        ],
      },
    ],
  });
  return Buffer.from(type.encode(message).finish());
}

export function payload(body: Uint8Array, spanCount: number, encoding: 'protobuf' | 'json' = 'protobuf', kind: ForwardKind = 'received'): ForwardPayload {
  return { kind, body, encoding, spanCount };
}

type AnyMetric = Counter<string> | Gauge<string>;

/** The sum of a metric's series whose labels include `labels` (0 when none). */
export async function metricValue(metric: AnyMetric, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Polls until `read` gives `want`. */
export async function waitForValue(read: () => Promise<number>, want: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (last !== want) {
    if (Date.now() > deadline) throw new Error(`expected ${want}, still ${last} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
    last = await read();
  }
}
