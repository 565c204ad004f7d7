import type { ServiceDefinition } from '@grpc/grpc-js';

/** The one method of OTLP's TraceService, as grpc-js names it on the wire. */
export const TRACE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

const identity = (bytes: Buffer) => bytes;

/**
 * TraceService/Export with request and response as raw bytes: for clients that pass on a body
 * unchanged (the OTLP exporter forwards received requests byte for byte) and for test servers.
 */
export const RAW_TRACE_SERVICE: ServiceDefinition = {
  Export: {
    path: TRACE_EXPORT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
