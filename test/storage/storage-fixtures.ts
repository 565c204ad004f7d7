import { randomBytes } from 'node:crypto';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import type { ScoreRow } from '../../src/storage/score-row.js';

export const hexId = (bytes: number): string => randomBytes(bytes).toString('hex');

/** A span with every field set, including what a JS number would round (ns times, UInt64). */
export function spanRow(overrides: Partial<SpanRow> = {}): SpanRow {
  return {
    Timestamp: '1700000000123456789',
    TraceId: hexId(16),
    SpanId: hexId(8),
    ParentSpanId: hexId(8),
    TraceState: 'vendor=a',
    SpanName: 'chat gpt-4o',
    SpanKind: 'Client',
    ServiceName: 'storage-test',
    ResourceAttributes: { 'service.name': 'storage-test', 'host.name': 'h1' },
    ScopeName: 'scope',
    ScopeVersion: '1.2.3',
    SpanAttributes: { 'gen_ai.system': 'openai', 'quote"and\\backslash': 'ünïcødé\n' },
    Duration: '12345678901234567890',
    StatusCode: 'Error',
    StatusMessage: 'boom',
    Events: [
      { Timestamp: '1700000000123456790', Name: 'gen_ai.content.prompt', Attributes: { 'gen_ai.prompt': 'hi' } },
      { Timestamp: '1700000000999999999', Name: 'exception', Attributes: {} },
    ],
    Links: [{ TraceId: hexId(16), SpanId: hexId(8), TraceState: 'x=1', Attributes: { kind: 'follows' } }],
    ...overrides,
  };
}

export function scoreRow(overrides: Partial<ScoreRow> = {}): ScoreRow {
  return {
    Timestamp: '1700000000123456789',
    TraceId: hexId(16),
    SpanId: hexId(8),
    ScoringSpanId: hexId(8),
    ServiceName: 'storage-test',
    Project: 'storage-project',
    SpanName: 'chat gpt-4o',
    Rule: 'answers',
    Scorer: 'ExactMatch',
    Score: 0.5,
    Error: '',
    Details: '{"expected":"a"}',
    Source: 'online',
    ScoredAt: '1700000100000000000',
    DurationNs: '1500',
    ...overrides,
  };
}
