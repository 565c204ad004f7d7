import { describe, expect, it } from 'vitest';
import { SpanSelector } from '../../src/scoring/span-selector.js';
import { spanRow } from '../storage/storage-fixtures.js';

const root = spanRow({ ParentSpanId: '', SpanName: 'POST /chat' });
const chat = spanRow({ SpanName: 'chat gpt-4o' });
const other = spanRow({ SpanName: 'db query' });

describe('SpanSelector', () => {
  it('root_spans selects spans without a parent only', () => {
    const selector = new SpanSelector({ rootSpans: true, spanNames: [] });
    expect([root, chat, other].map((span) => selector.matches(span))).toEqual([true, false, false]);
  });

  it('span_names selects spans by exact name', () => {
    const selector = new SpanSelector({ rootSpans: false, spanNames: ['chat gpt-4o'] });
    expect([root, chat, other].map((span) => selector.matches(span))).toEqual([false, true, false]);
    expect(selector.matches(spanRow({ SpanName: 'chat gpt-4o-mini' }))).toBe(false);
  });

  it('span_names takes * globs, for LLM spans named after their model', () => {
    const selector = new SpanSelector({ rootSpans: false, spanNames: ['chat *'] });
    expect([root, chat, other].map((span) => selector.matches(span))).toEqual([false, true, false]);
    expect(selector.matches(spanRow({ SpanName: 'chat claude-3-5-sonnet' }))).toBe(true);
    expect(selector.matches(spanRow({ SpanName: 'chatter' }))).toBe(false);
  });

  it('both criteria: either one selects', () => {
    const selector = new SpanSelector({ rootSpans: true, spanNames: ['chat gpt-4o'] });
    expect([root, chat, other].map((span) => selector.matches(span))).toEqual([true, true, false]);
  });

  it('neither criterion selects nothing', () => {
    const selector = new SpanSelector({ rootSpans: false, spanNames: [] });
    expect(selector.selectsAnything).toBe(false);
    expect([root, chat, other].some((span) => selector.matches(span))).toBe(false);
  });
});
