import http from 'node:http';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DaemonMetrics } from '../../src/admin/daemon-metrics.js';
import { HttpReceiver } from '../../src/receivers/http-receiver.js';
import { counterValue, encodeRequest, goodProtobufRequest, httpRequest, logger, noAuth, RecordingConsumer, testMetrics } from './receiver-test-kit.js';

const HEADER_TIMEOUT_MS = 500;
const READ_TIMEOUT_MS = 1500;
const PROTOBUF = { 'Content-Type': 'application/x-protobuf' };

let consumer: RecordingConsumer;
let metrics: DaemonMetrics;
let receiver: HttpReceiver;
let address: string;
let port: number;

beforeEach(async () => {
  consumer = new RecordingConsumer();
  metrics = testMetrics();
  receiver = new HttpReceiver({
    endpoint: '127.0.0.1:0',
    consumer,
    metrics,
    logger,
    auth: noAuth,
    readHeaderTimeoutMs: HEADER_TIMEOUT_MS,
    readTimeoutMs: READ_TIMEOUT_MS,
  });
  address = await receiver.start();
  port = Number(address.split(':')[1]);
});

afterEach(async () => {
  await receiver.shutdown(1000);
});

interface SlowResult {
  /** Everything the server wrote back. */
  answer: string;
  /** From connecting until the server closed the socket. */
  closedAfterMs: number;
  /** Bytes written before the server closed the socket. */
  bytesSent: number;
}

/** Writes `text` a few bytes at a time, every `intervalMs`, until done or until the server hangs up. */
function trickle(text: string, options: { intervalMs: number; bytesPerTick?: number; startAt?: number }): Promise<SlowResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    let sent = options.startAt ?? 0;
    if (sent > 0) socket.write(text.slice(0, sent)); // queued until connected, like the ticks
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    socket.on('error', () => undefined);
    const timer = setInterval(() => {
      if (socket.destroyed || sent >= text.length) return;
      const next = Math.min(text.length, sent + (options.bytesPerTick ?? 1));
      socket.write(text.slice(sent, next));
      sent = next;
    }, options.intervalMs);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ answer, closedAfterMs: Date.now() - started, bytesSent: sent });
    });
  });
}

/** Good requests one after the other while `busy` runs: every one answered 200, promptly. */
async function serveMeanwhile<T>(busy: Promise<T>): Promise<{ result: T; served: number; slowestMs: number }> {
  let done = false;
  let served = 0;
  let slowestMs = 0;
  const others = (async () => {
    while (!done) {
      const started = Date.now();
      const result = await httpRequest(address, { headers: PROTOBUF, body: goodProtobufRequest(`meanwhile-${served}`) });
      expect(result.status).toBe(200);
      slowestMs = Math.max(slowestMs, Date.now() - started);
      served++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const result = await busy;
  done = true;
  await others;
  return { result, served, slowestMs };
}

const HEAD = 'POST /v1/traces HTTP/1.1\r\nHost: spanscore\r\nContent-Type: application/x-protobuf\r\n';

describe('slow clients (slowloris)', () => {
  it('a client sending its headers byte by byte gets 408 and is cut at the header timeout; others are served meanwhile', async () => {
    const headers = `${HEAD}X-Padding: ${'p'.repeat(200)}\r\nContent-Length: 0\r\n\r\n`;
    const { result, served, slowestMs } = await serveMeanwhile(trickle(headers, { intervalMs: 20 }));
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(result.bytesSent).toBeLessThan(headers.length);
    expect(result.closedAfterMs).toBeGreaterThanOrEqual(HEADER_TIMEOUT_MS - 50);
    expect(result.closedAfterMs).toBeLessThan(HEADER_TIMEOUT_MS + 1000);
    expect(served).toBeGreaterThan(3);
    expect(slowestMs).toBeLessThan(1000);
  });

  it('a connection that never sends anything is closed at the header timeout', async () => {
    const result = await trickle('', { intervalMs: 1000 });
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.closedAfterMs).toBeLessThan(HEADER_TIMEOUT_MS + 1000);
  });

  it('a client sending its body slowly gets 408 and is cut at the read timeout; nothing is stored', async () => {
    const body = goodProtobufRequest('slow-body');
    const request = `${HEAD}Content-Length: ${body.length}\r\n\r\n${body.toString('latin1')}`;
    // Headers at once, then one body byte every 40 ms: the body would need several seconds.
    const { result, served } = await serveMeanwhile(trickle(request, { intervalMs: 40, startAt: HEAD.length + 25 }));
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(result.closedAfterMs).toBeGreaterThanOrEqual(READ_TIMEOUT_MS - 50);
    expect(result.closedAfterMs).toBeLessThan(READ_TIMEOUT_MS + 1000);
    expect(served).toBeGreaterThan(5);
    expect(consumer.spans.some((s) => s.SpanName === 'slow-body')).toBe(false);
  });

  it('slow storage is not the client being slow: a request held longer than the read timeout is answered', async () => {
    const release = consumer.hold();
    const pending = httpRequest(address, { headers: PROTOBUF, body: goodProtobufRequest('held') });
    await new Promise((resolve) => setTimeout(resolve, READ_TIMEOUT_MS + 700));
    release();
    expect((await pending).status).toBe(200);
    expect(consumer.spans.map((s) => s.SpanName)).toContain('held');
  });
});

describe('a flood of tiny requests', () => {
  it('2,000 concurrent span-less requests over 50 connections are all answered, and another client is served meanwhile', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    const empty = encodeRequest({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [] }] });
    const send = (body: Buffer): Promise<number> =>
      new Promise((resolve, reject) => {
        const request = http.request(
          { host: '127.0.0.1', port, method: 'POST', path: '/v1/traces', agent, headers: { ...PROTOBUF, 'Content-Length': body.length } },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          },
        );
        request.on('error', reject);
        request.end(body);
      });
    try {
      const flood = Promise.all(Array.from({ length: 2000 }, () => send(empty)));
      const { result: statuses, served, slowestMs } = await serveMeanwhile(flood);
      expect(statuses.filter((s) => s === 200)).toHaveLength(2000);
      expect(served).toBeGreaterThan(0);
      expect(slowestMs).toBeLessThan(2000);
      expect(await counterValue(metrics.requests, { transport: 'http', status: '200' })).toBe(2000 + served);
    } finally {
      agent.destroy();
    }
  });
});
