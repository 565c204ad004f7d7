import type { FilterExpr, StringLiteral } from './filter-ast.js';
import type { SqlContext } from './clickhouse-sql-context.js';
import { boolSql, compareSql, logicSql, notSql, withView, type SqlValue } from './clickhouse-typed-sql.js';

/**
 * Comparisons of one STRING expression with many string literals, compiled as one set lookup:
 * `x IN ('a', 'b', ...)`, `x = 'a' OR x = 'b' OR ...` and `x != 'a' AND x != 'b' AND ...`
 * become `x IN {p:Array(String)}` (negated for the last).
 *
 * Why: compiled one comparison per literal, a pasted list of ids is an `or()` with tens of
 * thousands of arguments, which ClickHouse analyses in time quadratic in its size (20,000
 * comparisons of one attribute take minutes) and refuses past 50,000 syntax tree nodes; a set
 * is one literal, looked up by hash.
 *
 * The value is the same. For a STRING x, `x = 'a'` is NULL when x is NULL, else TRUE or FALSE,
 * so their OR is NULL when x is NULL, else whether x is one of the literals: what ClickHouse's
 * `x IN array` gives (a NULL on its left gives NULL while `transform_null_in` is off, its
 * default). An operand of another type is left alone, since comparing it with a string goes
 * by the comparison table (numeric and boolean text convert), literal by literal.
 */

export type StringValue = { readonly type: 'string'; readonly sql: string };

export function isStringValue(value: SqlValue): value is StringValue {
  return value.type === 'string';
}

/** `subject` equal to one of `values` (at least one): a comparison for one, else a set lookup. */
function memberSql(ctx: SqlContext, subject: StringValue, values: readonly string[]): string {
  if (values.length === 1) return compareSql(ctx, '=', subject, { type: 'string', sql: ctx.string(values[0]!) });
  return `(${subject.sql} IN ${ctx.stringArray(values)})`;
}

/** `operand IN (list)` for a STRING operand; the list's other items are compared one by one, as before. */
export function stringInListSql(ctx: SqlContext, operand: StringValue, list: readonly FilterExpr[], compile: (expr: FilterExpr) => SqlValue): string {
  const literals = list.filter(isStringLiteral).map((item) => item.value);
  const others = list.filter((item) => !isStringLiteral(item)).map(compile);
  if (others.length === 0 && literals.length > 0) return memberSql(ctx, operand, literals);
  return withView(ctx, operand, (view) => {
    const subject = view.value as StringValue;
    const terms = others.map((item) => compareSql(ctx, '=', subject, item));
    return logicSql('or', literals.length === 0 ? terms : [memberSql(ctx, subject, literals), ...terms]);
  });
}

/**
 * The operands of an OR (or AND) as boolean SQL, the `=` (`!=`) comparisons of one STRING
 * expression with string literals merged into one set lookup where the first of them was:
 * OR and AND are commutative in three-valued logic, so the order does not change the value.
 */
export function connectiveOperandsSql(
  ctx: SqlContext,
  kind: 'and' | 'or',
  operands: readonly FilterExpr[],
  compile: (expr: FilterExpr) => SqlValue,
): string[] {
  const op = kind === 'or' ? '=' : '!=';
  const out: Array<string | { subject: StringValue; values: string[] }> = [];
  const groups = new Map<string, { subject: StringValue; values: string[] }>();
  for (const operand of operands) {
    const pair = literalComparison(operand, op);
    if (pair === undefined) {
      out.push(boolSql(compile(operand)));
      continue;
    }
    const subject = compile(pair.subject);
    if (!isStringValue(subject)) {
      const literal: SqlValue = { type: 'string', sql: ctx.string(pair.literal) };
      out.push(pair.literalFirst ? compareSql(ctx, op, literal, subject) : compareSql(ctx, op, subject, literal));
      continue;
    }
    // Equal SQL is the same value: filter expressions are deterministic, and equal text has equal parameters.
    let group = groups.get(subject.sql);
    if (group === undefined) {
      group = { subject, values: [] };
      groups.set(subject.sql, group);
      out.push(group);
    }
    group.values.push(pair.literal);
  }
  return out.map((item) => {
    if (typeof item === 'string') return item;
    if (item.values.length === 1) return compareSql(ctx, op, item.subject, { type: 'string', sql: ctx.string(item.values[0]!) });
    const member = memberSql(ctx, item.subject, item.values);
    return kind === 'or' ? member : notSql(member);
  });
}

function literalComparison(expr: FilterExpr, op: '=' | '!='): { subject: FilterExpr; literal: string; literalFirst: boolean } | undefined {
  if (expr.kind !== 'compare' || expr.op !== op) return undefined;
  if (isStringLiteral(expr.right)) return { subject: expr.left, literal: expr.right.value, literalFirst: false };
  if (isStringLiteral(expr.left)) return { subject: expr.right, literal: expr.left.value, literalFirst: true };
  return undefined;
}

function isStringLiteral(expr: FilterExpr): expr is StringLiteral {
  return expr.kind === 'string';
}
