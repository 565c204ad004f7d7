import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonConfig } from '../../helpers/daemon-config.js';
import { startDaemon } from '../../helpers/daemon-process.js';

/** The keys every API test daemon knows, by name: the key text is the name plus a random tail. */
export const KEY_SPECS = {
  admin: { projects: ['*'], permissions: ['ingest', 'read', 'update'] },
  readerAll: { projects: ['*'], permissions: ['read'] },
  ingestOnly: { projects: ['*'], permissions: ['ingest'] },
  readerAlpha: { projects: ['alpha'], permissions: ['read'] },
  updaterAlpha: { projects: ['alpha'], permissions: ['read', 'update'] },
  beta: { projects: ['beta'], permissions: ['read', 'update'] },
} as const;
export type KeyName = keyof typeof KEY_SPECS;

const SALT = randomBytes(6).toString('hex');
export const KEYS = Object.fromEntries(Object.keys(KEY_SPECS).map((name) => [name, `ss_${name}_${SALT}`])) as Record<KeyName, string>;

/** `auth:` YAML admitting KEYS, with hashes computed here as an operator's tool would. */
export function authYaml(): string {
  const lines = Object.entries(KEY_SPECS).map(([name, spec]) => {
    const hash = createHash('sha256').update(KEYS[name as KeyName]).digest('hex');
    return `    - { name: ${name}, hash: "sha256:${hash}", projects: [${spec.projects.map((p) => JSON.stringify(p)).join(', ')}], permissions: [${spec.permissions.join(', ')}] }`;
  });
  return `auth:\n  keys:\n${lines.join('\n')}\n`;
}

/** A span to store; ids are hex, times ns since the epoch. */
export interface TestSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name?: string;
  project?: string;
  attributes?: Record<string, string>;
  startNs?: bigint;
}

export interface ApiUnderTest {
  /** host:port of the admin endpoint. */
  admin: string;
  /** Sends spans over OTLP/HTTP and waits until all are readable. */
  send(spans: TestSpan[]): Promise<void>;
  /** A read-only query through the API (the daemon holds the embedded store). */
  sql<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  stop(): Promise<void>;
}

/** The daemon's admin limits, and where it stores (a real embedded ClickHouse unless `clickhouseUrl`). */
export interface ApiOptions {
  maxQueryRows?: number;
  backfillMaxSpans?: number;
  maxFilterBytes?: number;
  /** A ClickHouse server (test/helpers/clickhouse-server.ts) instead of the embedded engine. */
  clickhouseUrl?: string;
}

/** A real daemon process over a real ClickHouse (embedded unless told otherwise), with the test keys and `extraYaml`. */
export async function startApi(extraYaml: string, limits: ApiOptions = {}, env?: NodeJS.ProcessEnv): Promise<ApiUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'spanscore-api-'));
  const filterLimit = limits.maxFilterBytes === undefined ? '' : `, max_filter_bytes: ${limits.maxFilterBytes}`;
  const adminYaml = `admin: { endpoint: 127.0.0.1:0, max_query_rows: ${limits.maxQueryRows ?? 1000}, backfill_max_spans: ${limits.backfillMaxSpans ?? 150}${filterLimit} }`;
  const storage = limits.clickhouseUrl !== undefined ? { url: limits.clickhouseUrl } : { embeddedPath: join(dir, 'clickhouse') };
  const yaml = daemonConfig({ ...storage, grpc: false, extra: `${extraYaml}\n${authYaml()}` }).replace('admin: { endpoint: 127.0.0.1:0 }', adminYaml);
  const daemon = await startDaemon(yaml, env === undefined ? {} : { env });
  const admin = daemon.addresses.admin;
  const api: ApiUnderTest = {
    admin,
    async send(spans) {
      const response = await fetch(`http://${daemon.addresses.http}/v1/traces`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEYS.admin}` },
        body: JSON.stringify(otlpJson(spans)),
      });
      if (response.status !== 200) throw new Error(`export refused: ${response.status} ${await response.text()}`);
      await waitReadable(api, spans);
    },
    sql: (sql) => apiSql(admin, sql),
    async stop() {
      const code = await daemon.stop('SIGTERM');
      if (code !== 0) throw new Error(`daemon exited with ${code}`);
    },
  };
  return api;
}

async function apiSql<T>(admin: string, sql: string): Promise<T[]> {
  const response = await fetch(`http://${admin}/api/v1/query`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEYS.admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ sql }),
  });
  const body = (await response.json()) as { rows: T[] };
  if (response.status !== 200) throw new Error(`query failed: ${JSON.stringify(body)}`);
  return body.rows;
}

async function waitReadable(api: ApiUnderTest, spans: TestSpan[]): Promise<void> {
  const ids = spans.map((s) => `'${s.spanId}'`).join(',');
  for (let i = 0; i < 200; i++) {
    const [row] = await api.sql<{ n: string }>(`SELECT count() AS n FROM otel_traces WHERE SpanId IN (${ids}) AND ScopeName != 'spanscore'`);
    if (Number(row?.n) >= spans.length) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('sent spans never became readable');
}

export const randomTraceId = (): string => randomBytes(16).toString('hex');
export const randomSpanId = (): string => randomBytes(8).toString('hex');
export const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

const DEFAULT_ATTRIBUTES = { 'input.value': 'q', 'output.value': 'a', expected: 'a' };

function otlpJson(spans: TestSpan[]) {
  const byProject = new Map<string, TestSpan[]>();
  for (const span of spans) byProject.set(span.project ?? 'alpha', [...(byProject.get(span.project ?? 'alpha') ?? []), span]);
  return {
    resourceSpans: [...byProject].map(([project, group]) => ({
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: 'api-test' } },
          { key: 'spanscore.project', value: { stringValue: project } },
        ],
      },
      scopeSpans: [
        {
          scope: { name: 'api-test', version: '1' },
          spans: group.map((span) => {
            const start = span.startNs ?? nowNs();
            return {
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name ?? 'chat',
              kind: 2,
              startTimeUnixNano: String(start),
              endTimeUnixNano: String(start + 1_000_000n),
              attributes: Object.entries(span.attributes ?? DEFAULT_ATTRIBUTES).map(([key, value]) => ({ key, value: { stringValue: value } })),
              status: { code: 0 },
            };
          }),
        },
      ],
    })),
  };
}

/** A request to the API with a key (or none), returning status and parsed body. */
export async function call(
  admin: string,
  method: string,
  path: string,
  options: { key?: KeyName; body?: unknown; rawBody?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (options.key) headers.Authorization = `Bearer ${KEYS[options.key]}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const response = await fetch(`http://${admin}/api/v1${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text), headers: response.headers };
}
