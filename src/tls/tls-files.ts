import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { ServerTlsFiles } from '../config/spanscore-config.js';

export type { ServerTlsFiles };

/**
 * TLS material read from the files the config names. Files are read when a component
 * starts (not when the config is loaded) so that a rotated certificate is picked up by a
 * restart, and every problem is reported before anything listens, naming the file.
 */

/** A TLS file is missing, unreadable or not what it should be. Startup fails with it. */
export class TlsFileError extends Error {
  override readonly name = 'TlsFileError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** What a server listening with TLS needs. */
export interface ServerTlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Present when clients must show a certificate signed by one of these CAs. */
  clientCa?: Buffer;
}

/** What a client needs: CAs to trust and, for mutual TLS, its own certificate and key. */
export interface ClientTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface ClientTlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * Reads and checks a server's certificate, key and optional client CA. `owner` names the
 * component in errors (e.g. `otlp/http`).
 */
export async function loadServerTls(files: ServerTlsFiles, owner: string): Promise<ServerTlsMaterial> {
  const [cert, key, clientCa] = await Promise.all([
    readTlsFile(files.certFile, 'certificate (cert_file)', owner),
    readTlsFile(files.keyFile, 'private key (key_file)', owner),
    files.clientCaFile === undefined ? undefined : readTlsFile(files.clientCaFile, 'client CA (client_ca_file)', owner),
  ]);
  checkKeyPair(cert, key, files.certFile, files.keyFile, owner);
  if (clientCa !== undefined) checkCertificates(clientCa, files.clientCaFile!, 'client CA (client_ca_file)', owner);
  return clientCa === undefined ? { cert, key } : { cert, key, clientCa };
}

/** Reads and checks a client's CA and optional certificate and key (both or neither). */
export async function loadClientTls(files: ClientTlsFiles, owner: string): Promise<ClientTlsMaterial> {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new TlsFileError(`${owner}: a client certificate needs both cert_file and key_file; only ${files.certFile !== undefined ? 'cert_file' : 'key_file'} is set`);
  }
  const [ca, cert, key] = await Promise.all([
    files.caFile === undefined ? undefined : readTlsFile(files.caFile, 'CA (ca_file)', owner),
    files.certFile === undefined ? undefined : readTlsFile(files.certFile, 'client certificate (cert_file)', owner),
    files.keyFile === undefined ? undefined : readTlsFile(files.keyFile, 'client private key (key_file)', owner),
  ]);
  if (ca !== undefined) checkCertificates(ca, files.caFile!, 'CA (ca_file)', owner);
  if (cert !== undefined && key !== undefined) checkKeyPair(cert, key, files.certFile!, files.keyFile!, owner);
  return { ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }) };
}

async function readTlsFile(path: string, role: string, owner: string): Promise<Buffer> {
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new TlsFileError(`${owner}: cannot read the TLS ${role} file ${path}: ${reason}`, { cause: error });
  }
  if (content.length === 0) throw new TlsFileError(`${owner}: the TLS ${role} file ${path} is empty`);
  return content;
}

/**
 * OpenSSL finds a bad PEM, a key of another type or a key that does not belong to the
 * certificate here, instead of at the first handshake (where nobody would read the error).
 */
function checkKeyPair(cert: Buffer, key: Buffer, certFile: string, keyFile: string, owner: string): void {
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsFileError(
      `${owner}: the TLS certificate ${certFile} and private key ${keyFile} cannot be used together: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** OpenSSL silently skips what is not a certificate in a CA bundle, which would trust nothing. */
function checkCertificates(bundle: Buffer, file: string, role: string, owner: string): void {
  const blocks = bundle.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsFileError(`${owner}: the TLS ${role} file ${file} holds no PEM certificate`);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new TlsFileError(`${owner}: the TLS ${role} file ${file} holds a certificate that cannot be parsed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}
