import type { ThreadMessage } from '../scorer-args.js';
import { isPlainRecord } from '../span-fields/own-property.js';

/**
 * The chat messages in one parsed span field, whichever shape the instrumentation wrote:
 * - a list of `{ role, content }` (OpenAI chat, the older GenAI `gen_ai.prompt.N.*`), content
 *   being text or a list of parts (`{ type: 'text', text }`, Anthropic and OpenAI multimodal);
 * - a list of `{ role, parts: [{ type, content }] }` (GenAI semconv `gen_ai.input.messages`);
 * - a list of `{ message: { role, content | contents } }` (OpenInference `llm.input_messages.N.message.*`);
 * - an object holding such a list under `messages` (a chat request, OpenInference `input.value`)
 *   or under `choices[].message` (a chat completion response in `output.value`);
 * - a single message object.
 * Anything else (plain text, tool arguments) holds no messages: a root span's `input.value`
 * question is not a message with a role, and guessing one would invent conversation.
 */
export function chatMessagesIn(value: unknown, depth = 0): ThreadMessage[] {
  // Batched requests nest lists (LangChain's `[[...messages]]`); deeper nesting is not chat.
  if (depth > 3) return [];
  if (Array.isArray(value)) return value.flatMap((item) => chatMessagesIn(item, depth + 1));
  if (!isPlainRecord(value)) return [];
  const message = toThreadMessage(value);
  if (message !== undefined) return [message];
  if (isPlainRecord(value.message)) return chatMessagesIn(value.message, depth + 1);
  if (Array.isArray(value.messages)) return chatMessagesIn(value.messages, depth + 1);
  if (Array.isArray(value.choices)) {
    return value.choices.flatMap((choice) => (isPlainRecord(choice) ? chatMessagesIn(choice.message, depth + 1) : []));
  }
  return [];
}

/** A message from an object with a `role`, when it says something (text or tool calls). */
export function toThreadMessage(value: Record<string, unknown>, defaultRole?: string): ThreadMessage | undefined {
  const rawRole = typeof value.role === 'string' && value.role !== '' ? value.role : defaultRole;
  if (rawRole === undefined) return undefined;
  const text = [contentText(value.content ?? value.parts ?? value.contents), toolCallsText(value.tool_calls)].filter((part) => part !== '').join('\n');
  return text === '' ? undefined : { role: normaliseRole(rawRole), content: text };
}

/** Text of a message's content: a string, or the readable parts of a part list. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map(partText).filter((part) => part !== '').join('\n');
  if (isPlainRecord(content)) return partText(content);
  return '';
}

function partText(part: unknown): string {
  if (typeof part === 'string') return part;
  if (!isPlainRecord(part)) return '';
  if (typeof part.text === 'string') return part.text;
  // OpenInference `message.contents.N.message_content.text`.
  if (isPlainRecord(part.message_content)) return partText(part.message_content);
  if (part.type === 'tool_call') return callText(part.name, part.arguments);
  if (part.type === 'tool_call_response') return valueText(part.response ?? part.result);
  // GenAI semconv text parts: `{ type: 'text', content }`.
  if (typeof part.content === 'string') return part.content;
  // A typed part we cannot read is media (images, audio): nothing a transcript can show. An
  // untyped object is JSON content that attribute parsing turned into an object (a tool result).
  return Object.hasOwn(part, 'type') ? '' : valueText(part);
}

/** OpenAI `tool_calls: [{ function: { name, arguments } }]`, OpenInference nests it under `tool_call`. */
function toolCallsText(toolCalls: unknown): string {
  if (!Array.isArray(toolCalls)) return '';
  return toolCalls
    .map((call) => {
      const inner = isPlainRecord(call) && isPlainRecord(call.tool_call) ? call.tool_call : call;
      const fn = isPlainRecord(inner) && isPlainRecord(inner.function) ? inner.function : inner;
      return isPlainRecord(fn) ? callText(fn.name, fn.arguments) : '';
    })
    .filter((text) => text !== '')
    .join('\n');
}

function callText(name: unknown, args: unknown): string {
  if (typeof name !== 'string' || name === '') return '';
  return `call ${name}(${valueText(args)})`;
}

function valueText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return String(value);
  }
}

/** Lower case, and LangChain's `human` / `ai` under the names every other convention uses. */
export function normaliseRole(role: string): string {
  const lower = role.toLowerCase();
  if (lower === 'human') return 'user';
  if (lower === 'ai') return 'assistant';
  return lower;
}
