import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage, type ClickHouseStorageOptions } from '../../src/storage/clickhouse-storage.js';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.js';
import { startClickHouseTlsProxy, type ClickHouseTlsProxy } from '../tls/clickhouse-tls-proxy.js';
import { createTestCertificates, type TestCertificates } from '../tls/test-certificates.js';
import { describeStorageContract } from './storage-contract.js';
import { spanRow } from './storage-fixtures.js';

/**
 * ClickHouse over TLS: the real test ClickHouse behind a TLS-terminating proxy (see
 * clickhouse-tls-proxy.ts for why the server cannot do TLS itself), one that takes any
 * client, one that requires a client certificate signed by the test CA.
 */
let server: ClickHouseServer;
let certs: TestCertificates;
let tlsProxy: ClickHouseTlsProxy;
let mutualProxy: ClickHouseTlsProxy;

beforeAll(async () => {
  [server, certs] = await Promise.all([startClickHouseServer(), createTestCertificates()]);
  const common = { target: server.url, cert: certs.server.cert, key: certs.server.key };
  [tlsProxy, mutualProxy] = await Promise.all([
    startClickHouseTlsProxy(common),
    startClickHouseTlsProxy({ ...common, clientCa: certs.ca, certificateUsers: { 'test-client': 'default' } }),
  ]);
});

afterAll(async () => {
  await Promise.all([tlsProxy?.close(), mutualProxy?.close()]);
  await server?.dispose();
  certs?.dispose();
});

function storage(options: Partial<ClickHouseStorageOptions>): ClickHouseStorage {
  return new ClickHouseStorage({ database: 'tls', requestTimeoutMs: 5000, logger: silentLogger(), ...options });
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

describe('ClickHouseStorage over https with the test CA (storage.clickhouse.tls.ca_file)', () => {
  // The storage contract, every statement through TLS. A variable, not a literal: the
  // contract's target type names only url / embeddedPath, and `tls` rides along in the spread.
  const target = { get url() { return tlsProxy.url; }, get tls() { return { caFile: certs.caFile }; } };
  describeStorageContract(() => ({ ...target }), 'tls_contract');

  it('went through the proxy, without client certificates', () => {
    expect(tlsProxy.requests.length).toBeGreaterThan(10);
    expect(tlsProxy.requests.every((r) => r.clientCommonName === undefined && !r.certificateAuth)).toBe(true);
  });

  it('does not trust the server without the CA, or with another CA', async () => {
    for (const tls of [undefined, { caFile: certs.foreignCaFile }]) {
      const untrusted = storage({ url: tlsProxy.url, ...(tls && { tls }) });
      try {
        expect((await failure(untrusted.migrate())).message).toMatch(/unable to verify the first certificate|self-signed certificate in certificate chain/);
        expect(await untrusted.ping()).toBe(false);
      } finally {
        await untrusted.close();
      }
    }
  });
});

describe('ClickHouseStorage with a client certificate (mutual TLS)', () => {
  it('presents the certificate, is authenticated by it, and stores and reads spans', async () => {
    const mutual = storage({ url: mutualProxy.url, database: 'tls_mutual', tls: { caFile: certs.caFile, certFile: certs.client.certFile, keyFile: certs.client.keyFile } });
    try {
      await mutual.migrate();
      const row = spanRow();
      await mutual.insertSpans([row]);
      expect(await mutual.query<{ SpanId: string }>('SELECT SpanId FROM otel_traces')).toEqual([{ SpanId: row.SpanId }]);
      expect(await mutual.ping()).toBe(true);
      const authenticated = mutualProxy.requests.filter((r) => r.path !== '/ping');
      expect(authenticated.length).toBeGreaterThan(3);
      expect(authenticated.every((r) => r.clientCommonName === 'test-client' && r.certificateAuth)).toBe(true);
    } finally {
      await mutual.close();
    }
  });

  it('is refused by a server that requires a certificate when it has none, or one of another CA', async () => {
    for (const tls of [{ caFile: certs.caFile }, { caFile: certs.caFile, certFile: certs.foreignClient.certFile, keyFile: certs.foreignClient.keyFile }]) {
      const refused = storage({ url: mutualProxy.url, tls });
      try {
        expect((await failure(refused.migrate())).message).toMatch(/certificate required|unknown ca|socket hang up|ECONNRESET/i);
      } finally {
        await refused.close();
      }
    }
  });
});

describe('ClickHouse TLS settings checked at start', () => {
  it('refuses TLS settings with an http:// url (the client would send everything in the clear)', async () => {
    const plain = storage({ url: server.url, tls: { caFile: certs.caFile } });
    expect((await failure(plain.migrate())).message).toBe(`storage.clickhouse.tls is set, but the url ${server.url} is not https://`);
    await plain.close();
  });

  it('names a missing file', async () => {
    const missing = join(certs.dir, 'missing-client.key');
    const broken = storage({ url: tlsProxy.url, tls: { caFile: certs.caFile, certFile: certs.client.certFile, keyFile: missing } });
    expect((await failure(broken.migrate())).message).toBe(`storage.clickhouse.tls: cannot read the TLS client private key (key_file) file ${missing}: ENOENT`);
    expect(await broken.ping()).toBe(false);
    await broken.close();
  });

  it('uses Node’s bundled roots when only a client certificate is given (so the test CA is not trusted)', async () => {
    const noCa = storage({ url: mutualProxy.url, tls: { certFile: certs.client.certFile, keyFile: certs.client.keyFile } });
    expect((await failure(noCa.migrate())).message).toMatch(/unable to verify the first certificate|self-signed certificate in certificate chain/);
    await noCa.close();
  });
});
