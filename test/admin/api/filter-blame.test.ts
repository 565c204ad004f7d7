import { describe, expect, it } from 'vitest';
import { blameFilter } from '../../../src/admin/api/filter-blame.js';
import { parseFilter } from '../../../src/filter/filter-parser.js';
import type { SpanRow } from '../../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS } from '../../../src/scoring/field-conventions.js';

const span: SpanRow = {
  Timestamp: '1700000000000000000',
  TraceId: '0af7651916cd43dd8448eb211c80319c',
  SpanId: 'b7ad6b7169203331',
  ParentSpanId: '',
  TraceState: '',
  SpanName: 'chat',
  SpanKind: 'Server',
  ServiceName: 'svc',
  ResourceAttributes: {},
  ScopeName: 's',
  ScopeVersion: '',
  SpanAttributes: { model: 'gpt-3', tokens: '12' },
  Duration: '5000000',
  StatusCode: 'Ok',
  StatusMessage: '',
  Events: [],
  Links: [],
};

const blame = (text: string) => blameFilter(parseFilter(text), DEFAULT_FIELD_CONVENTIONS, span);

describe('blameFilter', () => {
  it('points at the first FALSE operand of an AND chain, in source order', () => {
    expect(blame("name = 'chat' AND attributes.model = 'gpt-4' AND duration_ms > 100")).toEqual({
      value: false,
      expression: "attributes.model = 'gpt-4'",
      expressionValue: false,
    });
  });

  it('points at the operand that decides: FALSE beats an earlier NULL', () => {
    expect(blame("attributes.absent = 'x' AND duration_ms > 100")).toMatchObject({ value: false, expression: 'duration_ms > 100' });
    expect(blame("name = 'chat' AND attributes.absent = 'x'")).toMatchObject({ value: null, expression: "attributes.absent = 'x'", expressionValue: null });
  });

  it('descends through nested ANDs, parentheses and NOT', () => {
    expect(blame("name = 'chat' AND (duration_ms < 100 AND NOT (attributes.model = 'gpt-3' OR attributes.model = 'gpt-4'))")).toEqual({
      value: false,
      // The NOT is FALSE because its OR is TRUE, because of its first TRUE operand.
      expression: "attributes.model = 'gpt-3'",
      expressionValue: true,
    });
  });

  it('stops at an OR whose operands are all FALSE, and at a leaf', () => {
    expect(blame("name = 'x' OR name = 'y'")).toEqual({ value: false, expression: "name = 'x' OR name = 'y'", expressionValue: false });
    expect(blame('duration_ms > 100')).toEqual({ value: false, expression: 'duration_ms > 100', expressionValue: false });
  });

  it('reports TRUE filters whole', () => {
    expect(blame("name = 'chat' AND is_root")).toMatchObject({ value: true, expression: "name = 'chat' AND is_root" });
  });
});
