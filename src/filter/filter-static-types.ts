import { isMapField, type FieldRef, type FilterExpr, type FilterPos, type MapField, type PathStep } from './filter-ast.js';
import { formatFilter } from './filter-format.js';
import { shorten } from './filter-lexer.js';
import { FilterSyntaxError, formatPos } from './filter-syntax-error.js';

/**
 * Static types of filter expressions, shared by both compilers (JS predicate, ClickHouse
 * WHERE) so that they refuse exactly the same filters with the same messages.
 *
 * - `null`: the literal NULL (or a coalesce of nothing but NULLs);
 * - `bool`, `number`, `string`: that type or NULL at run time (nullability is not modelled:
 *   every type may be NULL at run time);
 * - `json`: a JSON object or array (no expression has this type statically today: JSON path
 *   results are `dynamic`; it is kept so the union matches the doc's value types);
 * - `dynamic`: decided at run time (JSON path results, `metadata.*` paths, a coalesce of mixed
 *   types).
 *
 * The checks are deliberately permissive wherever the doc says "NULL at run time": only the
 * cases below are refused, each because the doc or the brief calls it a load-time error:
 * - an AND/OR/NOT operand that is statically `number`, `string` or `json`;
 * - a whole filter that is statically `number`, `string` or `json`;
 * - a bare `attributes` / `resource` (no key), or an index step straight after them;
 * - arithmetic (`+ - * / %`, unary `-`) on a statically `bool` or `json` operand
 *   (a `string` operand is allowed: numeric strings are converted at run time);
 * - LIKE / ILIKE on a statically `number`, `bool` or `json` operand or pattern.
 * Comparisons, IN, BETWEEN, IS NULL and function arguments are never refused on type grounds.
 */
export type StaticType = 'null' | 'bool' | 'number' | 'string' | 'json' | 'dynamic';

/**
 * A filter that parses but is mistyped. Same shape as `FilterSyntaxError`: `headline` is one
 * line (`<summary> at <line>:<column>[: <hint>]`); `message` adds the offending line with a
 * caret when the filter text was given to `inferTypes`.
 */
export class FilterTypeError extends Error {
  override readonly name = 'FilterTypeError';
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  readonly headline: string;

  constructor(
    /** What is wrong, without the position. */
    readonly summary: string,
    pos: FilterPos,
    /** The filter text, for the caret excerpt; `undefined` gives a message without it. */
    source?: string,
    /** Advice on how to fix it, or `''`. */
    readonly hint = '',
  ) {
    const headline = `${summary} at ${formatPos(pos)}${hint === '' ? '' : `: ${hint}`}`;
    // Reuses FilterSyntaxError's caret excerpt so both kinds of load error look alike.
    super(source === undefined ? headline : new FilterSyntaxError(summary, pos, source, hint).message);
    this.offset = pos.offset;
    this.line = pos.line;
    this.column = pos.column;
    this.headline = headline;
  }
}

/**
 * Where a field reference reads its value from, with the key-joining rules applied once for
 * both compilers.
 *
 * - `column`: a plain span column (`name`, `duration_ms`, …); never has steps.
 * - `map`: `attributes` / `resource`. The map key is either ONE quoted step (`['k']`, `."k"`)
 *   or the maximal run of leading bare steps joined with `.` (`attributes.gen_ai.request.model`
 *   is key `gen_ai.request.model`). Any steps after the key are a JSON path into the
 *   attribute's text (`attributes['llm.messages'][0].role`, `attributes.k['x']`): decision, as
 *   the doc only says attribute values are STRING. `path` is empty for a plain attribute.
 * - `document`: `input` / `output` / `expected`: the raw text of the first attribute of the
 *   field conventions that is present; `path` (possibly empty) is a JSON path into it.
 * - `metadata`: `keys` are the leading KEY steps (quoted or not; the run stops at the first
 *   index step), `steps` all steps. For i = keys.length … 1, the first attribute
 *   `metadataPrefix + keys[0..i).join('.')` that exists wins: its text is the value when
 *   `steps.length === i`, else `steps.slice(i)` is a JSON path into it. When none exists (or the
 *   prefix is `''`), all `steps` are a JSON path into the `metadataAttribute` attribute (NULL
 *   when that is `''` or absent). No steps: the raw text of `metadataAttribute`.
 */
export type FieldAccess =
  | { readonly kind: 'column'; readonly field: ColumnField }
  | { readonly kind: 'map'; readonly map: MapField; readonly key: string; readonly path: readonly PathStep[] }
  | { readonly kind: 'document'; readonly field: DocumentField; readonly path: readonly PathStep[] }
  | { readonly kind: 'metadata'; readonly keys: readonly string[]; readonly steps: readonly PathStep[] };

export type DocumentField = 'input' | 'output' | 'expected';
export type ColumnField = Exclude<FieldRef['field'], DocumentField | MapField | 'metadata'>;

/**
 * Static types of the plain span columns. Numbers: `duration_ms` is `Number(Duration) / 1e6`
 * and `timestamp` is `Number(Timestamp) / 1e6` (the ns decimal string rounded to the nearest
 * double first, then one IEEE division; ClickHouse: `toFloat64(ns) / 1e6`).
 */
export const COLUMN_TYPES: Readonly<Record<ColumnField, StaticType>> = Object.freeze({
  name: 'string',
  span_kind: 'string',
  service_name: 'string',
  status: 'string',
  status_message: 'string',
  duration_ms: 'number',
  timestamp: 'number',
  is_root: 'bool',
  trace_id: 'string',
  span_id: 'string',
  parent_span_id: 'string',
  scope_name: 'string',
});

/** Resolves a field reference, or throws `FilterTypeError` for a bare map or an index step straight after one. */
export function resolveFieldAccess(ref: FieldRef, source?: string): FieldAccess {
  const { field, steps } = ref;
  if (isMapField(field)) {
    const first = steps[0];
    if (first === undefined) {
      throw new FilterTypeError(`${field} needs a key`, ref.pos, source, `write ${field}['key'] or ${field}.key`);
    }
    if (first.kind === 'index') {
      throw new FilterTypeError(`${field} is a map of strings, not an array`, first.pos, source, `write ${field}['key'] (and ${field}['key'][0] to index its JSON text)`);
    }
    if (first.quoted) return { kind: 'map', map: field, key: first.key, path: steps.slice(1) };
    let end = 1;
    while (end < steps.length) {
      const step = steps[end]!;
      if (step.kind !== 'key' || step.quoted) break;
      end++;
    }
    const key = steps
      .slice(0, end)
      .map((step) => (step as { key: string }).key)
      .join('.');
    return { kind: 'map', map: field, key, path: steps.slice(end) };
  }
  if (field === 'input' || field === 'output' || field === 'expected') return { kind: 'document', field, path: steps };
  if (field === 'metadata') {
    const keys: string[] = [];
    for (const step of steps) {
      if (step.kind !== 'key') break;
      keys.push(step.key);
    }
    return { kind: 'metadata', keys, steps };
  }
  return { kind: 'column', field };
}

/** The static type of a field reference (after `resolveFieldAccess`'s checks). */
export function fieldStaticType(access: FieldAccess): StaticType {
  switch (access.kind) {
    case 'column':
      return COLUMN_TYPES[access.field];
    case 'map':
    case 'document':
      return access.path.length === 0 ? 'string' : 'dynamic';
    case 'metadata':
      return access.steps.length === 0 ? 'string' : 'dynamic';
  }
}

/** `a string`, `a number`, … for messages. */
export function describeStaticType(type: StaticType): string {
  switch (type) {
    case 'null':
      return 'NULL';
    case 'bool':
      return 'a boolean';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    case 'json':
      return 'JSON';
    case 'dynamic':
      return 'of a type known only at run time';
  }
}

/**
 * Infers the static type of every node of `expr` (the map holds each node, the root included),
 * or throws `FilterTypeError` for the first mistyped node in source order (children before
 * their parent). `source` (the filter text) adds a caret excerpt to the error message.
 */
export function inferTypes(expr: FilterExpr, source?: string): Map<FilterExpr, StaticType> {
  const types = new Map<FilterExpr, StaticType>();
  const rootType = new TypeInference(types, source).infer(expr);
  if (!isBoolLike(rootType)) {
    throw new FilterTypeError(
      `a filter must be a boolean condition; ${quote(expr)} is ${describeStaticType(rootType)}`,
      expr.pos,
      source,
      rootType === 'string' ? `compare it, e.g. ${shorten(formatFilter(expr))} = '...'` : '',
    );
  }
  return types;
}

/** The field accesses of a type-checked tree, resolved (cached per node). */
export function fieldAccessOf(ref: FieldRef): FieldAccess {
  let access = accessCache.get(ref);
  if (access === undefined) {
    access = resolveFieldAccess(ref);
    accessCache.set(ref, access);
  }
  return access;
}

const accessCache = new WeakMap<FieldRef, FieldAccess>();

/** `null` and `dynamic` may stand where a boolean is needed (NULL / "counts as NULL unless boolean" at run time). */
function isBoolLike(type: StaticType): boolean {
  return type === 'bool' || type === 'null' || type === 'dynamic';
}

function isNumberLike(type: StaticType): boolean {
  return type !== 'bool' && type !== 'json';
}

function isStringLike(type: StaticType): boolean {
  return type === 'string' || type === 'null' || type === 'dynamic';
}

function quote(expr: FilterExpr): string {
  return `"${shorten(formatFilter(expr))}"`;
}

class TypeInference {
  constructor(
    readonly types: Map<FilterExpr, StaticType>,
    readonly source: string | undefined,
  ) {}

  infer(expr: FilterExpr): StaticType {
    const type = this.#infer(expr);
    this.types.set(expr, type);
    return type;
  }

  #infer(expr: FilterExpr): StaticType {
    switch (expr.kind) {
      case 'string':
        return 'string';
      case 'number':
        return 'number';
      case 'boolean':
        return 'bool';
      case 'null':
        return 'null';
      case 'field':
        return fieldStaticType(this.#access(expr));
      case 'not':
        this.#needBool('NOT', expr.operand);
        return 'bool';
      case 'and':
      case 'or':
        for (const operand of expr.operands) this.#needBool(expr.kind.toUpperCase(), operand);
        return 'bool';
      case 'negate':
        this.#needNumber('unary -', expr.operand);
        return 'number';
      case 'arithmetic':
        this.#needNumber(expr.op, expr.left);
        this.#needNumber(expr.op, expr.right);
        return 'number';
      case 'compare':
        this.infer(expr.left);
        this.infer(expr.right);
        return 'bool';
      case 'is_null':
        this.infer(expr.operand);
        return 'bool';
      case 'in':
        this.infer(expr.operand);
        for (const item of expr.list) this.infer(item);
        return 'bool';
      case 'between':
        this.infer(expr.operand);
        this.infer(expr.low);
        this.infer(expr.high);
        return 'bool';
      case 'like': {
        const op = expr.caseInsensitive ? 'ILIKE' : 'LIKE';
        this.#needString(op, expr.operand);
        this.#needString(op, expr.pattern);
        return 'bool';
      }
      case 'call': {
        const argTypes = expr.args.map((arg) => this.infer(arg));
        switch (expr.name) {
          case 'lower':
          case 'upper':
            return 'string';
          case 'length':
            return 'number';
          case 'contains':
          case 'starts_with':
          case 'ends_with':
          case 'json_valid':
            return 'bool';
          case 'coalesce':
            return coalesceType(argTypes);
        }
      }
    }
  }

  #access(ref: FieldRef): FieldAccess {
    const access = resolveFieldAccess(ref, this.source);
    accessCache.set(ref, access);
    return access;
  }

  #needBool(op: string, operand: FilterExpr): void {
    const type = this.infer(operand);
    if (!isBoolLike(type)) this.#fail(`${op} needs boolean operands; ${quote(operand)} is ${describeStaticType(type)}`, operand);
  }

  #needNumber(op: string, operand: FilterExpr): void {
    const type = this.infer(operand);
    if (!isNumberLike(type)) this.#fail(`${op} needs numeric operands; ${quote(operand)} is ${describeStaticType(type)}`, operand);
  }

  #needString(op: string, operand: FilterExpr): void {
    const type = this.infer(operand);
    if (!isStringLike(type)) this.#fail(`${op} needs string operands; ${quote(operand)} is ${describeStaticType(type)}`, operand);
  }

  #fail(summary: string, at: FilterExpr): never {
    throw new FilterTypeError(summary, at.pos, this.source);
  }
}

/** The common type of coalesce's arguments, NULL literals aside; `dynamic` when they differ. */
function coalesceType(argTypes: readonly StaticType[]): StaticType {
  let result: StaticType = 'null';
  for (const type of argTypes) {
    if (type === 'null') continue;
    if (result === 'null') result = type;
    else if (result !== type) return 'dynamic';
  }
  return result;
}
