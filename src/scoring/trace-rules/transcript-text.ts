import type { ThreadMessage, TraceTranscriptSpan } from '../scorer-args.js';

/** A judge needs the shape of a trace, not every byte of it: fields and spans are cut to fit a prompt. */
export const TRANSCRIPT_FIELD_CHARS = 200;
export const TRANSCRIPT_MAX_LINES = 300;

/**
 * A trace as prompt text (`{{trace}}`): one line per span, indented under its parent (children
 * in start order), with status, duration and its input -> output cut short, e.g.
 *
 *     agent [ok] 1.52s: plan a trip -> Day 1: ...
 *       llm.completion [ok] 820ms: [{"role":"user",...}] -> [{"role":"assistant",...}]
 *       tool.lookup [error: timeout] 3ms
 */
export function formatTranscript(spans: readonly TraceTranscriptSpan[]): string {
  const lines: string[] = [];
  for (const { span, depth } of treeOrder(spans)) {
    if (lines.length === TRANSCRIPT_MAX_LINES) {
      lines.push(`... (${spans.length - TRANSCRIPT_MAX_LINES} more spans)`);
      break;
    }
    const status = span.statusMessage === '' ? span.status : `${span.status}: ${clip(span.statusMessage)}`;
    let line = `${'  '.repeat(depth)}${span.name} [${status}] ${formatDuration(span.durationMs)}`;
    if (span.input !== undefined || span.output !== undefined) line += `: ${clip(span.input)} -> ${clip(span.output)}`;
    lines.push(line);
  }
  return lines.join('\n');
}

/** A conversation as prompt text (`{{thread}}`): `role: content`, one message after the other. */
export function formatThread(messages: readonly ThreadMessage[]): string {
  return messages.map((message) => `${message.role}: ${message.content}`).join('\n');
}

/**
 * Depth-first from the spans without a parent in the trace (the root, and orphans whose parent
 * never arrived), siblings in the given (start) order: a parallel fan-out then reads as a tree
 * instead of interleaving its branches.
 */
function treeOrder(spans: readonly TraceTranscriptSpan[]): Array<{ span: TraceTranscriptSpan; depth: number }> {
  const ids = new Set(spans.map((span) => span.spanId));
  const children = new Map<string, TraceTranscriptSpan[]>();
  const tops: TraceTranscriptSpan[] = [];
  for (const span of spans) {
    if (span.parentSpanId === '' || !ids.has(span.parentSpanId) || span.parentSpanId === span.spanId) {
      tops.push(span);
      continue;
    }
    const siblings = children.get(span.parentSpanId);
    if (siblings) siblings.push(span);
    else children.set(span.parentSpanId, [span]);
  }
  const ordered: Array<{ span: TraceTranscriptSpan; depth: number }> = [];
  const visited = new Set<TraceTranscriptSpan>();
  const stack = tops.map((span) => ({ span, depth: 0 })).reverse();
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (visited.has(next.span)) continue;
    visited.add(next.span);
    ordered.push(next);
    const below = children.get(next.span.spanId) ?? [];
    for (let index = below.length - 1; index >= 0; index--) stack.push({ span: below[index]!, depth: next.depth + 1 });
  }
  // A parent cycle (corrupt ids) is unreachable from any top: still show its spans, flat.
  for (const span of spans) if (!visited.has(span)) ordered.push({ span, depth: 0 });
  return ordered;
}

function formatDuration(ms: number): string {
  if (ms >= 1_000) return `${(ms / 1_000).toFixed(2)}s`;
  return ms >= 10 ? `${Math.round(ms)}ms` : `${Number(ms.toFixed(1))}ms`;
}

/** One line of at most TRANSCRIPT_FIELD_CHARS: JSON for structures, whitespace runs folded. */
function clip(value: unknown): string {
  let text: string;
  if (value === undefined || value === null) text = '';
  else if (typeof value === 'string') text = value;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  text = text.replace(/\s+/g, ' ').trim();
  if (text.length <= TRANSCRIPT_FIELD_CHARS) return text;
  let cut = TRANSCRIPT_FIELD_CHARS - 3;
  // Never half an emoji: a lone surrogate would reach the model as an escape sequence.
  if (/[\uD800-\uDBFF]/.test(text[cut - 1]!)) cut--;
  return `${text.slice(0, cut)}...`;
}
