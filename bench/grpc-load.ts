import { credentials, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { ExportClient } from '../test/helpers/raw-grpc.js';

/*
 * OTLP/gRPC for the load generator: TraceService/Export with test/helpers/raw-grpc.ts'
 * raw-bytes client, so the gRPC scenario sends byte for byte the protobuf
 * bodies the HTTP scenario POSTs and the two transports can be compared on identical payloads.
 */

type RawExport = (request: Buffer, callback: (error: ServiceError | null, response?: Buffer) => void) => void;

/** One sender's channel: sends a body and resolves with the gRPC status name (`OK`, `UNAVAILABLE`, ...) and details. */
export interface GrpcSender {
  send(body: Buffer): Promise<{ status: string; detail?: string }>;
  close(): void;
}

export function createGrpcSender(address: string): GrpcSender {
  const client = new ExportClient(address, credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
    // Channels with equal options share one subchannel (one HTTP/2 connection) through the
    // global pool; a local pool gives each sender its own connection, as each HTTP sender
    // has its own keep-alive socket.
    'grpc.use_local_subchannel_pool': 1,
  }) as unknown as Client & { Export: RawExport };
  return {
    send: (body) =>
      new Promise((resolve) => {
        client.Export(body, (error) => resolve(error ? { status: status[error.code] ?? String(error.code), detail: error.details } : { status: 'OK' }));
      }),
    close: () => client.close(),
  };
}
