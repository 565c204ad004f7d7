import { fileURLToPath } from 'node:url';
import path from 'node:path';
import protobuf from 'protobufjs';

/**
 * The package's `proto/` directory. This module runs as `src/receivers/otlp-schema.ts`
 * under vitest and as `dist/receivers/otlp-schema.js` once built: both sit two levels
 * below the package root, next to which `proto/` is shipped.
 */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

const PROTO_FILES = [
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'google/rpc/status.proto',
];

/** The protobufjs message types the receivers encode and decode. */
export interface OtlpSchema {
  readonly root: protobuf.Root;
  readonly exportTraceServiceRequest: protobuf.Type;
  readonly exportTraceServiceResponse: protobuf.Type;
  readonly rpcStatus: protobuf.Type;
}

let loaded: OtlpSchema | undefined;

/** Loads the .proto files on first use (synchronously: a few ms, once per process). */
export function otlpSchema(): OtlpSchema {
  loaded ??= loadOtlpSchema();
  return loaded;
}

/** A schema of its own (types not shared with `otlpSchema()`), for a caller that alters its decoders. */
export function loadOtlpSchema(): OtlpSchema {
  const root = new protobuf.Root();
  // Imports are written relative to the proto root ("opentelemetry/proto/..."), not to the importing file.
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
  root.loadSync(PROTO_FILES);
  root.resolveAll();
  freezeFullNames(root);
  return {
    root,
    exportTraceServiceRequest: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    exportTraceServiceResponse: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    rpcStatus: root.lookupType('google.rpc.Status'),
  };
}

/**
 * protobufjs recomputes `fullName` (a getter walking the parents) every time protojson reads a
 * message, about 30% of OTLP/JSON decoding; the tree is final once resolved, so it is pinned.
 */
function freezeFullNames(namespace: protobuf.NamespaceBase): void {
  for (const nested of namespace.nestedArray) {
    Object.defineProperty(nested, 'fullName', { value: nested.fullName, enumerable: false });
    if (nested instanceof protobuf.Namespace) freezeFullNames(nested);
  }
}
