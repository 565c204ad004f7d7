import { describe, expect, it } from 'vitest';
import type { SpanEventRow, SpanRow } from '../../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../../../src/scoring/span-fields.js';
import { chatMessagesIn } from '../../../src/scoring/trace-rules/chat-messages.js';
import { extractThread, MAX_THREAD_MESSAGES } from '../../../src/scoring/trace-rules/thread-messages.js';
import { spanRow } from '../../storage/storage-fixtures.js';

const T0 = 1_700_000_000_000_000_000n;
const ms = (n: number) => String(T0 + BigInt(n) * 1_000_000n);

/** A span starting `startMs` after T0 and lasting `durationMs`, with only the given attributes. */
function span(startMs: number, durationMs: number, attributes: Record<string, string>, overrides: Partial<SpanRow> = {}): SpanRow {
  return spanRow({ Timestamp: ms(startMs), Duration: String(durationMs * 1_000_000), SpanAttributes: attributes, Events: [], ...overrides });
}

const thread = (spans: SpanRow[]) => extractThread(spans, DEFAULT_FIELD_CONVENTIONS);

describe('extractThread with OpenInference attributes', () => {
  // As openinference-instrumentation-openai writes an agent's two LLM calls under a CHAIN root.
  const root = span(0, 1_000, { 'openinference.span.kind': 'CHAIN', 'input.value': 'weather in Paris?', 'output.value': 'Sunny, 21 °C.' }, { ParentSpanId: '' });
  const firstCall = span(10, 300, {
    'openinference.span.kind': 'LLM',
    'input.value': JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'system', content: 'You are a weather bot.' }, { role: 'user', content: 'weather in Paris?' }] }),
    'input.mime_type': 'application/json',
    'llm.input_messages.0.message.role': 'system',
    'llm.input_messages.0.message.content': 'You are a weather bot.',
    'llm.input_messages.1.message.role': 'user',
    'llm.input_messages.1.message.contents.0.message_content.type': 'text',
    'llm.input_messages.1.message.contents.0.message_content.text': 'weather in Paris?',
    'output.value': JSON.stringify({ id: 'chatcmpl-1', choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] } }] }),
    'llm.output_messages.0.message.role': 'assistant',
    'llm.output_messages.0.message.tool_calls.0.tool_call.function.name': 'get_weather',
    'llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments': '{"city":"Paris"}',
  });
  const tool = span(320, 50, { 'openinference.span.kind': 'TOOL', 'input.value': '{"city":"Paris"}', 'output.value': '{"sky":"sunny","celsius":21}' });
  const secondCall = span(400, 500, {
    'openinference.span.kind': 'LLM',
    'llm.input_messages.0.message.role': 'system',
    'llm.input_messages.0.message.content': 'You are a weather bot.',
    'llm.input_messages.1.message.role': 'user',
    'llm.input_messages.1.message.content': 'weather in Paris?',
    'llm.input_messages.2.message.role': 'assistant',
    'llm.input_messages.2.message.tool_calls.0.tool_call.function.name': 'get_weather',
    'llm.input_messages.2.message.tool_calls.0.tool_call.function.arguments': '{"city":"Paris"}',
    'llm.input_messages.3.message.role': 'tool',
    'llm.input_messages.3.message.content': '{"sky":"sunny","celsius":21}',
    'llm.output_messages.0.message.role': 'assistant',
    'llm.output_messages.0.message.content': 'Sunny, 21 °C.',
  });

  it('gives the conversation once, in order, whatever the order the spans come in', () => {
    const expected = [
      { role: 'system', content: 'You are a weather bot.' },
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: 'call get_weather({"city":"Paris"})' },
      { role: 'tool', content: '{"sky":"sunny","celsius":21}' },
      { role: 'assistant', content: 'Sunny, 21 °C.' },
    ];
    expect(thread([root, firstCall, tool, secondCall])).toEqual(expected);
    // Order comes from the span times, not from the list.
    expect(thread([secondCall, tool, root, firstCall])).toEqual(expected);
  });

  it('finds nothing in plain-text inputs and outputs', () => {
    expect(thread([root, tool])).toEqual([]);
  });
});

describe('extractThread with GenAI attributes and events', () => {
  it('reads gen_ai.input.messages / gen_ai.output.messages parts and system instructions', () => {
    const call = (start: number, input: unknown[], output: string) =>
      span(start, 100, {
        'gen_ai.operation.name': 'chat',
        'gen_ai.system_instructions': JSON.stringify([{ type: 'text', content: 'Be brief.' }]),
        'gen_ai.input.messages': JSON.stringify(input),
        'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: output }], finish_reason: 'stop' }]),
      });
    const user = (text: string) => ({ role: 'user', parts: [{ type: 'text', content: text }] });
    const assistant = (text: string) => ({ role: 'assistant', parts: [{ type: 'text', content: text }] });
    const spans = [
      call(0, [user('hi')], 'hello'),
      call(200, [user('hi'), assistant('hello'), user('yes')], 'ok'),
      // The user says "yes" again: a repeat in the conversation, not a repeat of the history.
      call(400, [user('hi'), assistant('hello'), user('yes'), assistant('ok'), user('yes')], 'done'),
    ];
    expect(thread(spans)).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: 'yes' },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: 'yes' },
      { role: 'assistant', content: 'done' },
    ]);
  });

  it('reads the older indexed gen_ai.prompt / gen_ai.completion attributes (OpenLLMetry)', () => {
    const call = span(0, 100, {
      'gen_ai.prompt.0.role': 'system',
      'gen_ai.prompt.0.content': 'You help.',
      'gen_ai.prompt.1.role': 'user',
      'gen_ai.prompt.1.content': 'Book a table',
      'gen_ai.completion.0.role': 'assistant',
      'gen_ai.completion.0.tool_calls.0.name': 'book',
      'gen_ai.completion.0.tool_calls.0.arguments': '{"seats":2}',
    });
    expect(thread([call])).toEqual([
      { role: 'system', content: 'You help.' },
      { role: 'user', content: 'Book a table' },
      { role: 'assistant', content: 'call book({"seats":2})' },
    ]);
  });

  it('reads GenAI message events at their own times', () => {
    const events: SpanEventRow[] = [
      { Timestamp: ms(1), Name: 'gen_ai.system.message', Attributes: { content: 'Rules.' } },
      { Timestamp: ms(2), Name: 'gen_ai.user.message', Attributes: { content: 'Question?' } },
      { Timestamp: ms(50), Name: 'gen_ai.choice', Attributes: { index: '0', finish_reason: 'stop', message: '{"role":"assistant","content":"Answer."}' } },
      { Timestamp: ms(3), Name: 'gen_ai.content.prompt', Attributes: { 'gen_ai.prompt': '[{"role":"user","content":"Question?"}]' } },
      { Timestamp: ms(4), Name: 'exception', Attributes: { 'exception.message': 'x' } },
    ];
    expect(thread([span(0, 60, {}, { Events: events })])).toEqual([
      { role: 'system', content: 'Rules.' },
      { role: 'user', content: 'Question?' },
      { role: 'assistant', content: 'Answer.' },
    ]);
  });

  it('cuts a runaway thread', () => {
    const many = Array.from({ length: MAX_THREAD_MESSAGES + 10 }, (_, i) => ({ role: 'user', content: `m${i}` }));
    expect(thread([span(0, 1, { 'gen_ai.input.messages': JSON.stringify(many) })])).toHaveLength(MAX_THREAD_MESSAGES);
  });
});

describe('chatMessagesIn', () => {
  it('recognises the message shapes and nothing else', () => {
    expect(chatMessagesIn({ role: 'Human', content: [{ type: 'text', text: 'a' }, { type: 'image_url', image_url: {} }] })).toEqual([{ role: 'user', content: 'a' }]);
    expect(chatMessagesIn([[{ role: 'ai', content: 'b' }]])).toEqual([{ role: 'assistant', content: 'b' }]);
    expect(chatMessagesIn({ role: 'tool', parts: [{ type: 'tool_call_response', response: { ok: true } }] })).toEqual([{ role: 'tool', content: '{"ok":true}' }]);
    expect(chatMessagesIn([{ role: 'assistant', content: '' }, { role: 'user' }, 'text', 42, null])).toEqual([]);
    expect(chatMessagesIn('plain question')).toEqual([]);
    expect(chatMessagesIn({ city: 'Paris' })).toEqual([]);
  });

  it('survives hostile JSON keys', () => {
    const parsed = JSON.parse('[{"__proto__":{"role":"x"},"role":"user","content":"hi"}]') as unknown;
    expect(chatMessagesIn(parsed)).toEqual([{ role: 'user', content: 'hi' }]);
  });
});
