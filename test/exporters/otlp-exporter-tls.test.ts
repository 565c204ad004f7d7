import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OtlpProtocol } from '../../src/config/spanscore-config.js';
import type { OtlpExporter } from '../../src/exporters/otlp-exporter.js';
import { TlsFileError } from '../../src/tls/tls-files.js';
import { startOtlpSink, type OtlpSink } from '../helpers/otlp-sink.js';
import { createTestCertificates, type TestCertificates } from '../tls/test-certificates.js';
import { EXPORTER, metricValue, newExporter, payload, protobufRequest, sinkSpec, waitForValue, type SpecOverrides } from './otlp-exporter-kit.js';

/** Exporting over TLS (https:// and gRPC with TLS) to a sink whose certificate a test CA signed. */

let certs: TestCertificates;
let sink: OtlpSink;
let exporter: OtlpExporter | undefined;

beforeAll(async () => {
  certs = await createTestCertificates();
  sink = await startOtlpSink({ tls: { cert: certs.server.cert, key: certs.server.key } });
});
afterAll(async () => {
  await sink.close();
  certs.dispose();
});
beforeEach(() => {
  sink.requests.length = 0;
});
afterEach(async () => {
  await exporter?.shutdown(1_000);
  exporter = undefined;
});

function start(protocol: OtlpProtocol, tls: SpecOverrides['tls'], overrides: SpecOverrides = {}) {
  const made = newExporter(sinkSpec(sink, protocol, { ...overrides, tls }));
  exporter = made.exporter;
  return made;
}

const labels = { exporter: EXPORTER, kind: 'received' };

describe.each<OtlpProtocol>(['grpc', 'http/protobuf', 'http/json'])('%s', (protocol) => {
  it('delivers over TLS, trusting the configured CA', async () => {
    expect(sink.httpUrl.startsWith('https://')).toBe(true);
    const { metrics } = start(protocol, { caFile: certs.caFile });
    await exporter!.start();
    exporter!.offer(payload(protobufRequest(2), 2));
    await sink.waitForSpans(2);
    await waitForValue(() => metricValue(metrics.exporterSentSpans, labels), 2);
  });

  it('refuses a server its CA did not sign: retried, then failed', async () => {
    const { metrics } = start(protocol, { caFile: certs.foreignCaFile }, { retry: { maxElapsedMs: 300 } });
    exporter!.offer(payload(protobufRequest(2), 2));
    await waitForValue(() => metricValue(metrics.exporterFailedSpans, { ...labels, reason: 'retries_exhausted' }), 2);
    expect(await metricValue(metrics.exporterRetries)).toBeGreaterThan(0);
    expect(sink.requests).toHaveLength(0);
  });

  it('with retries disabled, a wrong CA fails the request at once', async () => {
    const { metrics } = start(protocol, { caFile: certs.foreignCaFile }, { retry: { enabled: false } });
    exporter!.offer(payload(protobufRequest(1), 1));
    await waitForValue(() => metricValue(metrics.exporterFailedSpans, { ...labels, reason: 'retries_exhausted' }), 1);
    expect(await metricValue(metrics.exporterRetries)).toBe(0);
  });

  it('checks the certificate against server_name_override', async () => {
    // The certificate names localhost and 127.0.0.1: overriding with localhost still matches...
    start(protocol, { caFile: certs.caFile, serverNameOverride: 'localhost' });
    exporter!.offer(payload(protobufRequest(1), 1));
    await sink.waitForSpans(1);
    await exporter!.shutdown(1_000);

    // ...and a name it does not carry is refused.
    const { metrics } = start(protocol, { caFile: certs.caFile, serverNameOverride: 'not-the-server.example' }, { retry: { enabled: false } });
    exporter!.offer(payload(protobufRequest(1), 1));
    await waitForValue(() => metricValue(metrics.exporterFailedSpans, { ...labels, reason: 'retries_exhausted' }), 1);
    expect(sink.requests).toHaveLength(1);
  });

  it('insecure_skip_verify accepts a certificate no trusted CA signed', async () => {
    const { metrics } = start(protocol, { caFile: certs.foreignCaFile, insecureSkipVerify: true });
    exporter!.offer(payload(protobufRequest(1), 1));
    await sink.waitForSpans(1);
    await waitForValue(() => metricValue(metrics.exporterSentSpans, labels), 1);
  });

  it('start() reports an unreadable CA file; without start() each request fails (permanent)', async () => {
    const missing = `${certs.dir}/missing-ca.pem`;
    start(protocol, { caFile: missing });
    await expect(exporter!.start()).rejects.toBeInstanceOf(TlsFileError);
    await exporter!.shutdown(1_000);

    const { metrics } = start(protocol, { caFile: missing });
    exporter!.offer(payload(protobufRequest(2), 2));
    await waitForValue(() => metricValue(metrics.exporterFailedSpans, { ...labels, reason: 'permanent' }), 2);
  });
});
