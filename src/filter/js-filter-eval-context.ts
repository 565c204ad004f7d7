import type { SpanRow } from '../pipeline/span-row.js';
import type { FilterValue } from './filter-values.js';
import { parseJson, type ParsedJson } from './json-path.js';

/**
 * Per-evaluation state, reused across evaluations (evaluation is synchronous and never
 * re-entered). JSON texts are parsed at most once per evaluation: each distinct source text
 * (an attribute, a convention field) has a memo slot, valid while its generation matches.
 */
export class EvalContext {
  span: SpanRow = undefined as unknown as SpanRow;
  generation = 0;
  readonly slotGeneration: number[];
  readonly slotValue: ParsedJson[];

  constructor(slots: number) {
    this.slotGeneration = new Array<number>(slots).fill(-1);
    this.slotValue = new Array<ParsedJson>(slots).fill(null);
  }

  begin(span: SpanRow): void {
    this.span = span;
    this.generation++;
  }

  /** The parse of `text`, the text of memo slot `slot` in this evaluation. */
  parsed(slot: number, text: string): ParsedJson {
    if (this.slotGeneration[slot] === this.generation) return this.slotValue[slot]!;
    const value = parseJson(text);
    this.slotGeneration[slot] = this.generation;
    this.slotValue[slot] = value;
    return value;
  }
}

export type Evaluator = (ctx: EvalContext) => FilterValue;

export interface Compiled {
  readonly fn: Evaluator;
  /** The subtree reads no field: `value` is its result for every span. */
  readonly constant: boolean;
  readonly value?: FilterValue;
  /** Set when `fn` returns a span text that has a JSON memo slot (json_valid reuses the parse). */
  readonly textSlot?: number;
}

export function constant(value: FilterValue): Compiled {
  return { fn: () => value, constant: true, value };
}

export function dynamic(fn: Evaluator): Compiled {
  return { fn, constant: false };
}
