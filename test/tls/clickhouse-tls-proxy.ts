import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * HTTPS in front of a real ClickHouse HTTP server, for the storage TLS tests.
 *
 * The test ClickHouse is clickhouse-local inside libchdb (test/helpers/clickhouse-server.ts),
 * which cannot serve HTTPS: its `SYSTEM START LISTEN` takes only TCP and HTTP, and it has
 * no `--https_port` option. So TLS ends here (node:https, optionally requiring a client
 * certificate) and every request goes on, unchanged, to ClickHouse over plain HTTP.
 *
 * One part of ClickHouse's HTTPS interface is emulated: certificate authentication. A
 * client with a certificate sends `X-ClickHouse-SSL-Certificate-Auth: on`, and ClickHouse
 * then accepts the user when the certificate's CN is one the user is configured with, and
 * refuses a password alongside (error 516). The proxy applies that rule with
 * `certificateUsers`, then forwards the request as the password-less user.
 */
export interface ClickHouseTlsProxy {
  url: string;
  /** What the proxy saw, per request. */
  readonly requests: { clientCommonName: string | undefined; certificateAuth: boolean; path: string }[];
  close(): Promise<void>;
}

export interface ClickHouseTlsProxyOptions {
  /** The ClickHouse HTTP url, e.g. http://127.0.0.1:8123. */
  target: string;
  cert: Buffer;
  key: Buffer;
  /** Require client certificates signed by this CA. */
  clientCa?: Buffer;
  /** Certificate CN → the ClickHouse user it authenticates. */
  certificateUsers?: Record<string, string>;
}

export async function startClickHouseTlsProxy(options: ClickHouseTlsProxyOptions): Promise<ClickHouseTlsProxy> {
  const target = new URL(options.target);
  const requests: ClickHouseTlsProxy['requests'] = [];
  const server = https.createServer(
    {
      cert: options.cert,
      key: options.key,
      ...(options.clientCa !== undefined && { ca: options.clientCa, requestCert: true, rejectUnauthorized: true }),
    },
    (request, response) => {
      const socket = request.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      const commonName: string | string[] | undefined = peer?.subject?.CN;
      const clientCommonName = Array.isArray(commonName) ? commonName[0] : commonName;
      const headers = { ...request.headers };
      const certificateAuth = headers['x-clickhouse-ssl-certificate-auth'] === 'on';
      requests.push({ clientCommonName, certificateAuth, path: request.url ?? '' });
      if (certificateAuth) {
        const user = clientCommonName === undefined ? undefined : options.certificateUsers?.[clientCommonName];
        if (!socket.authorized || user === undefined || headers['x-clickhouse-user'] !== user || (headers['x-clickhouse-key'] ?? '') !== '') {
          request.resume();
          response.writeHead(403, { 'X-ClickHouse-Exception-Code': '516' });
          response.end(`Code: 516. DB::Exception: ${headers['x-clickhouse-user']}: Authentication failed (certificate CN ${clientCommonName}). (AUTHENTICATION_FAILED)\n`);
          return;
        }
        delete headers['x-clickhouse-ssl-certificate-auth'];
        delete headers['x-clickhouse-key'];
      }
      delete headers.host;
      delete headers.connection;
      const upstream = http.request(
        { host: target.hostname, port: Number(target.port), method: request.method, path: request.url, headers },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', (error) => {
        if (!response.headersSent) response.writeHead(502);
        response.end(`proxy: ${error.message}`);
      });
      request.pipe(upstream);
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
