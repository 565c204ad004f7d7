import type { SpanRow } from '../pipeline/span-row.js';
import type { FieldConventions } from '../scoring/field-conventions.js';
import { filterChildren, type FieldRef, type FilterExpr } from './filter-ast.js';
import { inferTypes, resolveFieldAccess, type FieldAccess, type StaticType } from './filter-static-types.js';
import { asciiLower, toNumber } from './filter-values.js';
import { constant, dynamic, EvalContext, type Compiled, type Evaluator } from './js-filter-eval-context.js';
import { compileCall } from './js-filter-functions.js';
import {
  compileAnd,
  compileArithmetic,
  compileBetween,
  compileComparison,
  compileIn,
  compileLikeOperator,
  compileOr,
  not3,
} from './js-filter-operators.js';
import { compileJsonSteps, followJsonPath, mayBeJsonContainer, type JsonStep } from './json-path.js';

/**
 * The JS back end of the filter language (docs/filter-language.md): a filter compiled once into
 * a tree of closures over one span. Must agree with the ClickHouse compiler on every filter and
 * span; see the doc for the semantics, and the comments here, in js-filter-operators.ts and in
 * js-filter-functions.ts for the decisions it leaves open.
 */
export interface CompiledFilter {
  /** TRUE, FALSE or NULL (SQL three-valued logic); a non-boolean result (a JSON path) is NULL. */
  evaluate(span: SpanRow): boolean | null;
  /** Whether the filter selects the span: `evaluate(span) === true`. */
  matches(span: SpanRow): boolean;
}

/**
 * Compiles a parsed filter. Throws `FilterTypeError` (from `inferTypes`) for a statically
 * mistyped filter; call `inferTypes(expr, text)` at config load for a message with a caret.
 */
export function compileFilter(expr: FilterExpr, conventions: FieldConventions): CompiledFilter {
  const types = inferTypes(expr);
  const compiler = new Compiler(types, conventions);
  const root = compiler.compile(expr).fn;
  const context = new EvalContext(compiler.slotCount);
  return {
    evaluate(span: SpanRow): boolean | null {
      context.begin(span);
      const value = root(context);
      return typeof value === 'boolean' ? value : null;
    },
    matches(span: SpanRow): boolean {
      context.begin(span);
      return root(context) === true;
    },
  };
}

type Text = (ctx: EvalContext) => string | null;

/** Stored `SpanKind` / `StatusCode` spellings, lower-cased without a per-span string operation. */
const LOWERED: Readonly<Record<string, string>> = Object.freeze({
  Unspecified: 'unspecified',
  Internal: 'internal',
  Server: 'server',
  Client: 'client',
  Producer: 'producer',
  Consumer: 'consumer',
  Ok: 'ok',
  Error: 'error',
  Unset: 'unset',
});

function lowered(text: string): string {
  return Object.hasOwn(LOWERED, text) ? LOWERED[text]! : asciiLower(text);
}

/** An attribute of a string map, or null when absent (values are always strings, so no prototype member passes). */
function attributeOf(map: Record<string, string>, key: string): string | null {
  const value = map[key];
  return typeof value === 'string' ? value : null;
}

class Compiler {
  readonly #slots = new Map<string, number>();
  readonly #constantTrees = new WeakMap<FilterExpr, boolean>();
  readonly #costs = new WeakMap<FilterExpr, number>();

  constructor(
    readonly types: Map<FilterExpr, StaticType>,
    readonly conventions: FieldConventions,
  ) {}

  get slotCount(): number {
    return this.#slots.size;
  }

  compile(expr: FilterExpr): Compiled {
    const compiled = this.#compileNode(expr);
    if (compiled.constant || !this.#isConstantTree(expr)) return compiled;
    // No field below: evaluate once (the context is never read without fields).
    return constant(compiled.fn(undefined as unknown as EvalContext));
  }

  /**
   * AND / OR operands reordered by estimated cost (stable), so that a cheap FALSE (TRUE) spares
   * JSON parses and LIKE scans. Safe: evaluation has no side effects and no errors, and the
   * three-valued result does not depend on operand order.
   */
  #cheapestFirst(operands: readonly FilterExpr[]): FilterExpr[] {
    return operands
      .map((operand, index) => ({ operand, index, cost: this.#cost(operand) }))
      .sort((a, b) => a.cost - b.cost || a.index - b.index)
      .map((entry) => entry.operand);
  }

  #cost(expr: FilterExpr): number {
    const known = this.#costs.get(expr);
    if (known !== undefined) return known;
    let cost = 1;
    if (expr.kind === 'field') {
      const access = resolveFieldAccess(expr);
      // Anything that may parse JSON dominates; a convention field tries a few attributes.
      if (access.kind === 'metadata') cost = access.steps.length === 0 ? 2 : 100;
      else if (access.kind === 'column') cost = 1;
      else cost = access.path.length > 0 ? 100 : access.kind === 'document' ? 4 : 2;
    } else if (expr.kind === 'like') cost = 8;
    else if (expr.kind === 'call') cost = 4;
    for (const child of filterChildren(expr)) cost += this.#cost(child);
    this.#costs.set(expr, cost);
    return cost;
  }

  #isConstantTree(expr: FilterExpr): boolean {
    let known = this.#constantTrees.get(expr);
    if (known === undefined) {
      known = expr.kind !== 'field' && filterChildren(expr).every((child) => this.#isConstantTree(child));
      this.#constantTrees.set(expr, known);
    }
    return known;
  }

  #compileNode(expr: FilterExpr): Compiled {
    switch (expr.kind) {
      case 'string':
      case 'number':
      case 'boolean':
        return constant(expr.value);
      case 'null':
        return constant(null);
      case 'field':
        return this.#field(expr);
      case 'not': {
        const operand = this.compile(expr.operand).fn;
        return dynamic((ctx) => not3(operand(ctx)));
      }
      case 'and':
        return compileAnd(this.#cheapestFirst(expr.operands).map((operand) => this.compile(operand).fn));
      case 'or':
        return compileOr(this.#cheapestFirst(expr.operands).map((operand) => this.compile(operand).fn));
      case 'negate': {
        const operand = this.compile(expr.operand).fn;
        return dynamic((ctx) => {
          const a = toNumber(operand(ctx));
          return a === null ? null : -a;
        });
      }
      case 'arithmetic':
        return compileArithmetic(expr.op, this.compile(expr.left).fn, this.compile(expr.right).fn);
      case 'compare':
        return compileComparison(expr.op, this.compile(expr.left), this.compile(expr.right));
      case 'is_null': {
        const operand = this.compile(expr.operand).fn;
        return dynamic(expr.negated ? (ctx) => operand(ctx) !== null : (ctx) => operand(ctx) === null);
      }
      case 'in': {
        const operand = this.compile(expr.operand).fn;
        const items = expr.list.map((item) => this.compile(item));
        return compileIn(operand, items, expr.negated, this.types.get(expr.operand) === 'string');
      }
      case 'between':
        return compileBetween(expr.negated, this.compile(expr.operand).fn, this.compile(expr.low), this.compile(expr.high));
      case 'like':
        return compileLikeOperator(this.compile(expr.operand).fn, this.compile(expr.pattern), expr.negated, expr.caseInsensitive);
      case 'call':
        return compileCall(expr.name, expr.args.map((arg) => this.compile(arg)));
    }
  }

  #field(ref: FieldRef): Compiled {
    const access = resolveFieldAccess(ref);
    switch (access.kind) {
      case 'column':
        return dynamic(columnEvaluator(access.field));
      case 'map': {
        const key = access.key;
        const text: Text =
          access.map === 'attributes' ? (ctx) => attributeOf(ctx.span.SpanAttributes, key) : (ctx) => attributeOf(ctx.span.ResourceAttributes, key);
        return this.#textWithPath(text, this.#slot(access), access.path.length === 0 ? [] : compileJsonSteps(access.path));
      }
      case 'document': {
        const keys = [...this.conventions[access.field]];
        const text: Text = (ctx) => {
          const attributes = ctx.span.SpanAttributes;
          for (let i = 0; i < keys.length; i++) {
            const value = attributes[keys[i]!];
            if (typeof value === 'string') return value;
          }
          return null;
        };
        return this.#textWithPath(text, this.#slot(access), compileJsonSteps(access.path));
      }
      case 'metadata':
        return this.#metadata(access);
    }
  }

  /** A text field, optionally followed by a JSON path into it. */
  #textWithPath(text: Text, slot: number, steps: JsonStep[]): Compiled {
    if (steps.length === 0) return { fn: text, constant: false, textSlot: slot };
    return dynamic((ctx) => {
      const t = text(ctx);
      if (t === null || !mayBeJsonContainer(t)) return null;
      return followJsonPath(ctx.parsed(slot, t), steps);
    });
  }

  /** `metadata.k1…kn[…]`: the longest existing `<prefix>k1.….ki` attribute, else a path into the metadata attribute. */
  #metadata(access: FieldAccess & { kind: 'metadata' }): Compiled {
    const { metadataPrefix, metadataAttribute } = this.conventions;
    const baseSlot = this.#attributeSlot('attributes', metadataAttribute);
    const base: Text = metadataAttribute === '' ? () => null : (ctx) => attributeOf(ctx.span.SpanAttributes, metadataAttribute);
    const allSteps = compileJsonSteps(access.steps);
    const fallback = this.#textWithPath(base, baseSlot, allSteps);
    if (access.steps.length === 0 || metadataPrefix === '' || access.keys.length === 0) return fallback;

    // Longest first: [attribute key, memo slot, remaining steps].
    const candidates: [string, number, JsonStep[]][] = [];
    for (let i = access.keys.length; i >= 1; i--) {
      const key = metadataPrefix + access.keys.slice(0, i).join('.');
      candidates.push([key, this.#attributeSlot('attributes', key), allSteps.slice(i)]);
    }
    const fallbackFn = fallback.fn;
    return dynamic((ctx) => {
      const attributes = ctx.span.SpanAttributes;
      for (let c = 0; c < candidates.length; c++) {
        const [key, slot, rest] = candidates[c]!;
        const t = attributes[key];
        if (typeof t !== 'string') continue;
        if (rest.length === 0) return t;
        return mayBeJsonContainer(t) ? followJsonPath(ctx.parsed(slot, t), rest) : null;
      }
      return fallbackFn(ctx);
    });
  }

  #slot(access: FieldAccess): number {
    if (access.kind === 'map') return this.#attributeSlot(access.map, access.key);
    return this.#slotFor(`doc\u0000${access.kind === 'document' ? access.field : 'metadata'}`);
  }

  #attributeSlot(map: 'attributes' | 'resource', key: string): number {
    return this.#slotFor(`${map}\u0000${key}`);
  }

  #slotFor(id: string): number {
    let slot = this.#slots.get(id);
    if (slot === undefined) {
      slot = this.#slots.size;
      this.#slots.set(id, slot);
    }
    return slot;
  }
}

/**
 * The plain columns. `duration_ms` / `timestamp` are `Number(ns) / 1e6`: the ns decimal string is
 * rounded to the nearest double, then divided once (ClickHouse: `toFloat64(ns) / 1e6`).
 */
function columnEvaluator(field: Extract<FieldAccess, { kind: 'column' }>['field']): Evaluator {
  switch (field) {
    case 'name':
      return (ctx) => ctx.span.SpanName;
    case 'span_kind':
      return (ctx) => lowered(ctx.span.SpanKind);
    case 'service_name':
      return (ctx) => ctx.span.ServiceName;
    case 'status':
      return (ctx) => lowered(ctx.span.StatusCode);
    case 'status_message':
      return (ctx) => ctx.span.StatusMessage;
    case 'duration_ms':
      return (ctx) => Number(ctx.span.Duration) / 1e6;
    case 'timestamp':
      return (ctx) => Number(ctx.span.Timestamp) / 1e6;
    case 'is_root':
      return (ctx) => ctx.span.ParentSpanId === '';
    case 'trace_id':
      return (ctx) => ctx.span.TraceId;
    case 'span_id':
      return (ctx) => ctx.span.SpanId;
    case 'parent_span_id':
      return (ctx) => (ctx.span.ParentSpanId === '' ? null : ctx.span.ParentSpanId);
    case 'scope_name':
      return (ctx) => ctx.span.ScopeName;
  }
}
