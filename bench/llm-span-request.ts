import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { PACKAGE_ROOT } from '../test/helpers/package-root.js';

/**
 * Pre-encoded OTLP/protobuf requests of LLM-style spans (~800 bytes encoded, 10 attributes each),
 * the load shape the performance targets are stated in.
 */
export function buildLlmSpanRequests(count: number, spansPerRequest: number): Buffer[] {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(PACKAGE_ROOT, 'proto', target));
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  const type = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const int = (key: string, value: number) => ({ key, value: { intValue: value } });
  const requests: Buffer[] = [];
  for (let r = 0; r < count; r++) {
    const now = BigInt(Date.now()) * 1_000_000n;
    const spans = [];
    for (let i = 0; i < spansPerRequest; i++) {
      const isRoot = i % 4 === 0;
      spans.push({
        traceId: randomBytes(16),
        spanId: randomBytes(8),
        parentSpanId: isRoot ? undefined : randomBytes(8),
        name: isRoot ? 'chat' : 'llm.completion',
        kind: isRoot ? 2 : 3,
        startTimeUnixNano: (now + BigInt(i) * 1000n).toString(),
        endTimeUnixNano: (now + BigInt(i) * 1000n + 250_000_000n).toString(),
        attributes: [
          str('input.value', `What is the capital of country number ${i}? Please answer briefly and cite a source for the claim.`),
          str(
            'output.value',
            `The capital of country number ${i} is City ${i}. Source: the world factbook, 2025 edition, page ${i % 300}. ` +
              `City ${i} has been the seat of government since the country's founding; its population was last counted ` +
              `in the national census, and it hosts the parliament, the supreme court and most ministries.`,
          ),
          str('expected', `City ${i}`),
          str('gen_ai.request.model', 'gpt-4o-mini'),
          str('gen_ai.system', 'openai'),
          int('gen_ai.usage.input_tokens', 120 + (i % 50)),
          int('gen_ai.usage.output_tokens', 40 + (i % 20)),
          str('metadata.user_id', `user-${i % 1000}`),
          str('metadata.session_id', randomBytes(8).toString('hex')),
          str('http.route', '/api/chat'),
        ],
        status: { code: 1 },
      });
    }
    const message = type.fromObject({
      resourceSpans: [
        {
          resource: { attributes: [str('service.name', 'bench-app'), str('service.version', '1.0.0'), str('deployment.environment', 'bench')] },
          scopeSpans: [{ scope: { name: 'bench', version: '1' }, spans }],
        },
      ],
    });
    requests.push(Buffer.from(type.encode(message).finish()));
  }
  return requests;
}
