import type { CallExpr, FilterExpr } from './filter-ast.js';
import { inferTypes, type StaticType } from './filter-static-types.js';
import type { FieldConventions } from '../scoring/field-conventions.js';
import { SqlContext, type SqlParams } from './clickhouse-sql-context.js';
import { fieldSql, jsonValueSql } from './clickhouse-field-sql.js';
import { connectiveOperandsSql, isStringValue, stringInListSql } from './clickhouse-string-sets.js';
import {
  NULL_BOOL,
  NULL_NUMBER,
  NULL_VALUE,
  arithmeticSql,
  boolSql,
  compareSql,
  dynamicSlot,
  dynamicSql,
  escapeTrailingBackslash,
  escapeTrailingBackslashSql,
  isNullSql,
  logicSql,
  negateSql,
  notSql,
  numberSql,
  stringSql,
  withView,
  withViews,
  type SqlValue,
} from './clickhouse-typed-sql.js';

export interface ClickHouseFilterOptions {
  /**
   * Prefix of the query parameter names (default `p`: `{p0:String}`, `{p1:Float64}`, …) and of
   * the lambda variables, so that several compiled filters can share one query.
   */
  paramPrefix?: string;
}

export interface ClickHouseFilter {
  /**
   * A boolean (`Nullable(UInt8)`) expression over the columns of `otel_traces`: 1, 0 or NULL
   * per span exactly as docs/filter-language.md defines the filter's value. As a `WHERE`
   * condition NULL selects nothing, like FALSE. Contains no text from the filter: every
   * literal and key is in `params`.
   */
  sql: string;
  /** The query parameters `sql` refers to; pass them as the query's parameters (`query_params`). */
  params: SqlParams;
}

/**
 * Compiles a parsed filter to a ClickHouse boolean expression with the same three-valued
 * meaning as the JS predicate (`compileFilter` in js-filter-compiler.ts); a differential test
 * holds the two together. Throws `FilterTypeError` for the filters the type check refuses.
 */
export function compileFilterToClickHouse(expr: FilterExpr, conventions: FieldConventions, options: ClickHouseFilterOptions = {}): ClickHouseFilter {
  const types = inferTypes(expr);
  const ctx = new SqlContext(options.paramPrefix);
  const sql = boolSql(new ClickHouseFilterCompiler(ctx, conventions, types).compile(expr));
  return { sql, params: ctx.params };
}

class ClickHouseFilterCompiler {
  constructor(
    readonly ctx: SqlContext,
    readonly conventions: FieldConventions,
    readonly types: ReadonlyMap<FilterExpr, StaticType>,
  ) {}

  compile(expr: FilterExpr): SqlValue {
    const ctx = this.ctx;
    switch (expr.kind) {
      case 'string':
        return { type: 'string', sql: ctx.string(expr.value) };
      case 'number':
        return { type: 'number', sql: ctx.float(expr.value) };
      case 'boolean':
        return { type: 'bool', sql: expr.value ? '1' : '0' };
      case 'null':
        return NULL_VALUE;
      case 'field':
        return fieldSql(ctx, expr, this.conventions);
      case 'not':
        return { type: 'bool', sql: notSql(boolSql(this.compile(expr.operand))) };
      case 'and':
      case 'or':
        return { type: 'bool', sql: logicSql(expr.kind, connectiveOperandsSql(ctx, expr.kind, expr.operands, (operand) => this.compile(operand))) };
      case 'negate':
        return { type: 'number', sql: negateSql(this.number(expr.operand)) };
      case 'arithmetic':
        return { type: 'number', sql: arithmeticSql(ctx, expr.op, this.number(expr.left), this.number(expr.right)) };
      case 'compare':
        return { type: 'bool', sql: compareSql(ctx, expr.op, this.compile(expr.left), this.compile(expr.right)) };
      case 'is_null':
        return { type: 'bool', sql: isNullSql(this.compile(expr.operand), expr.negated) };
      case 'in': {
        const operand = this.compile(expr.operand);
        if (isStringValue(operand)) {
          const sql = stringInListSql(ctx, operand, expr.list, (item) => this.compile(item));
          return { type: 'bool', sql: expr.negated ? notSql(sql) : sql };
        }
        const list = expr.list.map((item) => this.compile(item));
        const sql = withView(ctx, operand, (view) => logicSql('or', list.map((item) => compareSql(ctx, '=', view.value, item))));
        return { type: 'bool', sql: expr.negated ? notSql(sql) : sql };
      }
      case 'between': {
        const [low, high] = [this.compile(expr.low), this.compile(expr.high)];
        const sql = withView(ctx, this.compile(expr.operand), (view) => {
          const operand = view.value;
          return logicSql('and', [compareSql(ctx, '>=', operand, low), compareSql(ctx, '<=', operand, high)]);
        });
        return { type: 'bool', sql: expr.negated ? notSql(sql) : sql };
      }
      case 'like': {
        let text = stringSql(this.compile(expr.operand));
        let pattern =
          expr.pattern.kind === 'string'
            ? ctx.string(escapeTrailingBackslash(expr.pattern.value))
            : escapeTrailingBackslashSql(ctx, stringSql(this.compile(expr.pattern)));
        if (expr.caseInsensitive) {
          // ClickHouse's ILIKE folds non-ASCII case too (É ~ é); the doc's ILIKE folds ASCII letters only.
          text = `lower(${text})`;
          pattern = `lower(${pattern})`;
        }
        const sql = `like(${text}, ${pattern})`;
        return { type: 'bool', sql: expr.negated ? notSql(sql) : sql };
      }
      case 'call':
        return this.call(expr);
    }
  }

  number(expr: FilterExpr): string {
    return numberSql(this.ctx, this.compile(expr));
  }

  call(expr: CallExpr): SqlValue {
    const ctx = this.ctx;
    const args = expr.args.map((arg) => this.compile(arg));
    switch (expr.name) {
      case 'lower':
      case 'upper':
        // ASCII-only case mapping, as the doc requires (lowerUTF8/upperUTF8 would map all letters).
        return { type: 'string', sql: `${expr.name}(${stringSql(args[0]!)})` };
      case 'length':
        return { type: 'number', sql: lengthSql(ctx, args[0]!) };
      case 'starts_with':
        return { type: 'bool', sql: `startsWith(${stringSql(args[0]!)}, ${stringSql(args[1]!)})` };
      case 'ends_with':
        return { type: 'bool', sql: `endsWith(${stringSql(args[0]!)}, ${stringSql(args[1]!)})` };
      case 'contains':
        return { type: 'bool', sql: containsSql(ctx, args[0]!, args[1]!) };
      case 'json_valid':
        return { type: 'bool', sql: jsonValidSql(ctx, args[0]!) };
      case 'coalesce':
        return coalesceSql(ctx, args, this.types.get(expr)!);
    }
  }
}

/** Code points of a STRING; elements of a JSON array, members of a JSON object; NULL otherwise. */
function lengthSql(ctx: SqlContext, value: SqlValue): string {
  switch (value.type) {
    case 'string':
      return `toFloat64(lengthUTF8(${value.sql}))`;
    case 'dynamic':
      return ctx.let(value.sql, (ref) => {
        const s = dynamicSlot(ref, 'string');
        const j = dynamicSlot(ref, 'json');
        // An object counts its distinct keys: JSON.parse keeps one member per key.
        return (
          `toFloat64(multiIf(isNotNull(${s}), lengthUTF8(${s}), JSONType(${j}) = 'Object', length(arrayDistinct(JSONExtractKeys(ifNull(${j}, '')))), ` +
          `isNotNull(${j}), JSONLength(ifNull(${j}, '')), NULL))`
        );
      });
    default:
      return NULL_NUMBER;
  }
}

/**
 * `contains(h, n)`: a STRING h contains the STRING n; a JSON array h has an element for which
 * `element = n` is TRUE (an element compared as NULL just does not match, so the answer is
 * TRUE or FALSE), NULL when n is NULL; NULL for any other h.
 */
function containsSql(ctx: SqlContext, haystack: SqlValue, needle: SqlValue): string {
  return withViews(ctx, [haystack, needle], ([h, n]) => {
    const cells: string[] = [];
    if (h!.kinds.includes('string') && n!.kinds.includes('string')) cells.push(`(position(${h!.slot('string')}, ${n!.slot('string')}) > 0)`);
    if (h!.kinds.includes('json') && n!.kinds.length > 0) {
      const element = ctx.variable();
      const equal = compareSql(ctx, '=', { type: 'dynamic', sql: jsonValueSql(ctx, element) }, n!.value);
      const json = h!.slot('json');
      const array = ctx.let(json, (j) => `if(JSONType(${j}) = 'Array', arrayExists(${element} -> ifNull(${equal}, 0) = 1, JSONExtractArrayRaw(ifNull(${j}, ''))), NULL)`);
      cells.push(`if(${n!.isNull}, NULL, ${array})`);
    }
    return cells.length === 0 ? NULL_BOOL : cells.length === 1 ? cells[0]! : `coalesce(${cells.join(', ')})`;
  });
}

/** STRING: valid JSON text; JSON: TRUE; NULL: NULL; anything else FALSE. */
function jsonValidSql(ctx: SqlContext, value: SqlValue): string {
  switch (value.type) {
    case 'null':
      return NULL_BOOL;
    case 'string':
      return `isValidJSON(${value.sql})`;
    case 'dynamic':
      return ctx.let(value.sql, (ref) => {
        const tag = `tupleElement(${ref}, 1)`;
        return `multiIf(${tag} = 0, NULL, ${tag} = 3, isValidJSON(${dynamicSlot(ref, 'string')}), ${tag} = 4, 1, 0)`;
      });
    default:
      return `if(isNull(${value.sql}), NULL, 0)`;
  }
}

/** The first argument that is not NULL: plain `coalesce` when the arguments share a static type, else over dynamic tuples. */
function coalesceSql(ctx: SqlContext, args: readonly SqlValue[], type: StaticType): SqlValue {
  const present = args.filter((arg) => arg.type !== 'null');
  if (present.length === 0) return NULL_VALUE;
  if (type !== 'dynamic' && present.every((arg) => arg.type === type)) {
    const sqls = present.map((arg) => (arg as { sql: string }).sql);
    return { type: type as 'bool' | 'number' | 'string', sql: sqls.length === 1 ? sqls[0]! : `coalesce(${sqls.join(', ')})` };
  }
  const tuples = present.map((arg) => dynamicSql(ctx, arg));
  const sql = ctx.letAll(tuples.slice(0, -1), (refs) => {
    const branches = refs.map((ref) => `tupleElement(${ref}, 1) != 0, ${ref}`);
    return branches.length === 0 ? tuples.at(-1)! : `multiIf(${branches.join(', ')}, ${tuples.at(-1)!})`;
  });
  return { type: 'dynamic', sql };
}
