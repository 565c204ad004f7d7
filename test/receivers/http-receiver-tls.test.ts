import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpReceiver, type HttpReceiverOptions } from '../../src/receivers/http-receiver.js';
import { createTestCertificates, type TestCertificates } from '../tls/test-certificates.js';
import { failureOf, httpsRequest, idleConnection, plainHttpRequest } from '../tls/tls-clients.js';
import { goodProtobufRequest, logger, noAuth, RecordingConsumer, testMetrics } from './receiver-test-kit.js';

const PROTOBUF = { 'Content-Type': 'application/x-protobuf' };

let certs: TestCertificates;
let consumer: RecordingConsumer;
const running: HttpReceiver[] = [];

beforeAll(async () => {
  certs = await createTestCertificates();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.shutdown(500)));
});

afterAll(() => certs?.dispose());

async function startReceiver(tls: HttpReceiverOptions['tls'], extra: Partial<HttpReceiverOptions> = {}): Promise<string> {
  consumer = new RecordingConsumer();
  const receiver = new HttpReceiver({ endpoint: '127.0.0.1:0', consumer, metrics: testMetrics(), logger, auth: noAuth, tls, ...extra });
  running.push(receiver);
  return receiver.start();
}

function post(address: string, name: string, client: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {}) {
  return httpsRequest(address, { ca: certs.ca, ...client, method: 'POST', path: '/v1/traces', headers: PROTOBUF, body: goodProtobufRequest(name) });
}

describe('OTLP/HTTP over TLS', () => {
  it('serves https with the configured certificate (trusted through the test CA) and stores the spans', async () => {
    const address = await startReceiver({ certFile: certs.server.certFile, keyFile: certs.server.keyFile });
    const result = await post(address, 'over-tls');
    expect(result.status).toBe(200);
    expect(consumer.spans.map((s) => s.SpanName)).toEqual(['over-tls']);
  });

  it('a client that does not trust the CA refuses the certificate; plain http to the TLS port gets no answer', async () => {
    const address = await startReceiver({ certFile: certs.server.certFile, keyFile: certs.server.keyFile });
    const untrusted = await failureOf(post(address, 'untrusted', { ca: undefined }));
    expect(untrusted.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    const plain = await failureOf(plainHttpRequest(address, { method: 'POST', path: '/v1/traces', headers: PROTOBUF, body: goodProtobufRequest('plain') }));
    expect(plain.code ?? plain.message).toMatch(/ECONNRESET|HPE_|socket hang up/);
    expect(consumer.spans).toEqual([]);
  });

  it('cuts a client that connects and never starts the handshake, at the header timeout', async () => {
    const address = await startReceiver({ certFile: certs.server.certFile, keyFile: certs.server.keyFile }, { readHeaderTimeoutMs: 400, readTimeoutMs: 1000 });
    const closedAfterMs = await idleConnection(address);
    expect(closedAfterMs).toBeGreaterThanOrEqual(350);
    expect(closedAfterMs).toBeLessThan(1500);
  });
});

describe('OTLP/HTTP with client certificates (client_ca_file)', () => {
  const mutual = () => ({ certFile: certs.server.certFile, keyFile: certs.server.keyFile, clientCaFile: certs.caFile });

  it('accepts a client certificate signed by the client CA', async () => {
    const address = await startReceiver(mutual());
    const result = await post(address, 'mutual', { cert: certs.client.cert, key: certs.client.key });
    expect(result.status).toBe(200);
    expect(consumer.spans.map((s) => s.SpanName)).toEqual(['mutual']);
  });

  it('refuses a client without a certificate, and one whose certificate another CA signed', async () => {
    const address = await startReceiver(mutual());
    const anonymous = await failureOf(post(address, 'anonymous'));
    expect(anonymous.code ?? anonymous.message).toMatch(/CERTIFICATE_REQUIRED|ECONNRESET|socket hang up/);
    const foreign = await failureOf(post(address, 'foreign', { cert: certs.foreignClient.cert, key: certs.foreignClient.key }));
    expect(foreign.code ?? foreign.message).toMatch(/UNKNOWN_CA|ECONNRESET|socket hang up/); // the alert often loses the race with the reset;
    expect(consumer.spans).toEqual([]);
    // Refused handshakes leave the receiver serving.
    expect((await post(address, 'after', { cert: certs.client.cert, key: certs.client.key })).status).toBe(200);
  });
});

describe('OTLP/HTTP TLS files', () => {
  it('a missing file fails start with an error naming it, and nothing listens', async () => {
    const missing = join(certs.dir, 'no-such-key.pem');
    const receiver = new HttpReceiver({
      endpoint: '127.0.0.1:0',
      consumer: new RecordingConsumer(),
      metrics: testMetrics(),
      logger,
      auth: noAuth,
      tls: { certFile: certs.server.certFile, keyFile: missing },
    });
    await expect(receiver.start()).rejects.toThrow(`otlp/http: cannot read the TLS private key (key_file) file ${missing}: ENOENT`);
    await receiver.shutdown(100); // nothing to stop, must not throw
  });

  it('a key that does not belong to the certificate fails start', async () => {
    const receiver = new HttpReceiver({
      endpoint: '127.0.0.1:0',
      consumer: new RecordingConsumer(),
      metrics: testMetrics(),
      logger,
      auth: noAuth,
      tls: { certFile: certs.server.certFile, keyFile: certs.client.keyFile },
    });
    await expect(receiver.start()).rejects.toThrow(/^otlp\/http: the TLS certificate .* and private key .* cannot be used together: .*key values mismatch/);
  });
});
