import { randomBytes } from 'node:crypto';

export interface JsonSpanInput {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  attributes?: Record<string, string | number | boolean>;
}

export const randomTraceId = () => randomBytes(16).toString('hex');
export const randomSpanId = () => randomBytes(8).toString('hex');

/** An ExportTraceServiceRequest in the OTLP JSON mapping (hex ids, lowerCamelCase, int64 as strings). */
export function otlpJsonRequest(spans: JsonSpanInput[], serviceName = 'raw-json'): { body: string; spans: Required<Omit<JsonSpanInput, 'attributes' | 'parentSpanId'>>[] } {
  const now = BigInt(Date.now()) * 1_000_000n;
  const made = spans.map((s, i) => ({
    traceId: s.traceId ?? randomTraceId(),
    spanId: s.spanId ?? randomSpanId(),
    parentSpanId: s.parentSpanId ?? '',
    name: s.name ?? 'chat',
    kind: 2,
    startTimeUnixNano: String(now + BigInt(i)),
    endTimeUnixNano: String(now + BigInt(i) + 1_000_000n),
    attributes: Object.entries(s.attributes ?? { 'input.value': 'q', 'output.value': 'a', expected: 'a' }).map(([key, value]) => ({
      key,
      value: typeof value === 'string' ? { stringValue: value } : typeof value === 'boolean' ? { boolValue: value } : Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value },
    })),
    status: { code: 0 },
  }));
  const body = JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: serviceName } }] },
        scopeSpans: [{ scope: { name: 'raw', version: '1' }, spans: made }],
      },
    ],
  });
  return { body, spans: made.map(({ traceId, spanId, name }) => ({ traceId, spanId, name })) };
}

/** POSTs a JSON body to a daemon's OTLP/HTTP receiver. */
export function postJson(address: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`http://${address}/v1/traces`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  });
}
