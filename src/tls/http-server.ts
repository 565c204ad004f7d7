import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Logger } from '../admin/logger.js';
import type { ServerTlsMaterial } from './tls-files.js';

/** A node:http server, or node:https when the endpoint has TLS: both serve the same handler. */
export type HttpOrHttpsServer = http.Server | https.Server;

export interface HttpServerSettings {
  /** Without it, plain HTTP. */
  tls?: ServerTlsMaterial;
  /** Slowloris guard: time from connection (or the end of the previous request) to the last header byte. */
  headersTimeoutMs?: number;
  /** Slowloris guard: time to receive the whole request, body included (not to answer it). */
  requestTimeoutMs?: number;
  /** Logs refused TLS handshakes (a missing or untrusted client certificate shows up only here). */
  logger: Logger;
}

/**
 * Node checks the two request timeouts on a timer (30 s by default), so a 10 s header
 * timeout could hold a socket for 40 s; checking at a quarter of the shortest timeout keeps
 * the overshoot small without a busy timer.
 */
function checkingIntervalMs(timeouts: number[]): number {
  return Math.min(1000, Math.max(50, Math.floor(Math.min(...timeouts) / 4)));
}

export function createHttpOrHttpsServer(
  settings: HttpServerSettings,
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): HttpOrHttpsServer {
  const options: http.ServerOptions = {};
  const { requestTimeoutMs } = settings;
  // Node refuses a header timeout above the request timeout; the request timeout covers both anyway.
  const headersTimeoutMs =
    settings.headersTimeoutMs !== undefined && requestTimeoutMs !== undefined
      ? Math.min(settings.headersTimeoutMs, requestTimeoutMs)
      : settings.headersTimeoutMs;
  if (headersTimeoutMs !== undefined) options.headersTimeout = headersTimeoutMs;
  if (requestTimeoutMs !== undefined) options.requestTimeout = requestTimeoutMs;
  const timeouts = [headersTimeoutMs, requestTimeoutMs].filter((t): t is number => t !== undefined);
  if (timeouts.length > 0) options.connectionsCheckingInterval = checkingIntervalMs(timeouts);

  const { tls } = settings;
  if (tls === undefined) return http.createServer(options, handler);
  const server = https.createServer(
    {
      ...options,
      cert: tls.cert,
      key: tls.key,
      // A client that stalls in the handshake holds a socket just like one stalling in its headers.
      ...(headersTimeoutMs !== undefined && { handshakeTimeout: headersTimeoutMs }),
      ...(tls.clientCa !== undefined && { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
    },
    handler,
  );
  server.on('tlsClientError', (error: Error & { code?: string }) => {
    settings.logger.debug({ err: error.message, code: error.code }, 'TLS handshake refused');
  });
  return server;
}
