import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { RAW_TRACE_SERVICE } from '../src/receivers/trace-service.js';

/**
 * A downstream OTLP receiver (gRPC and HTTP) for the forwarding scenario, as its own process so that its
 * CPU is neither the daemon's nor the driver's. It acknowledges every Export with an empty
 * response (a valid ExportTraceServiceResponse) and only counts: a real backend's cost is not
 * what the scenario measures. Prints its address, then on SIGTERM what it received.
 */
let requests = 0;
let bytes = 0;
const server = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
server.addService(
  RAW_TRACE_SERVICE,
  {
    Export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      requests += 1;
      bytes += call.request.length;
      callback(null, Buffer.alloc(0));
    },
  },
);
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
);
// OTLP/HTTP: any POST is an export; an empty body is a valid (protobuf or JSON) response.
const http = createServer((request, response) => {
  request.on('data', (chunk: Buffer) => (bytes += chunk.length));
  request.on('end', () => {
    requests += 1;
    response.writeHead(200, { 'Content-Type': request.headers['content-type'] ?? 'application/x-protobuf', 'Content-Length': 0 });
    response.end();
  });
});
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
process.stdout.write(`${JSON.stringify({ type: 'ready', address: `127.0.0.1:${port}`, httpUrl })}\n`);
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ type: 'done', requests, bytes })}\n`);
  server.forceShutdown();
  process.exit(0);
});
