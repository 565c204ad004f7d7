import { describe, expect, it } from 'vitest';
import type { SpanRow } from '../../../src/pipeline/span-row.js';
import type { TraceTranscriptSpan } from '../../../src/scoring/scorer-args.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../../../src/scoring/span-fields.js';
import { buildTraceTranscript } from '../../../src/scoring/trace-rules/trace-transcript.js';
import { formatThread, formatTranscript, TRANSCRIPT_FIELD_CHARS, TRANSCRIPT_MAX_LINES } from '../../../src/scoring/trace-rules/transcript-text.js';
import { spanRow } from '../../storage/storage-fixtures.js';

const traceId = 'a'.repeat(32);
const root = spanRow({
  TraceId: traceId,
  SpanId: '1000000000000001',
  ParentSpanId: '',
  SpanName: 'agent',
  SpanKind: 'Server',
  StatusCode: 'Ok',
  StatusMessage: '',
  Timestamp: '1700000000000000000',
  Duration: '1520000000',
  // OpenInference on the root.
  SpanAttributes: { 'openinference.span.kind': 'AGENT', 'input.value': 'plan a trip', 'output.value': 'Day 1:\n  museums' },
});
const llm = spanRow({
  TraceId: traceId,
  SpanId: '1000000000000002',
  ParentSpanId: root.SpanId,
  SpanName: 'chat gpt-4o',
  SpanKind: 'Client',
  StatusCode: 'STATUS_CODE_OK',
  StatusMessage: '',
  Timestamp: '1700000000010000000',
  Duration: '820000000',
  // GenAI semconv on the LLM call.
  SpanAttributes: {
    'gen_ai.input.messages': '[{"role":"user","parts":[{"type":"text","content":"plan a trip"}]}]',
    'gen_ai.output.messages': '[{"role":"assistant","parts":[{"type":"text","content":"Day 1"}]}]',
    'gen_ai.request.model': 'gpt-4o',
  },
});
const tool = spanRow({
  TraceId: traceId,
  SpanId: '1000000000000003',
  ParentSpanId: llm.SpanId,
  SpanName: 'tool.lookup',
  SpanKind: 'Internal',
  StatusCode: 'Error',
  StatusMessage: 'timeout',
  Timestamp: '1700000000900000000',
  Duration: '3400000',
  SpanAttributes: {},
});

describe('buildTraceTranscript', () => {
  it('gives every span with its fields read by the conventions', () => {
    const transcript = buildTraceTranscript([root, llm, tool], DEFAULT_FIELD_CONVENTIONS);
    expect(transcript).toEqual([
      {
        name: 'agent',
        spanId: root.SpanId,
        parentSpanId: '',
        kind: 'Server',
        status: 'ok',
        statusMessage: '',
        timestamp: '1700000000000000000',
        durationMs: 1520,
        input: 'plan a trip',
        output: 'Day 1:\n  museums',
        attributes: root.SpanAttributes,
      },
      {
        name: 'chat gpt-4o',
        spanId: llm.SpanId,
        parentSpanId: root.SpanId,
        kind: 'Client',
        status: 'ok',
        statusMessage: '',
        timestamp: '1700000000010000000',
        durationMs: 820,
        input: [{ role: 'user', parts: [{ type: 'text', content: 'plan a trip' }] }],
        output: [{ role: 'assistant', parts: [{ type: 'text', content: 'Day 1' }] }],
        attributes: llm.SpanAttributes,
      },
      expect.objectContaining({ name: 'tool.lookup', status: 'error', statusMessage: 'timeout', durationMs: 3.4, input: undefined, output: undefined }),
    ]);
    // Copies: a scorer editing its arguments cannot edit the stored rows.
    expect(transcript[0]!.attributes).not.toBe(root.SpanAttributes);
    expect(structuredClone(transcript)).toEqual(transcript);
  });

  it('follows custom conventions', () => {
    const [span] = buildTraceTranscript([spanRow({ SpanAttributes: { q: 'x', a: '{"y":1}' } })], { ...DEFAULT_FIELD_CONVENTIONS, input: ['q'], output: ['a'] });
    expect(span).toMatchObject({ input: 'x', output: { y: 1 } });
  });
});

describe('formatTranscript', () => {
  const transcript = (spans: SpanRow[]) => buildTraceTranscript(spans, DEFAULT_FIELD_CONVENTIONS);

  it('prints one line per span, indented under its parent', () => {
    expect(formatTranscript(transcript([root, llm, tool]))).toBe(
      [
        'agent [ok] 1.52s: plan a trip -> Day 1: museums',
        '  chat gpt-4o [ok] 820ms: [{"role":"user","parts":[{"type":"text","content":"plan a trip"}]}] -> [{"role":"assistant","parts":[{"type":"text","content":"Day 1"}]}]',
        '    tool.lookup [error: timeout] 3.4ms',
      ].join('\n'),
    );
  });

  it('keeps branches together and shows orphans at the top level', () => {
    const span = (id: string, parent: string, name: string): TraceTranscriptSpan => ({
      name, spanId: id, parentSpanId: parent, kind: 'Internal', status: 'unset', statusMessage: '', timestamp: '0', durationMs: 12.345, input: undefined, output: undefined, attributes: {},
    });
    // Start order interleaves two parallel branches; a span's parent never arrived.
    const spans = [span('r', '', 'root'), span('a', 'r', 'a'), span('b', 'r', 'b'), span('a1', 'a', 'a1'), span('b1', 'b', 'b1'), span('o', 'gone', 'orphan')];
    expect(formatTranscript(spans)).toBe(['root [unset] 12ms', '  a [unset] 12ms', '    a1 [unset] 12ms', '  b [unset] 12ms', '    b1 [unset] 12ms', 'orphan [unset] 12ms'].join('\n'));
    // A parent cycle still prints every span.
    expect(formatTranscript([span('x', 'y', 'x'), span('y', 'x', 'y')]).split('\n')).toHaveLength(2);
  });

  it('cuts long fields and long traces', () => {
    const long = spanRow({ ParentSpanId: '', StatusCode: 'Ok', StatusMessage: '', SpanAttributes: { input: '😀'.repeat(300), output: 'ok' } });
    const line = formatTranscript(transcript([long]));
    const input = line.slice(line.indexOf(': ') + 2, line.indexOf(' -> '));
    expect(input.length).toBeLessThanOrEqual(TRANSCRIPT_FIELD_CHARS);
    expect(input.endsWith('😀...')).toBe(true);
    const many = Array.from({ length: TRANSCRIPT_MAX_LINES + 5 }, () => spanRow({ ParentSpanId: '' }));
    const lines = formatTranscript(transcript(many)).split('\n');
    expect(lines).toHaveLength(TRANSCRIPT_MAX_LINES + 1);
    expect(lines.at(-1)).toBe('... (5 more spans)');
  });
});

describe('formatThread', () => {
  it('prints role: content lines', () => {
    expect(formatThread([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello\nthere' }])).toBe('user: hi\nassistant: hello\nthere');
    expect(formatThread([])).toBe('');
  });
});
