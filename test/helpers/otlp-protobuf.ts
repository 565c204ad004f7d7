import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { PACKAGE_ROOT } from './package-root.js';

const PROTO_DIR = join(PACKAGE_ROOT, 'proto');

let requestType: protobuf.Type | undefined;

function exportRequestType(): protobuf.Type {
  if (!requestType) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(PROTO_DIR, target));
    root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: false });
    requestType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  }
  return requestType;
}

/** A protobuf ExportTraceServiceRequest with `spansPerTrace` spans for each trace id. */
export function encodeExportRequest(traceIds: string | string[], options: { spanName?: string; serviceName?: string } = {}): Buffer {
  const now = BigInt(Date.now()) * 1_000_000n;
  const ids = Array.isArray(traceIds) ? traceIds : [traceIds];
  const type = exportRequestType();
  const message = type.fromObject({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: options.serviceName ?? 'raw-proto' } }] },
        scopeSpans: [
          {
            scope: { name: 'raw', version: '1' },
            spans: ids.map((traceId, i) => ({
              traceId: Buffer.from(traceId, 'hex'),
              spanId: randomBytes(8),
              name: options.spanName ?? 'chat',
              kind: 2,
              startTimeUnixNano: (now + BigInt(i)).toString(),
              endTimeUnixNano: (now + BigInt(i) + 1_000_000n).toString(),
              attributes: [
                { key: 'input.value', value: { stringValue: 'q' } },
                { key: 'output.value', value: { stringValue: 'a' } },
                { key: 'expected', value: { stringValue: 'a' } },
              ],
            })),
          },
        ],
      },
    ],
  });
  return Buffer.from(type.encode(message).finish());
}
