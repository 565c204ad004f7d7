import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DaemonMetrics } from './daemon-metrics.js';
import type { Logger } from './logger.js';
import { parseEndpoint } from '../receivers/endpoint.js';
import { createHttpOrHttpsServer, type HttpOrHttpsServer } from '../tls/http-server.js';
import { loadServerTls, type ServerTlsFiles } from '../tls/tls-files.js';
import type { AdminContext } from './api/admin-context.js';
import { API_PREFIX, ApiRouter } from './api/api-router.js';
import { apiRoutes } from './api/api-routes.js';

export interface AdminServerOptions {
  endpoint: string;
  metrics: DaemonMetrics;
  logger: Logger;
  /** Ready once receivers listen and ClickHouse answers; the reason is shown when not. */
  readiness: () => Promise<{ ready: boolean; reason?: string }>;
  /** The JSON API under `/api/v1` (keyed); without it only the open endpoints are served. */
  api?: AdminContext;
  /** HTTPS with this certificate and key; with `clientCaFile`, every client (probes too) needs a certificate it signed. */
  tls?: ServerTlsFiles;
}

/**
 * The admin endpoint, like the Collector's health_check extension plus its Prometheus
 * telemetry: `/healthz` (the process is alive), `/readyz` (it can take traffic), `/metrics`.
 * Those stay open without a key (probes and scrapers carry none); the JSON API under
 * `/api/v1` asks for one.
 */
export class AdminServer {
  private server?: HttpOrHttpsServer;
  private readonly api?: ApiRouter;

  constructor(private readonly options: AdminServerOptions) {
    if (options.api) this.api = new ApiRouter(options.api, apiRoutes(), options.logger);
  }

  async start(): Promise<string> {
    const { host, port } = parseEndpoint(this.options.endpoint);
    const tls = this.options.tls === undefined ? undefined : await loadServerTls(this.options.tls, 'admin');
    const server = createHttpOrHttpsServer({ tls, logger: this.options.logger }, (req, res) => {
      this.handle(req, res).catch((error) => {
        this.options.logger.error({ err: error }, 'admin request failed');
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host === '' ? undefined : host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    return `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Prefixed rather than resolved against a base: a path like `//x/y` must stay a path, not name a host.
    const target = req.url ?? '/';
    const url = new URL(`http://admin${target.startsWith('/') ? target : `/${target}`}`);
    if (url.pathname === API_PREFIX || url.pathname.startsWith(`${API_PREFIX}/`)) {
      if (this.api) return this.api.handle(req, res, url);
      return send(res, 404, { error: { code: 'NOT_FOUND', message: 'the admin API is not enabled in this process' } });
    }
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, { error: `method ${req.method} not allowed on ${path}` });
    }
    switch (path) {
      case '/healthz':
        return send(res, 200, { status: 'ok' });
      case '/readyz': {
        const { ready, reason } = await this.options.readiness();
        return send(res, ready ? 200 : 503, ready ? { status: 'ready' } : { status: 'not ready', reason });
      }
      case '/metrics': {
        const body = await this.options.metrics.registry.metrics();
        res.writeHead(200, { 'Content-Type': this.options.metrics.registry.contentType });
        res.end(body);
        return;
      }
      default:
        return send(res, 404, { error: `no such path ${path}: try /healthz, /readyz, /metrics or ${API_PREFIX}/...` });
    }
  }

  async shutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
