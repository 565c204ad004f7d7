import { describe, expect, it } from 'vitest';
import { EMBEDDED_SPAN_MEMORY, SERVER_SPAN_MEMORY, estimateRowsBytes } from '../../src/pipeline/span-size.js';
import { spanRow } from '../storage/storage-fixtures.js';

describe('estimateRowsBytes', () => {
  it('is zero for no rows and grows with every string a span carries', () => {
    expect(estimateRowsBytes([])).toBe(0);
    const base = spanRow({ SpanAttributes: {}, ResourceAttributes: {}, Events: [], Links: [] });
    const one = estimateRowsBytes([base]);
    expect(one).toBeGreaterThan(EMBEDDED_SPAN_MEMORY.perSpan);
    expect(estimateRowsBytes([base, base])).toBe(2 * one);

    const withAttribute = estimateRowsBytes([{ ...base, SpanAttributes: { 'input.value': 'x'.repeat(1000) } }]);
    expect(withAttribute - one).toBeGreaterThanOrEqual(1011 * EMBEDDED_SPAN_MEMORY.perChar);
    const withEvent = estimateRowsBytes([{ ...base, Events: [{ Timestamp: '1', Name: 'e', Attributes: { k: 'v'.repeat(500) } }] }]);
    expect(withEvent - one).toBeGreaterThanOrEqual(501 * EMBEDDED_SPAN_MEMORY.perChar);
    const withLink = estimateRowsBytes([{ ...base, Links: [{ TraceId: 'a'.repeat(32), SpanId: 'b'.repeat(16), TraceState: '', Attributes: {} }] }]);
    expect(withLink - one).toBeGreaterThanOrEqual(48 * EMBEDDED_SPAN_MEMORY.perChar);
  });

  it('puts an LLM-style span (~480 characters, 10 attributes) at the ~15-20 KB measured in flight', () => {
    const attributes: Record<string, string> = {
      'input.value': 'What is the capital of country number 17? Please answer briefly and cite a source for the claim.',
      'output.value': 'The capital of country number 17 is City 17. Source: the world factbook, 2025 edition.',
      expected: 'City 17',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.system': 'openai',
      'metadata.user_id': 'user-17',
      'metadata.session_id': '0123456789abcdef',
      'http.route': '/api/chat',
    };
    const row = spanRow({ SpanAttributes: attributes, ResourceAttributes: { 'service.name': 'app' }, Events: [], Links: [] });
    const bytes = estimateRowsBytes([row]);
    expect(bytes).toBeGreaterThan(14_000);
    expect(bytes).toBeLessThan(22_000);
    // With a ClickHouse server only the JS copies count: the decoded row and its insert text.
    const server = estimateRowsBytes([row], SERVER_SPAN_MEMORY);
    expect(server).toBeGreaterThan(2_000);
    expect(server).toBeLessThan(5_000);
  });
});
