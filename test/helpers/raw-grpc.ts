import { credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { RAW_TRACE_SERVICE } from '../../src/receivers/trace-service.js';

/** TraceService/Export over raw bytes: callers send exactly the protobuf they built. */
export const ExportClient = makeGenericClientConstructor(RAW_TRACE_SERVICE, 'TraceService');

/** Calls TraceService/Export with raw bytes, so tests can send what no SDK would. */
export function exportRaw(address: string, payload: Buffer, options: Record<string, unknown> = {}): Promise<{ error?: ServiceError; response?: Buffer }> {
  const client = new ExportClient(address, credentials.createInsecure(), { 'grpc.max_send_message_length': -1, ...options });
  return new Promise((resolve) => {
    (client as unknown as { Export: (req: Buffer, cb: (error: ServiceError | null, response?: Buffer) => void) => void }).Export(payload, (error, response) => {
      client.close();
      resolve(error ? { error } : { response });
    });
  });
}
