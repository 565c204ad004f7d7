import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdminServer, type AdminServerOptions } from '../../src/admin/admin-server.js';
import { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { silentLogger } from '../../src/admin/logger.js';
import { createTestCertificates, type TestCertificates } from '../tls/test-certificates.js';
import { failureOf, httpsRequest, plainHttpRequest } from '../tls/tls-clients.js';

let certs: TestCertificates;
const running: AdminServer[] = [];

beforeAll(async () => {
  certs = await createTestCertificates();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.shutdown()));
});

afterAll(() => certs?.dispose());

function admin(tls: AdminServerOptions['tls']): AdminServer {
  const server = new AdminServer({
    endpoint: '127.0.0.1:0',
    metrics: new DaemonMetrics({ processMetrics: false }),
    logger: silentLogger(),
    readiness: () => Promise.resolve({ ready: true }),
    tls,
  });
  running.push(server);
  return server;
}

describe('admin endpoint over TLS', () => {
  it('serves /healthz, /readyz and /metrics over https', async () => {
    const address = await admin({ certFile: certs.server.certFile, keyFile: certs.server.keyFile }).start();
    expect(await httpsRequest(address, { ca: certs.ca, path: '/healthz' })).toEqual({ status: 200, body: '{"status":"ok"}' });
    expect((await httpsRequest(address, { ca: certs.ca, path: '/readyz' })).status).toBe(200);
    const metrics = await httpsRequest(address, { ca: certs.ca, path: '/metrics' });
    expect(metrics.body).toContain('spanscore_receiver_truncated_values_total');
  });

  it('does not answer plain http on its TLS port', async () => {
    const address = await admin({ certFile: certs.server.certFile, keyFile: certs.server.keyFile }).start();
    const plain = await failureOf(plainHttpRequest(address, { path: '/healthz' }));
    expect(plain.code ?? plain.message).toMatch(/ECONNRESET|HPE_|socket hang up/);
  });

  it('with client_ca_file: a CA-signed client certificate is served, no certificate or a foreign one is refused', async () => {
    const address = await admin({ certFile: certs.server.certFile, keyFile: certs.server.keyFile, clientCaFile: certs.caFile }).start();
    expect((await httpsRequest(address, { ca: certs.ca, cert: certs.client.cert, key: certs.client.key, path: '/healthz' })).status).toBe(200);
    const anonymous = await failureOf(httpsRequest(address, { ca: certs.ca, path: '/healthz' }));
    expect(anonymous.code ?? anonymous.message).toMatch(/CERTIFICATE_REQUIRED|ECONNRESET|socket hang up/);
    const foreign = await failureOf(httpsRequest(address, { ca: certs.ca, cert: certs.foreignClient.cert, key: certs.foreignClient.key, path: '/healthz' }));
    expect(foreign.code ?? foreign.message).toMatch(/UNKNOWN_CA|ECONNRESET|socket hang up/);
  });

  it('a missing certificate file fails start with an error naming it', async () => {
    const missing = join(certs.dir, 'no-such-cert.pem');
    await expect(admin({ certFile: missing, keyFile: certs.server.keyFile }).start()).rejects.toThrow(
      `admin: cannot read the TLS certificate (cert_file) file ${missing}: ENOENT`,
    );
  });
});
