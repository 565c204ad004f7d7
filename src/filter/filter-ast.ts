/**
 * The typed syntax tree of a rule's `filter`: one SQL boolean expression over one span.
 *
 * The tree is deliberately untyped in the SQL sense (`name AND 1` parses): the two compilers
 * that consume it (JS predicate, ClickHouse WHERE) own type checking, so that both reject
 * exactly the same filters for the same reasons. The parser only guarantees shape: known
 * fields, known functions with the right number of arguments, paths only where paths exist.
 */

/** Where a node starts in the filter text. `offset` is a 0-based UTF-16 index; `line` and `column` are 1-based, columns counted in code points. */
export interface FilterPos {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

export const FILTER_FIELDS = [
  'input',
  'output',
  'expected',
  'metadata',
  'name',
  'span_kind',
  'service_name',
  'status',
  'status_message',
  'duration_ms',
  'is_root',
  'trace_id',
  'span_id',
  'parent_span_id',
  'attributes',
  'resource',
  'scope_name',
  'timestamp',
] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

/** Fields whose values have inner structure: JSON documents and string maps. Only these accept path steps. */
export const PATH_FIELDS = ['input', 'output', 'expected', 'metadata', 'attributes', 'resource'] as const;
export type PathField = (typeof PATH_FIELDS)[number];

/**
 * The string maps (span and resource attributes). Their keys are conventionally dotted
 * (`gen_ai.request.model`), so the compilers join consecutive unquoted key steps into one
 * dotted key; the parser therefore also accepts digit-led key steps here
 * (`attributes.gen_ai.prompt.0.content`), which it rejects on JSON fields where `[0]` is meant.
 */
export const MAP_FIELDS = ['attributes', 'resource'] as const;
export type MapField = (typeof MAP_FIELDS)[number];

export interface FilterFunctionSignature {
  readonly minArgs: number;
  /** `Infinity` for variadic functions. */
  readonly maxArgs: number;
}

export const FILTER_FUNCTIONS = {
  lower: { minArgs: 1, maxArgs: 1 },
  upper: { minArgs: 1, maxArgs: 1 },
  length: { minArgs: 1, maxArgs: 1 },
  contains: { minArgs: 2, maxArgs: 2 },
  starts_with: { minArgs: 2, maxArgs: 2 },
  ends_with: { minArgs: 2, maxArgs: 2 },
  json_valid: { minArgs: 1, maxArgs: 1 },
  coalesce: { minArgs: 1, maxArgs: Infinity },
} as const satisfies Record<string, FilterFunctionSignature>;
export type FilterFunctionName = keyof typeof FILTER_FUNCTIONS;
export const FILTER_FUNCTION_NAMES = Object.keys(FILTER_FUNCTIONS) as FilterFunctionName[];

/**
 * Deepest tree the parser builds (and deepest bracket/prefix nesting it follows), so that the
 * parser, the formatter and both compilers can recurse without risking the stack. AND/OR
 * chains are n-ary nodes and IN lists are flat, so real filters stay far below it.
 */
export const FILTER_MAX_DEPTH = 100;

export type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=';
export type ArithmeticOp = '+' | '-' | '*' | '/' | '%';

interface Node {
  /** Where the node's own text starts; enclosing parentheses are not part of it. */
  readonly pos: FilterPos;
}

/**
 * A decoded string literal. Escapes are decoded except `\%` and `\_`, which keep their
 * backslash (as ClickHouse does), so `'100\%'` and `'100\\%'` both hold the four characters
 * `100\%`. LIKE patterns therefore reach the compilers with ClickHouse's LIKE escaping intact:
 * in a pattern, `\%` is a literal percent, `\_` a literal underscore, `\\` a literal backslash.
 */
export interface StringLiteral extends Node {
  readonly kind: 'string';
  readonly value: string;
}

/** Always finite and non-negative (`-1` is a `negate` of `1`). `integer` is false when written with a fraction or exponent; integers are safe integers. */
export interface NumberLiteral extends Node {
  readonly kind: 'number';
  readonly value: number;
  readonly integer: boolean;
}

export interface BooleanLiteral extends Node {
  readonly kind: 'boolean';
  readonly value: boolean;
}

export interface NullLiteral extends Node {
  readonly kind: 'null';
}

/**
 * `quoted` is false for a bare `.ident` step and true for `."key"`, `` .`key` `` and `['key']`:
 * on maps the compilers join runs of bare steps into one dotted key, while a quoted step is
 * always exactly one key.
 */
export interface KeyStep extends Node {
  readonly kind: 'key';
  readonly key: string;
  readonly quoted: boolean;
}

export interface IndexStep extends Node {
  readonly kind: 'index';
  readonly index: number;
}

export type PathStep = KeyStep | IndexStep;

/** A field, possibly followed by steps into it (steps only on `PATH_FIELDS`). */
export interface FieldRef extends Node {
  readonly kind: 'field';
  readonly field: FilterField;
  readonly steps: readonly PathStep[];
}

export interface NotExpr extends Node {
  readonly kind: 'not';
  readonly operand: FilterExpr;
}

/** Unary minus. */
export interface NegateExpr extends Node {
  readonly kind: 'negate';
  readonly operand: FilterExpr;
}

/** `a AND b AND c` is one node with three operands; a parenthesised AND inside stays nested. Always at least two operands. */
export interface AndExpr extends Node {
  readonly kind: 'and';
  readonly operands: readonly FilterExpr[];
}

export interface OrExpr extends Node {
  readonly kind: 'or';
  readonly operands: readonly FilterExpr[];
}

export interface ArithmeticExpr extends Node {
  readonly kind: 'arithmetic';
  readonly op: ArithmeticOp;
  readonly left: FilterExpr;
  readonly right: FilterExpr;
  readonly opPos: FilterPos;
}

/** `<>` is stored as `!=`. */
export interface CompareExpr extends Node {
  readonly kind: 'compare';
  readonly op: CompareOp;
  readonly left: FilterExpr;
  readonly right: FilterExpr;
  readonly opPos: FilterPos;
}

/** `opPos` is where `IS` is. */
export interface IsNullExpr extends Node {
  readonly kind: 'is_null';
  readonly operand: FilterExpr;
  readonly negated: boolean;
  readonly opPos: FilterPos;
}

/** `opPos` is where `IN` (or the `NOT` of `NOT IN`) is. The list is never empty. */
export interface InExpr extends Node {
  readonly kind: 'in';
  readonly operand: FilterExpr;
  readonly list: readonly FilterExpr[];
  readonly negated: boolean;
  readonly opPos: FilterPos;
}

/** LIKE (`caseInsensitive: false`) and ILIKE; see `StringLiteral` for how escapes arrive. */
export interface LikeExpr extends Node {
  readonly kind: 'like';
  readonly operand: FilterExpr;
  readonly pattern: FilterExpr;
  readonly negated: boolean;
  readonly caseInsensitive: boolean;
  readonly opPos: FilterPos;
}

export interface BetweenExpr extends Node {
  readonly kind: 'between';
  readonly operand: FilterExpr;
  readonly low: FilterExpr;
  readonly high: FilterExpr;
  readonly negated: boolean;
  readonly opPos: FilterPos;
}

export interface CallExpr extends Node {
  readonly kind: 'call';
  readonly name: FilterFunctionName;
  readonly args: readonly FilterExpr[];
}

export type FilterExpr =
  | StringLiteral
  | NumberLiteral
  | BooleanLiteral
  | NullLiteral
  | FieldRef
  | NotExpr
  | NegateExpr
  | AndExpr
  | OrExpr
  | ArithmeticExpr
  | CompareExpr
  | IsNullExpr
  | InExpr
  | LikeExpr
  | BetweenExpr
  | CallExpr;

/** The direct sub-expressions of a node, in source order. */
export function filterChildren(expr: FilterExpr): readonly FilterExpr[] {
  switch (expr.kind) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'null':
    case 'field':
      return [];
    case 'not':
    case 'negate':
    case 'is_null':
      return [expr.operand];
    case 'and':
    case 'or':
      return expr.operands;
    case 'arithmetic':
    case 'compare':
      return [expr.left, expr.right];
    case 'in':
      return [expr.operand, ...expr.list];
    case 'like':
      return [expr.operand, expr.pattern];
    case 'between':
      return [expr.operand, expr.low, expr.high];
    case 'call':
      return expr.args;
  }
}

export function isFilterField(name: string): name is FilterField {
  return (FILTER_FIELDS as readonly string[]).includes(name);
}

export function isPathField(field: FilterField): field is PathField {
  return (PATH_FIELDS as readonly string[]).includes(field);
}

export function isMapField(field: FilterField): field is MapField {
  return (MAP_FIELDS as readonly string[]).includes(field);
}

export function isFilterFunction(name: string): name is FilterFunctionName {
  return Object.hasOwn(FILTER_FUNCTIONS, name);
}
