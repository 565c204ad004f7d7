import { connect } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { GrpcReceiver } from '../../src/receivers/grpc-receiver.js';
import { logger, noAuth, RecordingConsumer, testMetrics } from './receiver-test-kit.js';

let receiver: GrpcReceiver | undefined;

afterEach(async () => {
  await receiver?.shutdown(1_000);
  receiver = undefined;
});

/** Resolves with how long the server kept an HTTP/2 connection that opens and never starts a call. */
function idleConnectionLifetime(address: string, giveUpMs: number): Promise<number> {
  return new Promise((resolve) => {
    const started = performance.now();
    const session = connect(`http://${address}`);
    const timer = setTimeout(() => {
      session.destroy();
      resolve(Infinity);
    }, giveUpMs);
    session.on('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
    session.on('error', () => undefined);
  });
}

describe('gRPC receiver and idle connections', () => {
  it('closes HTTP/2 connections that hold no call for max connection idle, many at once', async () => {
    receiver = new GrpcReceiver({ endpoint: '127.0.0.1:0', consumer: new RecordingConsumer(), metrics: testMetrics(), logger, auth: noAuth, maxConnectionIdleMs: 500 });
    const address = await receiver.start();
    const lifetimes = await Promise.all(Array.from({ length: 50 }, () => idleConnectionLifetime(address, 5_000)));
    expect(Math.max(...lifetimes)).toBeLessThan(5_000);
    expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(400);
  });
});
