import type { ArithmeticOp, CompareOp } from './filter-ast.js';
import type { SqlContext } from './clickhouse-sql-context.js';

/**
 * Typed SQL values of the ClickHouse filter compiler and the value-level rules of
 * docs/filter-language.md (comparison table, numeric strings, arithmetic, three-valued logic)
 * written as ClickHouse SQL.
 *
 * A statically typed expression is one SQL expression: BOOL `Nullable(UInt8)`, NUMBER
 * `Nullable(Float64)`, STRING `Nullable(String)`; the NULL literal has no SQL of its own. An
 * expression whose type is known only at run time (a JSON path, a mixed `coalesce`) is a
 * `DYNAMIC_TYPE` tuple `(tag, bool, number, string, json)`: `tag` says which kind the value
 * has (`TAG`, 0 for NULL) and exactly that slot is non-NULL (JSON objects and arrays are
 * carried as their JSON text). Consumers rely on that invariant: a slot is NULL unless the
 * value has that kind, so "the value as a STRING" is just the string slot.
 */
export type Kind = 'bool' | 'number' | 'string' | 'json';
export type StaticKind = Exclude<Kind, 'json'>;

export type SqlValue =
  | { readonly type: 'null' }
  | { readonly type: StaticKind; readonly sql: string }
  | { readonly type: 'dynamic'; readonly sql: string };

export const NULL_VALUE: SqlValue = { type: 'null' };
export const NULL_BOOL = 'CAST(NULL AS Nullable(UInt8))';
export const NULL_NUMBER = 'CAST(NULL AS Nullable(Float64))';
export const NULL_STRING = 'CAST(NULL AS Nullable(String))';
export const DYNAMIC_TYPE = 'Tuple(UInt8, Nullable(UInt8), Nullable(Float64), Nullable(String), Nullable(String))';
export const TAG: Readonly<Record<Kind, number>> = { bool: 1, number: 2, string: 3, json: 4 };
const KINDS: readonly Kind[] = ['bool', 'number', 'string', 'json'];

/** The doc's number-literal grammar for strings (RE2; `$` is the end of the text, not of a line). */
export const NUMERIC_STRING_RE = `'^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$'`;

/** The slot of a dynamic tuple holding values of `kind`. */
export function dynamicSlot(sql: string, kind: Kind): string {
  return `tupleElement(${sql}, ${TAG[kind] + 1})`;
}

/** A value that a consumer may use several times: `slot(kind)` is the value as that kind (NULL when it has another kind). */
export interface ValueView {
  readonly kinds: readonly Kind[];
  slot(kind: Kind): string;
  /** Never NULL. */
  readonly isNull: string;
  /** The bound value itself, to pass on to other operators. */
  readonly value: SqlValue;
}

/** Binds `value` once (see `SqlContext.let`) and builds `body` over a view of it. */
export function withView(ctx: SqlContext, value: SqlValue, body: (view: ValueView) => string): string {
  if (value.type === 'null') return body({ kinds: [], slot: () => 'NULL', isNull: '1', value });
  if (value.type === 'dynamic') {
    return ctx.let(value.sql, (ref) =>
      body({ kinds: KINDS, slot: (kind) => dynamicSlot(ref, kind), isNull: `(tupleElement(${ref}, 1) = 0)`, value: { type: 'dynamic', sql: ref } }),
    );
  }
  const type = value.type;
  return ctx.let(value.sql, (ref) => body({ kinds: [type], slot: (kind) => (kind === type ? ref : 'NULL'), isNull: `isNull(${ref})`, value: { type, sql: ref } }));
}

export function withViews(ctx: SqlContext, values: readonly SqlValue[], body: (views: ValueView[]) => string): string {
  const bind = (index: number, views: ValueView[]): string =>
    index === values.length ? body(views) : withView(ctx, values[index]!, (view) => bind(index + 1, [...views, view]));
  return bind(0, []);
}

/** The value as a BOOL: a boolean, else NULL (a dynamic non-boolean "counts as NULL"). */
export function boolSql(value: SqlValue): string {
  switch (value.type) {
    case 'bool':
      return value.sql;
    case 'dynamic':
      return dynamicSlot(value.sql, 'bool');
    default:
      return NULL_BOOL;
  }
}

/** The value as a STRING: a string, else NULL. */
export function stringSql(value: SqlValue): string {
  switch (value.type) {
    case 'string':
      return value.sql;
    case 'dynamic':
      return dynamicSlot(value.sql, 'string');
    default:
      return NULL_STRING;
  }
}

/** A numeric string's number, else NULL (`s` is used twice: pass a bound reference). */
function numericStringSql(s: string): string {
  return `if(match(${s}, ${NUMERIC_STRING_RE}), toFloat64OrNull(${s}), NULL)`;
}

/** The value as an arithmetic operand: a NUMBER, or a numeric STRING converted; else NULL. */
export function numberSql(ctx: SqlContext, value: SqlValue): string {
  switch (value.type) {
    case 'number':
      return value.sql;
    case 'string':
      return ctx.let(value.sql, numericStringSql);
    case 'dynamic':
      return ctx.let(value.sql, (ref) => `coalesce(${dynamicSlot(ref, 'number')}, ${numericStringSql(dynamicSlot(ref, 'string'))})`);
    default:
      return NULL_NUMBER;
  }
}

/** The value as a dynamic tuple. */
export function dynamicSql(ctx: SqlContext, value: SqlValue): string {
  if (value.type === 'dynamic') return value.sql;
  if (value.type === 'null') return `CAST(tuple(0, NULL, NULL, NULL, NULL) AS ${DYNAMIC_TYPE})`;
  const kind = value.type;
  return ctx.let(value.sql, (ref) => {
    const slots = KINDS.map((k) => (k === kind ? ref : 'NULL')).join(', ');
    return `CAST(tuple(if(isNull(${ref}), 0, ${TAG[kind]}), ${slots}) AS ${DYNAMIC_TYPE})`;
  });
}

const SQL_COMPARE: Readonly<Record<CompareOp, string>> = { '=': '=', '!=': '!=', '<': '<', '<=': '<=', '>': '>', '>=': '>=' };

/**
 * One cell of the comparison table, or undefined when the cell is always NULL. Every cell is
 * strict: NULL when either operand is NULL, which lets `compareSql` combine the cells of
 * dynamic operands with `coalesce` (only the cell of the kinds actually present can be non-NULL).
 */
function compareCell(op: string, leftKind: Kind, left: string, rightKind: Kind, right: string): string | undefined {
  const pair = `${leftKind}/${rightKind}`;
  switch (pair) {
    case 'number/number':
    case 'string/string':
    case 'bool/bool':
      return `(${left} ${op} ${right})`;
    case 'number/string':
      return `if(match(${right}, ${NUMERIC_STRING_RE}), ${left} ${op} toFloat64OrNull(${right}), NULL)`;
    case 'string/number':
      return `if(match(${left}, ${NUMERIC_STRING_RE}), toFloat64OrNull(${left}) ${op} ${right}, NULL)`;
    case 'string/bool':
      return `if(${left} IN ('true', 'false'), (${left} = 'true') ${op} ${right}, NULL)`;
    case 'bool/string':
      return `if(${right} IN ('true', 'false'), ${left} ${op} (${right} = 'true'), NULL)`;
    default:
      return undefined;
  }
}

/** `left op right` by the doc's comparison table (three-valued). */
export function compareSql(ctx: SqlContext, op: CompareOp, left: SqlValue, right: SqlValue): string {
  return withViews(ctx, [left, right], ([l, r]) => {
    const cells: string[] = [];
    for (const lk of l!.kinds) {
      for (const rk of r!.kinds) {
        const cell = compareCell(SQL_COMPARE[op], lk, l!.slot(lk), rk, r!.slot(rk));
        if (cell !== undefined) cells.push(cell);
      }
    }
    return cells.length === 0 ? NULL_BOOL : cells.length === 1 ? cells[0]! : `coalesce(${cells.join(', ')})`;
  });
}

/** `and` / `or` of BOOL-like SQL, three-valued (ClickHouse's `and`/`or` on Nullable(UInt8)). */
export function logicSql(kind: 'and' | 'or', operands: readonly string[]): string {
  if (operands.length === 0) return kind === 'and' ? '1' : '0';
  if (operands.length === 1) return operands[0]!;
  return `${kind}(${operands.join(', ')})`;
}

/**
 * Three-valued NOT. Written as the operator and parenthesised: ClickHouse parses the function
 * form `not(x) < y` as `NOT (x < y)`, since `not(...)` is the NOT operator applied to `(x)`.
 */
export function notSql(operand: string): string {
  return `(NOT ${operand})`;
}

/** `x IS [NOT] NULL`, never NULL. */
export function isNullSql(value: SqlValue, negated: boolean): string {
  switch (value.type) {
    case 'null':
      return negated ? '0' : '1';
    case 'dynamic':
      return `(tupleElement(${value.sql}, 1) ${negated ? '!=' : '='} 0)`;
    default:
      return `${negated ? 'isNotNull' : 'isNull'}(${value.sql})`;
  }
}

/** Binary arithmetic on NUMBER SQL: NULL operands give NULL, as do division and modulo by zero. */
export function arithmeticSql(ctx: SqlContext, op: ArithmeticOp, left: string, right: string): string {
  switch (op) {
    case '+':
    case '-':
    case '*':
      return `(${left} ${op} ${right})`;
    case '/':
      return ctx.letAll([left, right], ([a, b]) => `if(${b} = 0, NULL, ${a} / ${b})`);
    case '%':
      return ctx.letAll([left, right], ([a, b]) => `if(isNull(${a}) OR isNull(${b}) OR ${b} = 0, NULL, ${fmodSql(ctx, `assumeNotNull(${a})`, `assumeNotNull(${b})`)})`);
  }
}

/**
 * IEEE `fmod` (JS `%`, exact; the sign of the dividend) of two non-NULL Float64 with a non-zero
 * divisor. ClickHouse's own `%` on floats is `a - trunc(a / b) * b`, which is off by rounding
 * errors (`-277158844317963550 % 4999` gives -3616, not -3631), so the remainder is computed
 * by binary long division: subtracting `|b| * 2^i` for i from the exponent difference down to
 * 0 whenever it fits. Each subtraction is exact (Sterbenz: the subtrahend is within a factor
 * of two of the running remainder), so the result is the exact remainder, as in C's `fmod`.
 * `exp2` of an integer is exact; `|b| * 2^i` is a product of factors of at most 2^1000 so that
 * it stays exact for subnormal `|b|` (2^i alone would overflow for i up to about 2100).
 */
function fmodSql(ctx: SqlContext, dividend: string, divisor: string): string {
  return ctx.letAll([dividend, divisor], ([a, b]) => {
    const exponent = (x: string) => `toInt64(bitAnd(bitShiftRight(reinterpretAsUInt64(abs(${x})), 52), 2047))`;
    // Upper bound on the exponent difference: exact for normal numbers, +53 when |b| is subnormal.
    const steps = `${exponent(a)} - ${exponent(b)} + if(${exponent(b)} = 0, 53, 0)`;
    const acc = ctx.variable();
    const i = ctx.variable();
    // |b| * 2^i in factors of at most 2^1000 (exp2 of more overflows), each product exact up to the last.
    const chunk = `abs(${b}) * exp2(least(${i}, 1000)) * exp2(least(greatest(${i} - 1000, 0), 1000)) * exp2(greatest(${i} - 2000, 0))`;
    const loop = `arrayFold((${acc}, ${i}) -> if(${acc} >= ${chunk}, ${acc} - ${chunk}, ${acc}), range(${steps}, -1, -1), abs(${a}))`;
    return ctx.let(loop, (r) =>
      `multiIf(isNaN(${a}) OR isNaN(${b}) OR isInfinite(${a}), nan, isInfinite(${b}) OR abs(${a}) < abs(${b}), ${a}, if(${a} < 0, negate(${r}), ${r}))`,
    );
  });
}

/** Unary minus on NUMBER SQL. */
export function negateSql(operand: string): string {
  return `negate(${operand})`;
}

/**
 * ClickHouse's LIKE throws on a pattern ending in a lone backslash; the doc (and the JS
 * matcher) read it as a literal backslash, which `\\` spells in ClickHouse.
 */
export function escapeTrailingBackslash(pattern: string): string {
  const trailing = /\\*$/.exec(pattern)![0].length;
  return trailing % 2 === 1 ? `${pattern}\\` : pattern;
}

/** The run-time form of `escapeTrailingBackslash` for patterns that are not literals. */
export function escapeTrailingBackslashSql(ctx: SqlContext, pattern: string): string {
  // RE2 `\x5c` is a backslash; the SQL literal doubles each backslash.
  return ctx.let(pattern, (p) => `if(match(${p}, '(^|[^\\\\x5c])(\\\\x5c\\\\x5c)*\\\\x5c$'), concat(${p}, '\\\\'), ${p})`);
}
