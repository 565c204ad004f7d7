import { credentials, status } from '@grpc/grpc-js';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GrpcReceiver, type GrpcReceiverOptions } from '../../src/receivers/grpc-receiver.js';
import { createTestCertificates, type TestCertificates } from '../tls/test-certificates.js';
import { goodProtobufRequest, grpcExport, logger, noAuth, RecordingConsumer, testMetrics } from './receiver-test-kit.js';

let certs: TestCertificates;
let consumer: RecordingConsumer;
const running: GrpcReceiver[] = [];

beforeAll(async () => {
  certs = await createTestCertificates();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.shutdown(500)));
});

afterAll(() => certs?.dispose());

/** By name, as clients of a TLS endpoint connect (TLS SNI carries no IP address). */
const byName = (address: string): string => address.replace('127.0.0.1', 'localhost');

function receiver(tls: GrpcReceiverOptions['tls']): GrpcReceiver {
  consumer = new RecordingConsumer();
  const created = new GrpcReceiver({ endpoint: '127.0.0.1:0', consumer, metrics: testMetrics(), logger, auth: noAuth, tls });
  running.push(created);
  return created;
}

describe('OTLP/gRPC over TLS', () => {
  it('serves grpcs with the configured certificate and stores the spans', async () => {
    const address = byName(await receiver({ certFile: certs.server.certFile, keyFile: certs.server.keyFile }).start());
    const { error } = await grpcExport(address, goodProtobufRequest('grpcs'), { credentials: credentials.createSsl(certs.ca) });
    expect(error).toBeNull();
    expect(consumer.spans.map((s) => s.SpanName)).toEqual(['grpcs']);
  });

  it('an insecure channel to the TLS port, or one not trusting the CA, gets UNAVAILABLE', async () => {
    const address = byName(await receiver({ certFile: certs.server.certFile, keyFile: certs.server.keyFile }).start());
    const plain = await grpcExport(address, goodProtobufRequest('plain'));
    expect(plain.error?.code).toBe(status.UNAVAILABLE);
    const untrusted = await grpcExport(address, goodProtobufRequest('untrusted'), { credentials: credentials.createSsl() });
    expect(untrusted.error?.code).toBe(status.UNAVAILABLE);
    expect(consumer.spans).toEqual([]);
  });
});

describe('OTLP/gRPC with client certificates (client_ca_file)', () => {
  const mutual = () => ({ certFile: certs.server.certFile, keyFile: certs.server.keyFile, clientCaFile: certs.caFile });

  it('accepts a client certificate signed by the client CA', async () => {
    const address = byName(await receiver(mutual()).start());
    const { error } = await grpcExport(address, goodProtobufRequest('mutual'), {
      credentials: credentials.createSsl(certs.ca, certs.client.key, certs.client.cert),
    });
    expect(error).toBeNull();
    expect(consumer.spans.map((s) => s.SpanName)).toEqual(['mutual']);
  });

  it('refuses a client without a certificate, and one whose certificate another CA signed', async () => {
    const address = byName(await receiver(mutual()).start());
    const anonymous = await grpcExport(address, goodProtobufRequest('anonymous'), { credentials: credentials.createSsl(certs.ca) });
    expect(anonymous.error?.code).toBe(status.UNAVAILABLE);
    const foreign = await grpcExport(address, goodProtobufRequest('foreign'), {
      credentials: credentials.createSsl(certs.ca, certs.foreignClient.key, certs.foreignClient.cert),
    });
    expect(foreign.error?.code).toBe(status.UNAVAILABLE);
    expect(consumer.spans).toEqual([]);
    const after = await grpcExport(address, goodProtobufRequest('after'), { credentials: credentials.createSsl(certs.ca, certs.client.key, certs.client.cert) });
    expect(after.error).toBeNull();
  });
});

describe('OTLP/gRPC TLS files', () => {
  it('a missing file fails start with an error naming it', async () => {
    const missing = join(certs.dir, 'no-such-ca.pem');
    const created = receiver({ certFile: certs.server.certFile, keyFile: certs.server.keyFile, clientCaFile: missing });
    await expect(created.start()).rejects.toThrow(`otlp/grpc: cannot read the TLS client CA (client_ca_file) file ${missing}: ENOENT`);
  });
});
