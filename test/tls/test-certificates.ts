import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Throwaway certificates for the TLS tests, made with the `openssl` command in a temporary
 * directory: a CA, a server certificate it signed (for localhost and 127.0.0.1), a client
 * certificate it signed, and a client certificate signed by an unrelated CA.
 */

export interface KeyPair {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface TestCertificates {
  dir: string;
  /** The test CA's certificate (the key stays in `dir`). */
  caFile: string;
  ca: Buffer;
  server: KeyPair;
  /** CN `test-client`, signed by the test CA. */
  client: KeyPair;
  /** CN `intruder`, signed by another CA: must be refused where a client CA is required. */
  foreignClient: KeyPair;
  /** The other CA's certificate. */
  foreignCaFile: string;
  dispose(): void;
}

const run = promisify(execFile);

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr ?? String(error);
    throw new Error(`openssl ${args[0]} failed (the TLS tests need the openssl command):\n${detail}`);
  }
}

// P-256 keys: generated in milliseconds, unlike RSA.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string, commonName: string): Promise<void> {
  await openssl(dir, [
    'req', '-x509', ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

async function makeLeaf(dir: string, name: string, ca: string, commonName: string, extensions: string): Promise<KeyPair> {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  await openssl(dir, ['req', '-new', ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`]);
  const serial = `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
  await openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', serial,
    '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`,
  ]);
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

export async function createTestCertificates(): Promise<TestCertificates> {
  const dir = mkdtempSync(join(tmpdir(), 'spanscore-tls-'));
  try {
    await Promise.all([makeCa(dir, 'ca', 'spanscore test CA'), makeCa(dir, 'foreign-ca', 'some other CA')]);
    const [server, client, foreignClient] = await Promise.all([
      makeLeaf(dir, 'server', 'ca', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'),
      makeLeaf(dir, 'client', 'ca', 'test-client', 'extendedKeyUsage=clientAuth\n'),
      makeLeaf(dir, 'foreign-client', 'foreign-ca', 'intruder', 'extendedKeyUsage=clientAuth\n'),
    ]);
    const caFile = join(dir, 'ca.pem');
    return {
      dir,
      caFile,
      ca: readFileSync(caFile),
      server,
      client,
      foreignClient,
      foreignCaFile: join(dir, 'foreign-ca.pem'),
      dispose: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
