import type { SpanEventRow, SpanRow } from '../../pipeline/span-row.js';
import type { FieldConventions } from '../field-conventions.js';
import type { ThreadMessage } from '../scorer-args.js';
import { parseAttributeValue, readConventionField } from '../span-fields.js';
import { readIndexedList } from '../span-fields/indexed-attributes.js';
import { isPlainRecord } from '../span-fields/own-property.js';
import { chatMessagesIn, contentText, toThreadMessage } from './chat-messages.js';
import { nanos } from './nanos.js';

/** Beyond this a thread is cut: a judge prompt cannot hold more, and a scorer gets the start. */
export const MAX_THREAD_MESSAGES = 1_000;

/** Messages that one source states at one moment; the order of sources is the order of time. */
interface MessageList {
  atNs: bigint;
  /** Tie-break at equal times: a span's inputs (0), its events (1), its outputs (2), then span order. */
  phase: number;
  spanIndex: number;
  messages: ThreadMessage[];
}

/**
 * The conversation of a trace: every chat message its spans carry, each once, in the order it
 * was said. Sources per span: its `input` at its start and its `output` at its end (read with
 * the field conventions), OpenInference's `llm.input_messages` / `llm.output_messages`, GenAI's
 * `gen_ai.system_instructions` (a system message), and the GenAI message events at their own times.
 *
 * Each LLM call repeats the history before adding to it, so a list is matched against the thread
 * in order: a message found after the previous match is the same message said before, one not
 * found is new and appended. A message repeated within a conversation ("yes" twice) therefore
 * stays twice, as long as a later call lists both.
 */
export function extractThread(spans: readonly SpanRow[], conventions: FieldConventions): ThreadMessage[] {
  const lists: MessageList[] = [];
  spans.forEach((span, spanIndex) => {
    const startNs = nanos(span.Timestamp);
    const endNs = startNs + nanos(span.Duration);
    const add = (atNs: bigint, phase: number, value: unknown) => {
      const messages = chatMessagesIn(value);
      if (messages.length > 0) lists.push({ atNs, phase, spanIndex, messages });
    };
    const attributes = span.SpanAttributes;
    const instructions = contentText(parseAttributeValue(attributes['gen_ai.system_instructions'] ?? ''));
    if (instructions !== '') lists.push({ atNs: startNs, phase: 0, spanIndex, messages: [{ role: 'system', content: instructions }] });
    add(startNs, 0, readIndexedList(attributes, 'llm.input_messages'));
    add(startNs, 0, readConventionField(attributes, conventions.input));
    for (const event of span.Events) {
      const messages = eventMessages(event);
      if (messages.length > 0) lists.push({ atNs: nanos(event.Timestamp), phase: 1, spanIndex, messages });
    }
    add(endNs, 2, readIndexedList(attributes, 'llm.output_messages'));
    add(endNs, 2, readConventionField(attributes, conventions.output));
  });
  lists.sort((a, b) => (a.atNs < b.atNs ? -1 : a.atNs > b.atNs ? 1 : a.phase - b.phase || a.spanIndex - b.spanIndex));
  return mergeInOrder(lists.map((list) => list.messages));
}

function mergeInOrder(lists: ThreadMessage[][]): ThreadMessage[] {
  const thread: ThreadMessage[] = [];
  const positions = new Map<string, number[]>();
  for (const list of lists) {
    let cursor = -1;
    for (const message of list) {
      const key = `${message.role}\u0000${message.content}`;
      const seenAt = positions.get(key);
      const match = seenAt?.find((index) => index > cursor);
      if (match !== undefined) {
        cursor = match;
        continue;
      }
      if (thread.length >= MAX_THREAD_MESSAGES) return thread;
      thread.push(message);
      cursor = thread.length - 1;
      if (seenAt) seenAt.push(cursor);
      else positions.set(key, [cursor]);
    }
  }
  return thread;
}

const ROLE_EVENT = /^gen_ai\.(system|user|assistant|tool)\.message$/;

/**
 * GenAI semconv message events: `gen_ai.{system,user,assistant,tool}.message` with `content`,
 * `gen_ai.choice` with `message` (or `content`), and the older `gen_ai.content.prompt` /
 * `gen_ai.content.completion` carrying the whole list in `gen_ai.prompt` / `gen_ai.completion`.
 */
function eventMessages(event: SpanEventRow): ThreadMessage[] {
  const attributes = event.Attributes;
  if (event.Name === 'gen_ai.content.prompt') return chatMessagesIn(parseAttributeValue(attributes['gen_ai.prompt'] ?? ''));
  if (event.Name === 'gen_ai.content.completion') return chatMessagesIn(parseAttributeValue(attributes['gen_ai.completion'] ?? ''));
  const roleEvent = ROLE_EVENT.exec(event.Name);
  if (roleEvent === null && event.Name !== 'gen_ai.choice') return [];
  const defaultRole = roleEvent?.[1] ?? 'assistant';
  const body = parseAttributeValue(attributes.message ?? '');
  const fields: Record<string, unknown> = isPlainRecord(body) ? body : { content: parseAttributeValue(attributes.content ?? '') };
  const message = toThreadMessage({ ...fields, role: attributes.role ?? fields.role }, defaultRole);
  return message === undefined ? [] : [message];
}
