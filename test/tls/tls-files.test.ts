import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClientTls, loadServerTls, TlsFileError } from '../../src/tls/tls-files.js';
import { createTestCertificates, type TestCertificates } from './test-certificates.js';

let certs: TestCertificates;

beforeAll(async () => {
  certs = await createTestCertificates();
});

afterAll(() => certs?.dispose());

function file(name: string, content: string): string {
  const path = join(certs.dir, name);
  writeFileSync(path, content);
  return path;
}

async function failure(promise: Promise<unknown>): Promise<TlsFileError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TlsFileError);
  return error as TlsFileError;
}

describe('loadServerTls', () => {
  it('reads the certificate, the key and the client CA', async () => {
    const material = await loadServerTls({ certFile: certs.server.certFile, keyFile: certs.server.keyFile, clientCaFile: certs.caFile }, 'otlp/http');
    expect(material.cert.equals(certs.server.cert)).toBe(true);
    expect(material.key.equals(certs.server.key)).toBe(true);
    expect(material.clientCa?.equals(certs.ca)).toBe(true);
    const withoutCa = await loadServerTls({ certFile: certs.server.certFile, keyFile: certs.server.keyFile }, 'otlp/http');
    expect(withoutCa.clientCa).toBeUndefined();
  });

  it.each([
    ['certFile', 'certificate \\(cert_file\\)'],
    ['keyFile', 'private key \\(key_file\\)'],
    ['clientCaFile', 'client CA \\(client_ca_file\\)'],
  ] as const)('names a missing %s, its role and the component', async (which, role) => {
    const missing = join(certs.dir, `missing-${which}.pem`);
    const files = { certFile: certs.server.certFile, keyFile: certs.server.keyFile, clientCaFile: certs.caFile, [which]: missing };
    const error = await failure(loadServerTls(files, 'otlp/grpc'));
    expect(error.message).toMatch(new RegExp(`^otlp/grpc: cannot read the TLS ${role} file ${missing.replace(/[.]/g, '\\.')}: ENOENT$`));
  });

  it('refuses a directory, an empty file, a file that is not PEM and a key of another certificate', async () => {
    const base = { certFile: certs.server.certFile, keyFile: certs.server.keyFile };
    expect((await failure(loadServerTls({ ...base, certFile: certs.dir }, 'admin'))).message).toMatch(/cannot read the TLS certificate .*EISDIR/);
    const empty = file('empty.pem', '');
    expect((await failure(loadServerTls({ ...base, keyFile: empty }, 'admin'))).message).toBe(`admin: the TLS private key (key_file) file ${empty} is empty`);
    const garbage = file('garbage.pem', 'not a certificate\n');
    expect((await failure(loadServerTls({ ...base, certFile: garbage }, 'admin'))).message).toMatch(
      new RegExp(`certificate ${garbage} and private key .* cannot be used together: .*no start line`),
    );
    expect((await failure(loadServerTls({ ...base, keyFile: certs.client.keyFile }, 'admin'))).message).toMatch(/cannot be used together: .*key values mismatch/);
  });

  it('refuses a client CA file without a certificate in it (OpenSSL would trust nobody, silently)', async () => {
    const error = await failure(loadServerTls({ ...certs.server, clientCaFile: certs.server.keyFile }, 'otlp/http'));
    expect(error.message).toBe(`otlp/http: the TLS client CA (client_ca_file) file ${certs.server.keyFile} holds no PEM certificate`);
    const broken = file('broken-ca.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expect((await failure(loadServerTls({ ...certs.server, clientCaFile: broken }, 'otlp/http'))).message).toMatch(/holds a certificate that cannot be parsed/);
  });
});

describe('loadClientTls', () => {
  it('reads a CA alone, or a CA with a client certificate', async () => {
    expect(await loadClientTls({ caFile: certs.caFile }, 'storage')).toEqual({ ca: certs.ca });
    const mutual = await loadClientTls({ caFile: certs.caFile, certFile: certs.client.certFile, keyFile: certs.client.keyFile }, 'storage');
    expect(mutual.cert?.equals(certs.client.cert) && mutual.key?.equals(certs.client.key)).toBe(true);
  });

  it('needs both halves of a client certificate, and names missing files', async () => {
    expect((await failure(loadClientTls({ certFile: certs.client.certFile }, 'storage'))).message).toBe(
      'storage: a client certificate needs both cert_file and key_file; only cert_file is set',
    );
    const missing = join(certs.dir, 'nope.pem');
    expect((await failure(loadClientTls({ caFile: missing }, 'storage'))).message).toBe(`storage: cannot read the TLS CA (ca_file) file ${missing}: ENOENT`);
  });
});
