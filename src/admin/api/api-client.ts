import { loadConfig } from '../../config/config-loader.js';
import { parseEndpoint } from '../../receivers/endpoint.js';
import { API_PREFIX } from './api-router.js';

/** Where the CLI finds the running daemon's admin API, and the key it sends. */
export interface ApiTarget {
  /** `http://host:port`. */
  origin: string;
  key: string | undefined;
}

/** Env variable holding the key when `--key` is not given (keeps it out of shell history and `ps`). */
export const API_KEY_ENV = 'SPANSCORE_API_KEY';

/** The API refused, or could not be reached; `message` is what to show the user. */
export class ApiClientError extends Error {
  override readonly name = 'ApiClientError';
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * The target from `--admin host:port`, else from the admin endpoint of `--config FILE`. A
 * wildcard listen address (0.0.0.0, ::) is reached on loopback; port 0 (pick any) cannot be
 * reached at all, so that needs `--admin`.
 */
export function resolveApiTarget(options: { config?: string; admin?: string; key?: string }, env: NodeJS.ProcessEnv = process.env): ApiTarget {
  const key = options.key ?? (env[API_KEY_ENV] || undefined);
  let endpoint = options.admin;
  if (endpoint === undefined) {
    if (options.config === undefined) throw new ApiClientError('say which daemon: --admin host:port, or --config FILE (its admin endpoint)');
    endpoint = loadConfig(options.config).admin.endpoint;
  }
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseEndpoint(endpoint));
  } catch (error) {
    throw new ApiClientError(`admin endpoint ${JSON.stringify(endpoint)}: ${(error as Error).message}`);
  }
  if (port === 0) throw new ApiClientError(`admin endpoint ${endpoint} listens on a random port: give the bound address with --admin host:port`);
  const bare = host.replace(/^\[|\]$/g, '');
  const reachable = bare === '' || bare === '0.0.0.0' ? '127.0.0.1' : bare === '::' ? '[::1]' : bare.includes(':') ? `[${bare}]` : bare;
  return { origin: `http://${reachable}:${port}`, key };
}

/** A thin JSON client of `/api/v1`: errors come back as ApiClientError with the API's own message. */
export class AdminApiClient {
  constructor(private readonly target: ApiTarget) {}

  get<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, value);
    const suffix = search.size > 0 ? `?${search}` : '';
    return this.#request<T>('GET', `${path}${suffix}`);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.#request<T>('POST', path, JSON.stringify(body));
  }

  async #request<T>(method: string, path: string, body?: string): Promise<T> {
    const url = `${this.target.origin}${API_PREFIX}${path}`;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.target.key !== undefined) headers.Authorization = `Bearer ${this.target.key}`;
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiClientError(`cannot reach the spanscore admin endpoint at ${this.target.origin}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new ApiClientError(`${method} ${url}: HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`, response.status);
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } | string } | undefined)?.error;
      const message = typeof error === 'string' ? error : (error?.message ?? `HTTP ${response.status}`);
      throw new ApiClientError(message, response.status, typeof error === 'object' ? error.code : undefined);
    }
    return parsed as T;
  }
}
