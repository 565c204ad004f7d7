import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import { constants as zlibConstants, gunzip, gzip } from 'node:zlib';
import type { ClientTlsSpec } from '../config/spanscore-config.js';
import { loadClientTls } from '../tls/tls-files.js';
import { describeErrorBody, parsePartialSuccess, parseRetryAfter, type BodyEncoding } from './export-response.js';
import { permanent, retryable, success, type OtlpSender, type SendOutcome } from './send-outcome.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export interface OtlpHttpSenderOptions {
  /** The full URL requests are POSTed to. */
  url: string;
  /** The encoding of the bodies `send` is given (and of the Content-Type). */
  encoding: BodyEncoding;
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  timeoutMs: number;
  tls: ClientTlsSpec;
  userAgent: string;
  /** Names the exporter in TLS file errors. */
  owner: string;
}

/** Enough for any ExportTraceServiceResponse or error Status; more is not read. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** OTLP/HTTP §Failures: the only statuses worth retrying. */
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);

const CONTENT_TYPES: Record<BodyEncoding, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

/** OTLP/HTTP client for one URL: one keep-alive agent, shared by the queue's consumers. */
export class OtlpHttpSender implements OtlpSender {
  private readonly url: URL;
  private readonly request: typeof http.request;
  private agentLoad: Promise<http.Agent> | undefined;
  private agent: http.Agent | undefined;
  private closed = false;

  constructor(private readonly options: OtlpHttpSenderOptions) {
    this.url = new URL(options.url);
    this.request = this.url.protocol === 'https:' ? https.request : http.request;
  }

  ready(): Promise<void> {
    return this.loadAgent().then(() => undefined);
  }

  async send(body: Uint8Array, signal: AbortSignal): Promise<SendOutcome> {
    let agent: http.Agent;
    try {
      agent = await this.loadAgent();
    } catch (error) {
      // Unreadable TLS files stay unreadable: retrying would only delay the same error.
      return permanent((error as Error).message);
    }
    // BestSpeed (level 1): on a 1,000-span request 2.5 µs of CPU per span
    // for 7.8x, against 7.1 µs for 8.5x at zlib's default level.
    const payload = this.options.compression === 'gzip' ? await gzipAsync(body, { level: zlibConstants.Z_BEST_SPEED }) : body;
    return this.post(agent, payload, signal);
  }

  close(): void {
    this.closed = true;
    this.agent?.destroy();
  }

  /** TLS files are read once, on first use (or `ready()`), so a bad file fails the start, not each request. */
  private loadAgent(): Promise<http.Agent> {
    this.agentLoad ??= this.createAgent();
    return this.agentLoad;
  }

  private async createAgent(): Promise<http.Agent> {
    if (this.url.protocol !== 'https:') {
      this.agent = new http.Agent({ keepAlive: true });
    } else {
      const { tls } = this.options;
      const material = await loadClientTls(tls, this.options.owner);
      this.agent = new https.Agent({
        keepAlive: true,
        ...material,
        rejectUnauthorized: !tls.insecureSkipVerify,
        // The name sent in SNI and checked against the certificate, when it is not the URL's host.
        ...(tls.serverNameOverride !== undefined && { servername: tls.serverNameOverride }),
      });
    }
    if (this.closed) this.agent.destroy();
    return this.agent;
  }

  private post(agent: http.Agent, payload: Uint8Array, signal: AbortSignal): Promise<SendOutcome> {
    const { options } = this;
    const headers: Record<string, string | number> = { 'user-agent': options.userAgent };
    for (const [name, value] of Object.entries(options.headers)) headers[name.toLowerCase()] = value;
    // After the configured headers: a header in the config must not garble the body's description.
    headers['content-type'] = CONTENT_TYPES[options.encoding];
    headers['content-length'] = payload.byteLength;
    if (options.compression === 'gzip') headers['content-encoding'] = 'gzip';
    else delete headers['content-encoding'];

    return new Promise((resolve) => {
      let settled = false;
      const finish = (outcome: SendOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const request = this.request(this.url, { method: 'POST', agent, headers }, (response) => {
        void this.readResponse(response).then(finish, (error: Error) => finish(retryable(`reading the response failed: ${error.message}`)));
      });
      const timer = setTimeout(() => request.destroy(new Error(`no response within the ${options.timeoutMs} ms timeout`)), options.timeoutMs);
      const onAbort = () => request.destroy(new Error('aborted: the shutdown deadline passed'));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      // Connection refused, reset, TLS handshake failures, timeouts: the OTLP spec retries them all.
      request.on('error', (error: NodeJS.ErrnoException) => finish(retryable(error.code ? `${error.code}: ${error.message}` : error.message)));
      request.end(payload);
    });
  }

  private async readResponse(response: http.IncomingMessage): Promise<SendOutcome> {
    const status = response.statusCode ?? 0;
    let body = await readCapped(response);
    if (/\bgzip\b/i.test(String(response.headers['content-encoding'] ?? ''))) {
      body = await gunzipAsync(body).catch(() => Buffer.alloc(0));
    }
    const contentType = String(response.headers['content-type'] ?? '');
    const encoding: BodyEncoding = /json/i.test(contentType) ? 'json' : /protobuf/i.test(contentType) ? 'protobuf' : this.options.encoding;
    if (status >= 200 && status < 300) {
      const partial = parsePartialSuccess(body, encoding);
      return success(partial?.rejectedSpans ?? 0, partial?.errorMessage ?? '');
    }
    const detail = describeErrorBody(body, encoding);
    const message = `HTTP ${status}${detail === '' ? '' : `: ${detail}`}`;
    if (RETRYABLE_STATUSES.has(status)) return retryable(message, parseRetryAfter(headerValue(response.headers['retry-after'])));
    return permanent(message);
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The body, up to MAX_RESPONSE_BYTES; the rest is drained so the socket can be reused. */
function readCapped(response: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    response.on('data', (chunk: Buffer) => {
      if (length >= MAX_RESPONSE_BYTES) return;
      chunks.push(chunk);
      length += chunk.byteLength;
    });
    response.on('end', () => resolve(Buffer.concat(chunks)));
    response.on('error', reject);
    response.on('aborted', () => reject(new Error('the response was cut off')));
  });
}
