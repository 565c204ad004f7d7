import { describe, expect, it } from 'vitest';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS, extractScorerArgs, readConventionField, type FieldConventions } from '../../src/scoring/span-fields.js';

function makeSpan(attributes: Record<string, string>, overrides: Partial<SpanRow> = {}): SpanRow {
  return {
    Timestamp: '1700000000000000000',
    TraceId: '0af7651916cd43dd8448eb211c80319c',
    SpanId: 'b7ad6b7169203331',
    ParentSpanId: '',
    TraceState: '',
    SpanName: 'chat gpt-4o',
    SpanKind: 'Client',
    ServiceName: 'chatbot',
    ResourceAttributes: { 'service.name': 'chatbot' },
    ScopeName: 'openinference',
    ScopeVersion: '1.0.0',
    SpanAttributes: attributes,
    Duration: '1500000',
    StatusCode: 'Ok',
    StatusMessage: '',
    Events: [],
    Links: [],
    ...overrides,
  };
}

const extract = (attributes: Record<string, string>, conventions: FieldConventions = DEFAULT_FIELD_CONVENTIONS) =>
  extractScorerArgs(makeSpan(attributes), conventions);

describe('DEFAULT_FIELD_CONVENTIONS', () => {
  it('lists the conventions in precedence order', () => {
    expect(DEFAULT_FIELD_CONVENTIONS).toEqual({
      input: ['input.value', 'gen_ai.input.messages', 'gen_ai.prompt', 'traceloop.entity.input', 'input'],
      output: ['output.value', 'gen_ai.output.messages', 'gen_ai.completion', 'traceloop.entity.output', 'output'],
      expected: ['expected', 'spanscore.expected'],
      metadataPrefix: 'metadata.',
      metadataAttribute: 'metadata',
    });
  });

  it('cannot be modified by a caller that shares its arrays', () => {
    expect(() => DEFAULT_FIELD_CONVENTIONS.input.push('x')).toThrow();
    expect(DEFAULT_FIELD_CONVENTIONS.input).toHaveLength(5);
  });
});

describe('extractScorerArgs: conventions', () => {
  it('reads OpenInference input.value / output.value / metadata', () => {
    const args = extract({
      'input.value': '{"question":"What is OTel?"}',
      'input.mime_type': 'application/json',
      'output.value': 'OpenTelemetry is…',
      metadata: '{"user":"u1","tier":"gold"}',
    });
    expect(args.input).toEqual({ question: 'What is OTel?' });
    expect(args.output).toBe('OpenTelemetry is…');
    expect(args.metadata).toEqual({ user: 'u1', tier: 'gold' });
  });

  it('reads the OTel GenAI semconv message attributes', () => {
    const args = extract({
      'gen_ai.input.messages': '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
      'gen_ai.output.messages': '[{"role":"assistant","parts":[{"type":"text","content":"hello"}],"finish_reason":"stop"}]',
    });
    expect(args.input).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'hi' }] }]);
    expect(args.output).toEqual([{ role: 'assistant', parts: [{ type: 'text', content: 'hello' }], finish_reason: 'stop' }]);
  });

  it('reads the older GenAI gen_ai.prompt / gen_ai.completion attributes', () => {
    const args = extract({ 'gen_ai.prompt': '[{"role":"user","content":"hi"}]', 'gen_ai.completion': 'hello there' });
    expect(args.input).toEqual([{ role: 'user', content: 'hi' }]);
    expect(args.output).toBe('hello there');
  });

  it('builds message lists from OpenLLMetry indexed attributes', () => {
    const args = extract({
      'gen_ai.prompt.0.role': 'system',
      'gen_ai.prompt.0.content': 'Be brief.',
      'gen_ai.prompt.1.role': 'user',
      'gen_ai.prompt.1.content': 'hi',
      'gen_ai.completion.0.role': 'assistant',
      'gen_ai.completion.0.content': 'hello',
      'gen_ai.completion.0.finish_reason': 'stop',
      'gen_ai.completion.0.tool_calls.0.name': 'search',
      'gen_ai.completion.0.tool_calls.0.arguments': '{"q":"otel"}',
      'gen_ai.completion.0.tool_calls.1.name': 'fetch',
    });
    expect(args.input).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ]);
    expect(args.output).toEqual([
      {
        role: 'assistant',
        content: 'hello',
        finish_reason: 'stop',
        tool_calls: [{ name: 'search', arguments: { q: 'otel' } }, { name: 'fetch' }],
      },
    ]);
  });

  it('orders indexed messages numerically and closes gaps', () => {
    const args = extract({
      'gen_ai.prompt.10.content': 'eleventh',
      'gen_ai.prompt.2.content': 'third',
      'gen_ai.prompt.0.content': 'first',
    });
    expect(args.input).toEqual([{ content: 'first' }, { content: 'third' }, { content: 'eleventh' }]);
  });

  it('ignores non-index segments and index-only keys when building lists', () => {
    const args = extract({ 'gen_ai.prompt.model': 'gpt', 'gen_ai.prompt.01.content': 'x', 'gen_ai.prompt.3': 'bare' });
    expect(args.input).toBeUndefined();
  });

  it('prefers the whole gen_ai.prompt attribute over its indexed form', () => {
    const args = extract({ 'gen_ai.prompt': 'whole', 'gen_ai.prompt.0.content': 'indexed' });
    expect(args.input).toBe('whole');
  });

  it('reads OpenLLMetry traceloop entity input/output', () => {
    const args = extract({
      'traceloop.entity.input': '{"inputs":{"q":"why?"},"tags":[]}',
      'traceloop.entity.output': '{"outputs":{"answer":"because"}}',
    });
    expect(args.input).toEqual({ inputs: { q: 'why?' }, tags: [] });
    expect(args.output).toEqual({ outputs: { answer: 'because' } });
  });

  it('reads plain input / output / expected attributes', () => {
    const args = extract({ input: 'q', output: 'a', expected: 'a' });
    expect([args.input, args.output, args.expected]).toEqual(['q', 'a', 'a']);
  });

  it('reads spanscore.expected when expected is absent', () => {
    expect(extract({ 'spanscore.expected': '42' }).expected).toBe('42');
  });
});

describe('extractScorerArgs: precedence and missing fields', () => {
  it('takes the first present key of each list', () => {
    const args = extract({
      input: 'plain',
      'traceloop.entity.input': 'traceloop',
      'gen_ai.prompt': 'old genai',
      'gen_ai.input.messages': 'new genai',
      'input.value': 'openinference',
      output: 'plain out',
      'gen_ai.completion.0.content': 'indexed out',
      expected: 'first',
      'spanscore.expected': 'second',
    });
    expect(args.input).toBe('openinference');
    expect(args.output).toEqual([{ content: 'indexed out' }]);
    expect(args.expected).toBe('first');
  });

  it('an indexed form takes the position of its key in the list', () => {
    const args = extract({ 'gen_ai.prompt.0.content': 'indexed', 'traceloop.entity.input': 'later' });
    expect(args.input).toEqual([{ content: 'indexed' }]);
  });

  it('counts a present but empty attribute as present', () => {
    expect(extract({ 'input.value': '', input: 'fallback' }).input).toBe('');
  });

  it('gives undefined, not null, for fields no attribute provides', () => {
    const args = extract({ unrelated: 'x' });
    expect(args.input).toBeUndefined();
    expect(args.output).toBeUndefined();
    expect(args.expected).toBeUndefined();
    expect(args.metadata).toEqual({});
  });
});

describe('extractScorerArgs: JSON parsing', () => {
  it.each([
    ['an object', '{"a":1}', { a: 1 }],
    ['an array', '[1,"x"]', [1, 'x']],
    ['JSON with surrounding whitespace', '  \n{"a":[]} ', { a: [] }],
    ['a number stays text', '42', '42'],
    ['a boolean stays text', 'true', 'true'],
    ['null stays text', 'null', 'null'],
    ['a JSON string literal stays text', '"quoted"', '"quoted"'],
    ['bracketed prose stays text', '[draft] reply', '[draft] reply'],
    ['broken JSON stays text', '{"a":', '{"a":'],
    ['emoji text stays text', '👍 done', '👍 done'],
  ])('%s', (_label, text, parsed) => {
    expect(extract({ output: text }).output).toEqual(parsed);
  });
});

describe('extractScorerArgs: metadata', () => {
  it('nests prefixed keys into objects, prefix stripped', () => {
    const args = extract({ 'metadata.user.tier': 'gold', 'metadata.user.id': '7', 'metadata.region': 'eu' });
    expect(args.metadata).toEqual({ user: { tier: 'gold', id: '7' }, region: 'eu' });
  });

  it('turns dense indexed levels into arrays and keeps sparse ones as objects', () => {
    const args = extract({ 'metadata.tags.0': 'a', 'metadata.tags.1': 'b', 'metadata.slots.1': 'x', 'metadata.slots.3': 'y' });
    expect(args.metadata).toEqual({ tags: ['a', 'b'], slots: { '1': 'x', '3': 'y' } });
  });

  it('parses JSON values of prefixed keys', () => {
    expect(extract({ 'metadata.flags': '{"beta":true}' }).metadata).toEqual({ flags: { beta: true } });
  });

  it('uses the JSON metadata attribute as the base and lets prefixed keys override, merging nested objects', () => {
    const args = extract({
      metadata: '{"user":{"tier":"free","id":"7"},"region":"us","source":"sdk"}',
      'metadata.user.tier': 'gold',
      'metadata.region': 'eu',
    });
    expect(args.metadata).toEqual({ user: { tier: 'gold', id: '7' }, region: 'eu', source: 'sdk' });
  });

  it('ignores a metadata attribute that is not a JSON object', () => {
    expect(extract({ metadata: 'just text', 'metadata.a': '1' }).metadata).toEqual({ a: '1' });
    expect(extract({ metadata: '[1,2]' }).metadata).toEqual({});
  });

  it('keeps both values when a key is a value and a parent, whatever the attribute order', () => {
    const expected = { user: 'u1', 'user.tier': 'gold' };
    expect(extract({ 'metadata.user': 'u1', 'metadata.user.tier': 'gold' }).metadata).toEqual(expected);
    expect(extract({ 'metadata.user.tier': 'gold', 'metadata.user': 'u1' }).metadata).toEqual(expected);
  });

  it('stores a __proto__ key as data without touching any prototype', () => {
    const args = extract({ 'metadata.__proto__.polluted': 'yes', metadata: '{"__proto__":{"also":"yes"}}' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(args.metadata)).toBe(Object.prototype);
    expect(Object.hasOwn(args.metadata, '__proto__')).toBe(true);
    expect(JSON.stringify(args.metadata)).toBe('{"__proto__":{"also":"yes","polluted":"yes"}}');
  });
});

describe('extractScorerArgs: custom conventions', () => {
  const custom: FieldConventions = {
    input: ['llm.input_messages', 'prompt'],
    output: ['answer'],
    expected: ['golden'],
    metadataPrefix: 'app.',
    metadataAttribute: 'app_meta',
  };

  it('uses only the configured keys', () => {
    const args = extractScorerArgs(
      makeSpan({
        'input.value': 'ignored',
        'llm.input_messages.0.message.role': 'user',
        'llm.input_messages.0.message.content': 'hi',
        answer: 'hello',
        golden: 'hello',
        'metadata.x': 'ignored',
        'app.team': 'search',
        app_meta: '{"team":"core","env":"prod"}',
      }),
      custom,
    );
    expect(args.input).toEqual([{ message: { role: 'user', content: 'hi' } }]);
    expect(args.output).toBe('hello');
    expect(args.expected).toBe('hello');
    expect(args.metadata).toEqual({ team: 'search', env: 'prod' });
  });

  it('an empty metadata prefix or attribute name disables that source', () => {
    const attributes = { metadata: '{"a":"1"}', 'metadata.b': '2' };
    expect(extract(attributes, { ...DEFAULT_FIELD_CONVENTIONS, metadataPrefix: '' }).metadata).toEqual({ a: '1' });
    expect(extract(attributes, { ...DEFAULT_FIELD_CONVENTIONS, metadataAttribute: '' }).metadata).toEqual({ b: '2' });
  });
});

describe('extractScorerArgs: span view', () => {
  it('maps the stored row to the scorer view', () => {
    const row = makeSpan({ k: 'v' }, { ParentSpanId: '1111111111111111', StatusCode: 'Error', StatusMessage: 'boom' });
    expect(extractScorerArgs(row, DEFAULT_FIELD_CONVENTIONS).span).toEqual({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      parentSpanId: '1111111111111111',
      name: 'chat gpt-4o',
      kind: 'Client',
      serviceName: 'chatbot',
      scopeName: 'openinference',
      attributes: { k: 'v' },
      resource: { 'service.name': 'chatbot' },
      timestamp: '1700000000000000000',
      durationMs: 1.5,
      status: 'error',
      statusMessage: 'boom',
    });
  });

  it.each([
    ['Ok', 'ok'],
    ['Error', 'error'],
    ['Unset', 'unset'],
    ['STATUS_CODE_OK', 'ok'],
    ['STATUS_CODE_ERROR', 'error'],
    ['', 'unset'],
  ])('status %j becomes %j', (statusCode, status) => {
    expect(extractScorerArgs(makeSpan({}, { StatusCode: statusCode }), DEFAULT_FIELD_CONVENTIONS).span.status).toBe(status);
  });

  it.each([
    ['0', 0],
    ['1', 0.000001],
    ['2500000000', 2500],
    ['', 0],
    ['garbage', 0],
  ])('duration %j ns is %j ms', (duration, ms) => {
    expect(extractScorerArgs(makeSpan({}, { Duration: duration }), DEFAULT_FIELD_CONVENTIONS).span.durationMs).toBe(ms);
  });

  it('copies attribute maps so scorers cannot edit the stored row', () => {
    const row = makeSpan({ k: 'v' });
    const { span } = extractScorerArgs(row, DEFAULT_FIELD_CONVENTIONS);
    span.attributes.k = 'changed';
    span.resource['service.name'] = 'changed';
    expect(row.SpanAttributes.k).toBe('v');
    expect(row.ResourceAttributes['service.name']).toBe('chatbot');
  });
});

describe('readConventionField', () => {
  it('reads one field as extractScorerArgs does, for the spans of a trace transcript', () => {
    const attributes = { 'gen_ai.prompt.1.content': 'b', 'gen_ai.prompt.0.content': 'a', 'input.value': '' };
    expect(readConventionField(attributes, ['gen_ai.prompt', 'input.value'])).toEqual([{ content: 'a' }, { content: 'b' }]);
    // Present but empty still wins over later keys.
    expect(readConventionField(attributes, ['input.value', 'gen_ai.prompt'])).toBe('');
    expect(readConventionField(attributes, ['output.value'])).toBeUndefined();
    expect(extractScorerArgs(makeSpan(attributes), DEFAULT_FIELD_CONVENTIONS)).not.toHaveProperty('trace');
  });
});
