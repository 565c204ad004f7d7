import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SpanscoreConfig } from '../../config/spanscore-config.js';
import type { Logger } from '../logger.js';
import type { AdminContext } from './admin-context.js';
import { MAX_BODY_BYTES, readJsonBody } from './api-body.js';
import { ApiError } from './api-error.js';
import { StorageDisabledError } from '../../storage/no-storage.js';
import { RequestAuth } from './request-auth.js';

/** Everything a handler gets: the daemon, who asked, and the request's parts. */
export interface ApiCall {
  ctx: AdminContext;
  auth: RequestAuth;
  /** `:name` segments of the route, decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** Reads the JSON body (read lazily, so a refused permission never costs a body read). */
  body(): Promise<unknown>;
}

export interface ApiResult {
  status?: number;
  body: unknown;
}

export interface ApiRoute {
  method: 'GET' | 'POST';
  /** Below the API prefix, with `:name` segments, e.g. `/jobs/:id`. */
  path: string;
  handler: (call: ApiCall) => Promise<ApiResult>;
  /** Largest body accepted, when not MAX_BODY_BYTES (the endpoints taking a filter, whose limit is configured). */
  maxBodyBytes?: (config: SpanscoreConfig) => number;
}

/** Where the API lives on the admin endpoint. */
export const API_PREFIX = '/api/v1';

/**
 * Dispatches `/api/v1/...` requests. Every request is authenticated before routing, so
 * without a key the API answers 401 whatever the path; then 404 (no such path) or 405 (path
 * known, other method), then the handler, whose ApiErrors become `{error: {code, message}}`.
 */
export class ApiRouter {
  readonly #routes: { route: ApiRoute; segments: string[] }[];

  constructor(
    private readonly ctx: AdminContext,
    routes: ApiRoute[],
    private readonly logger: Logger,
  ) {
    this.#routes = routes.map((route) => ({ route, segments: splitPath(route.path) }));
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      const result = await this.#dispatch(req, url);
      sendJson(res, result.status ?? 200, result.body);
    } catch (error) {
      if (error instanceof ApiError) {
        sendJson(res, error.status, error.body, error.headers);
        return;
      }
      if (error instanceof StorageDisabledError) {
        sendJson(res, 501, new ApiError(501, 'UNIMPLEMENTED', error.message).body);
        return;
      }
      this.logger.error({ err: error, path: url.pathname }, 'admin API request failed');
      const failure = new ApiError(500, 'INTERNAL', `internal error: ${(error as Error).message}`);
      sendJson(res, 500, failure.body);
    }
  }

  async #dispatch(req: IncomingMessage, url: URL): Promise<ApiResult> {
    const auth = RequestAuth.authenticate(this.ctx.keys(), req.headers.authorization);
    const segments = splitPath(url.pathname.slice(API_PREFIX.length));
    const allowed: string[] = [];
    for (const { route, segments: pattern } of this.#routes) {
      const params = matchSegments(pattern, segments);
      if (params === undefined) continue;
      if (route.method !== req.method) {
        allowed.push(route.method);
        continue;
      }
      const bodyLimit = route.maxBodyBytes?.(this.ctx.config()) ?? MAX_BODY_BYTES;
      return route.handler({ ctx: this.ctx, auth, params, query: url.searchParams, body: () => readJsonBody(req, bodyLimit) });
    }
    if (allowed.length > 0) {
      throw new ApiError(405, 'METHOD_NOT_ALLOWED', `method ${req.method} not allowed on ${url.pathname}: use ${allowed.join(', ')}`, undefined, {
        Allow: allowed.join(', '),
      });
    }
    throw new ApiError(404, 'NOT_FOUND', `no such API path ${url.pathname}`);
  }
}

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

/** The `:name` values when `actual` fits `pattern`, else undefined. Malformed %-escapes do not fit. */
function matchSegments(pattern: string[], actual: string[]): Record<string, string> | undefined {
  if (pattern.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!;
    if (want.startsWith(':')) {
      try {
        params[want.slice(1)] = decodeURIComponent(actual[i]!);
      } catch {
        return undefined;
      }
    } else if (want !== actual[i]) {
      return undefined;
    }
  }
  return params;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
