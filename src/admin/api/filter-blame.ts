import type { FilterExpr } from '../../filter/filter-ast.js';
import { formatFilter } from '../../filter/filter-format.js';
import { compileFilter } from '../../filter/js-filter-compiler.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import type { FieldConventions } from '../../scoring/field-conventions.js';

export interface FilterBlame {
  /** The whole filter's value for the span. */
  value: boolean | null;
  /** The smallest sub-expression that decides that value, as filter text the user can paste back. */
  expression: string;
  /** That sub-expression's own value (differs from `value` under a NOT). */
  expressionValue: boolean | null;
}

/**
 * Why a filter is not TRUE for a span: walks down from the root to the operand that decides
 * the result. An AND is FALSE because of its first FALSE operand and NULL because of its first
 * NULL one (with no FALSE); an OR is TRUE because of its first TRUE operand and NULL because
 * of its first NULL one; a NOT is explained by its operand with the opposite value. A FALSE OR
 * (every operand FALSE) and everything else are leaves: no single operand is to blame.
 *
 * The decisive operand, not merely the first non-TRUE one: in `a AND b` with a NULL and b
 * FALSE the result is FALSE, and pointing at `a` would send the user after the wrong field.
 * Operands are taken in source order (the compiler reorders them by cost, which does not
 * change any value), so the answer is the one a reader of the filter expects.
 */
export function blameFilter(expr: FilterExpr, conventions: FieldConventions, span: SpanRow): FilterBlame {
  const evaluate = (node: FilterExpr): boolean | null => compileFilter(node, conventions).evaluate(span);
  const value = evaluate(expr);
  let node = expr;
  let nodeValue = value;
  for (;;) {
    const next = decisiveOperand(node, nodeValue, evaluate);
    if (next === undefined) break;
    [node, nodeValue] = next;
  }
  return { value, expression: formatFilter(node), expressionValue: nodeValue };
}

function decisiveOperand(
  node: FilterExpr,
  value: boolean | null,
  evaluate: (node: FilterExpr) => boolean | null,
): [FilterExpr, boolean | null] | undefined {
  switch (node.kind) {
    case 'not':
      return [node.operand, value === null ? null : !value];
    case 'and':
      if (value === true) return undefined;
      return firstWithValue(node.operands, value, evaluate);
    case 'or':
      if (value === false) return undefined;
      return firstWithValue(node.operands, value, evaluate);
    default:
      return undefined;
  }
}

function firstWithValue(operands: readonly FilterExpr[], value: boolean | null, evaluate: (node: FilterExpr) => boolean | null): [FilterExpr, boolean | null] | undefined {
  for (const operand of operands) {
    // A sub-expression that does not compile alone (not expected for AND/OR/NOT operands, which
    // are boolean) ends the walk at its parent rather than failing the explanation.
    let operandValue: boolean | null;
    try {
      operandValue = evaluate(operand);
    } catch {
      return undefined;
    }
    if (operandValue === value) return [operand, operandValue];
  }
  return undefined;
}
