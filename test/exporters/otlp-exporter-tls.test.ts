import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OtlpProtocol } from '../../src/config/spanscore-config.js';
import { TlsFileError } from '../../src/tls/tls-files.js';
import { createTestCertificates, type TestCertificates } from '../tls/test-certificates.js';
import { exporterTestbed, metricValue, payload, protobufRequest, RECEIVED, waitForValue, type SpecOverrides } from './otlp-exporter-kit.js';

/** Exporting over TLS (https:// and gRPC with TLS) to a sink whose certificate a test CA signed. */

let certs: TestCertificates;
// Registered before the testbed's hooks: the certificates exist before the sink starts, and outlive it.
beforeAll(async () => {
  certs = await createTestCertificates();
});
afterAll(() => {
  certs.dispose();
});
const bed = exporterTestbed({ sink: () => ({ tls: { cert: certs.server.cert, key: certs.server.key } }), shutdownMs: 1_000 });
const start = (protocol: OtlpProtocol, tls: SpecOverrides['tls'], overrides: SpecOverrides = {}) => bed.start(protocol, { ...overrides, tls });

describe.each<OtlpProtocol>(['grpc', 'http/protobuf', 'http/json'])('%s', (protocol) => {
  it('delivers over TLS, trusting the configured CA', async () => {
    expect(bed.sink.httpUrl.startsWith('https://')).toBe(true);
    const { exporter, metrics } = start(protocol, { caFile: certs.caFile });
    await exporter.start();
    exporter.offer(payload(protobufRequest(2), 2));
    await bed.sink.waitForSpans(2);
    await waitForValue(() => metricValue(metrics.exporterSentSpans, RECEIVED), 2);
  });

  it('refuses a server its CA did not sign: retried, then failed', async () => {
    const { exporter, metrics } = start(protocol, { caFile: certs.foreignCaFile }, { retry: { maxElapsedMs: 300 } });
    exporter.offer(payload(protobufRequest(2), 2));
    await waitForValue(() => metricValue(metrics.exporterFailedSpans, { ...RECEIVED, reason: 'retries_exhausted' }), 2);
    expect(await metricValue(metrics.exporterRetries)).toBeGreaterThan(0);
    expect(bed.sink.requests).toHaveLength(0);
  });

  it('with retries disabled, a wrong CA fails the request at once', async () => {
    const { exporter, metrics } = start(protocol, { caFile: certs.foreignCaFile }, { retry: { enabled: false } });
    exporter.offer(payload(protobufRequest(1), 1));
    await waitForValue(() => metricValue(metrics.exporterFailedSpans, { ...RECEIVED, reason: 'retries_exhausted' }), 1);
    expect(await metricValue(metrics.exporterRetries)).toBe(0);
  });

  it('checks the certificate against server_name_override', async () => {
    // The certificate names localhost and 127.0.0.1: overriding with localhost still matches...
    const matching = start(protocol, { caFile: certs.caFile, serverNameOverride: 'localhost' });
    matching.exporter.offer(payload(protobufRequest(1), 1));
    await bed.sink.waitForSpans(1);
    await matching.exporter.shutdown(1_000);

    // ...and a name it does not carry is refused.
    const { exporter, metrics } = start(protocol, { caFile: certs.caFile, serverNameOverride: 'not-the-server.example' }, { retry: { enabled: false } });
    exporter.offer(payload(protobufRequest(1), 1));
    await waitForValue(() => metricValue(metrics.exporterFailedSpans, { ...RECEIVED, reason: 'retries_exhausted' }), 1);
    expect(bed.sink.requests).toHaveLength(1);
  });

  it('insecure_skip_verify accepts a certificate no trusted CA signed', async () => {
    const { exporter, metrics } = start(protocol, { caFile: certs.foreignCaFile, insecureSkipVerify: true });
    exporter.offer(payload(protobufRequest(1), 1));
    await bed.sink.waitForSpans(1);
    await waitForValue(() => metricValue(metrics.exporterSentSpans, RECEIVED), 1);
  });

  it('start() reports an unreadable CA file; without start() each request fails (permanent)', async () => {
    const missing = `${certs.dir}/missing-ca.pem`;
    const started = start(protocol, { caFile: missing });
    await expect(started.exporter.start()).rejects.toBeInstanceOf(TlsFileError);
    await started.exporter.shutdown(1_000);

    const { exporter, metrics } = start(protocol, { caFile: missing });
    exporter.offer(payload(protobufRequest(2), 2));
    await waitForValue(() => metricValue(metrics.exporterFailedSpans, { ...RECEIVED, reason: 'permanent' }), 2);
  });
});
