import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/** Clients for the TLS tests: one request over https (or plain http), no agent, no retries. */

export interface TlsClientOptions {
  /** CAs to trust; without it Node's bundled roots, which do not include the test CA. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export interface PlainResult {
  status: number;
  body: string;
}

function send(request: http.ClientRequest, body: Buffer | string | undefined, resolve: (r: PlainResult) => void, reject: (e: Error) => void): void {
  request.on('response', (response) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    response.on('error', reject);
  });
  request.on('error', reject);
  request.setTimeout(5000, () => request.destroy(new Error('no answer within 5 s')));
  request.end(body);
}

export function httpsRequest(address: string, options: TlsClientOptions): Promise<PlainResult> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const request = https.request({
      host,
      port,
      method: options.method ?? 'GET',
      path: options.path ?? '/',
      headers: options.headers,
      agent: false,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
    });
    send(request, options.body, resolve, reject);
  });
}

/** Plain HTTP, to check that a TLS port does not answer it. */
export function plainHttpRequest(address: string, options: Omit<TlsClientOptions, 'ca' | 'cert' | 'key'>): Promise<PlainResult> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const request = http.request({ host, port, method: options.method ?? 'GET', path: options.path ?? '/', headers: options.headers, agent: false });
    send(request, options.body, resolve, reject);
  });
}

/** The error a request failed with; fails the test when it succeeded instead. */
export async function failureOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  const outcome = await promise.then(
    (value) => ({ ok: true as const, value }),
    (error: Error) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected the request to fail, got ${JSON.stringify(outcome.value)}`);
  return outcome.error;
}

/** Connects without ever starting a handshake; resolves with how long until the server hung up. */
export function idleConnection(address: string): Promise<number> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, host);
    socket.on('error', () => undefined);
    socket.resume();
    socket.on('close', () => resolve(Date.now() - started));
  });
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
