import type { SpanRow } from '../pipeline/span-row.js';
import type { FieldConventions } from '../scoring/field-conventions.js';
import { filterChildren, type CompareOp, type FieldRef, type FilterExpr, type InExpr, type LikeExpr } from './filter-ast.js';
import { inferTypes, resolveFieldAccess, type FieldAccess, type StaticType } from './filter-static-types.js';
import {
  asciiLower,
  asciiUpper,
  booleanString,
  codePointLength,
  compareCodePoints,
  compareNumbers,
  compareValues,
  equalValues,
  isJsonContainer,
  numericString,
  toNumber,
  type FilterValue,
} from './filter-values.js';
import { compileJsonSteps, followJsonPath, INVALID_JSON, mayBeJsonContainer, parseJson, type JsonStep, type ParsedJson } from './json-path.js';
import { compileLike, type LikeMatcher } from './like-matcher.js';

/**
 * The JS back end of the filter language (docs/filter-language.md): a filter compiled once into
 * a tree of closures over one span. Must agree with the ClickHouse compiler on every filter and
 * span; see the doc for the semantics and the comments below for the decisions it leaves open.
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

/**
 * Per-evaluation state, reused across evaluations (evaluation is synchronous and never
 * re-entered). JSON texts are parsed at most once per evaluation: each distinct source text
 * (an attribute, a convention field) has a memo slot, valid while its generation matches.
 */
class EvalContext {
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

type Evaluator = (ctx: EvalContext) => FilterValue;
type Text = (ctx: EvalContext) => string | null;
type Test = (value: FilterValue) => boolean | null;

interface Compiled {
  readonly fn: Evaluator;
  /** The subtree reads no field: `value` is its result for every span. */
  readonly constant: boolean;
  readonly value?: FilterValue;
  /** Set when `fn` returns a span text that has a JSON memo slot (json_valid reuses the parse). */
  readonly textSlot?: number;
}

/** What an ordering result means for each comparison operator (NaN = unordered: only `!=` holds). */
const ORDER_TESTS: Record<CompareOp, (c: number) => boolean> = {
  '=': (c) => c === 0,
  '!=': (c) => c !== 0,
  '<': (c) => c < 0,
  '<=': (c) => c <= 0,
  '>': (c) => c > 0,
  '>=': (c) => c >= 0,
};

/** `k op x` as `x flipped(op) k`. */
const FLIPPED: Record<CompareOp, CompareOp> = { '=': '=', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

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

/** Three-valued NOT; a non-boolean counts as NULL. */
function not3(value: FilterValue): boolean | null {
  return value === true ? false : value === false ? true : null;
}

/** A comparison of a run-time value with a constant, with the constant's conversions done once. */
function constComparator(op: CompareOp, k: FilterValue): Test {
  const test = ORDER_TESTS[op];
  if (k === null || isJsonContainer(k)) return () => null;
  if (typeof k === 'number') {
    return (a) => {
      let n: number | null;
      if (typeof a === 'number') n = a;
      else if (typeof a === 'string') {
        n = numericString(a);
        if (n === null) return null;
      } else return null;
      return test(compareNumbers(n, k));
    };
  }
  if (typeof k === 'boolean') {
    const kb = Number(k);
    return (a) => {
      let b: boolean | null;
      if (typeof a === 'boolean') b = a;
      else if (typeof a === 'string') {
        b = booleanString(a);
        if (b === null) return null;
      } else return null;
      return test(Number(b) - kb);
    };
  }
  const kNumber = numericString(k);
  const kBool = booleanString(k);
  const kBoolNumber = Number(kBool);
  const onString: (a: string) => boolean =
    op === '=' ? (a) => a === k : op === '!=' ? (a) => a !== k : (a) => test(compareCodePoints(a, k));
  return (a) => {
    if (typeof a === 'string') return onString(a);
    if (typeof a === 'number') return kNumber === null ? null : test(compareNumbers(a, kNumber));
    if (typeof a === 'boolean') return kBool === null ? null : test(Number(a) - kBoolNumber);
    return null;
  };
}

function genericComparator(op: CompareOp): (a: FilterValue, b: FilterValue) => boolean | null {
  if (op === '=') return equalValues;
  if (op === '!=') {
    return (a, b) => {
      const eq = equalValues(a, b);
      return eq === null ? null : !eq;
    };
  }
  const test = ORDER_TESTS[op];
  return (a, b) => {
    const c = compareValues(a, b);
    return c === null ? null : test(c);
  };
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
        return this.#and(this.#cheapestFirst(expr.operands).map((operand) => this.compile(operand).fn));
      case 'or':
        return this.#or(this.#cheapestFirst(expr.operands).map((operand) => this.compile(operand).fn));
      case 'negate': {
        const operand = this.compile(expr.operand).fn;
        return dynamic((ctx) => {
          const a = toNumber(operand(ctx));
          return a === null ? null : -a;
        });
      }
      case 'arithmetic':
        return this.#arithmetic(expr.op, this.compile(expr.left).fn, this.compile(expr.right).fn);
      case 'compare':
        return this.#compare(expr.op, this.compile(expr.left), this.compile(expr.right));
      case 'is_null': {
        const operand = this.compile(expr.operand).fn;
        return dynamic(expr.negated ? (ctx) => operand(ctx) !== null : (ctx) => operand(ctx) === null);
      }
      case 'in':
        return this.#in(expr);
      case 'between':
        return this.#between(expr.negated, this.compile(expr.operand).fn, this.compile(expr.low), this.compile(expr.high));
      case 'like':
        return this.#like(expr);
      case 'call':
        return this.#call(expr.name, expr.args.map((arg) => this.compile(arg)));
    }
  }

  #and(operands: Evaluator[]): Compiled {
    if (operands.length === 2) {
      const [a, b] = operands as [Evaluator, Evaluator];
      return dynamic((ctx) => {
        const x = a(ctx);
        if (x === false) return false;
        const y = b(ctx);
        if (y === false) return false;
        return x === true && y === true ? true : null;
      });
    }
    return dynamic((ctx) => {
      let unknown = false;
      for (let i = 0; i < operands.length; i++) {
        const v = operands[i]!(ctx);
        if (v === false) return false;
        if (v !== true) unknown = true;
      }
      return unknown ? null : true;
    });
  }

  #or(operands: Evaluator[]): Compiled {
    if (operands.length === 2) {
      const [a, b] = operands as [Evaluator, Evaluator];
      return dynamic((ctx) => {
        const x = a(ctx);
        if (x === true) return true;
        const y = b(ctx);
        if (y === true) return true;
        return x === false && y === false ? false : null;
      });
    }
    return dynamic((ctx) => {
      let unknown = false;
      for (let i = 0; i < operands.length; i++) {
        const v = operands[i]!(ctx);
        if (v === true) return true;
        if (v !== false) unknown = true;
      }
      return unknown ? null : false;
    });
  }

  #arithmetic(op: string, left: Evaluator, right: Evaluator): Compiled {
    const apply: (a: number, b: number) => number | null =
      op === '+'
        ? (a, b) => a + b
        : op === '-'
          ? (a, b) => a - b
          : op === '*'
            ? (a, b) => a * b
            : op === '/'
              ? (a, b) => (b === 0 ? null : a / b)
              : // JS `%` is C's fmod: the result has the sign of the dividend.
                (a, b) => (b === 0 ? null : a % b);
    return dynamic((ctx) => {
      const a = toNumber(left(ctx));
      if (a === null) return null;
      const b = toNumber(right(ctx));
      return b === null ? null : apply(a, b);
    });
  }

  #compare(op: CompareOp, left: Compiled, right: Compiled): Compiled {
    if (right.constant) {
      const test = constComparator(op, right.value!);
      const l = left.fn;
      return dynamic((ctx) => test(l(ctx)));
    }
    if (left.constant) {
      const test = constComparator(FLIPPED[op], left.value!);
      const r = right.fn;
      return dynamic((ctx) => test(r(ctx)));
    }
    const compare = genericComparator(op);
    const [l, r] = [left.fn, right.fn];
    return dynamic((ctx) => {
      const a = l(ctx);
      return a === null ? null : compare(a, r(ctx));
    });
  }

  #in(expr: InExpr): Compiled {
    const operand = this.compile(expr.operand).fn;
    const items = expr.list.map((item) => this.compile(item));
    const negated = expr.negated;
    const finish = (result: boolean | null) => (negated && result !== null ? !result : result);

    // A STRING operand against constant strings: `=` is plain string equality, so a Set does it.
    const allStrings = items.every((item) => item.constant && (typeof item.value === 'string' || item.value === null));
    if (this.types.get(expr.operand) === 'string' && allStrings) {
      const set = new Set(items.filter((item) => item.value !== null).map((item) => item.value as string));
      const hasNull = items.some((item) => item.value === null);
      const miss = finish(hasNull ? null : false);
      const hit = finish(true);
      return dynamic((ctx) => {
        const v = operand(ctx);
        if (v === null) return null;
        return set.has(v as string) ? hit : miss;
      });
    }

    const tests = items.map((item): ((ctx: EvalContext, v: FilterValue) => boolean | null) => {
      if (item.constant) {
        const test = constComparator('=', item.value!);
        return (_ctx, v) => test(v);
      }
      const fn = item.fn;
      return (ctx, v) => equalValues(v, fn(ctx));
    });
    return dynamic((ctx) => {
      const v = operand(ctx);
      if (v === null) return null;
      let unknown = false;
      for (let i = 0; i < tests.length; i++) {
        const r = tests[i]!(ctx, v);
        if (r === true) return finish(true);
        if (r === null) unknown = true;
      }
      return finish(unknown ? null : false);
    });
  }

  /** `x BETWEEN lo AND hi` is `x >= lo AND x <= hi`, with `x` evaluated once. */
  #between(negated: boolean, operand: Evaluator, low: Compiled, high: Compiled): Compiled {
    const bound = (op: CompareOp, b: Compiled): ((ctx: EvalContext, v: FilterValue) => boolean | null) => {
      if (b.constant) {
        const test = constComparator(op, b.value!);
        return (_ctx, v) => test(v);
      }
      const compare = genericComparator(op);
      const fn = b.fn;
      return (ctx, v) => compare(v, fn(ctx));
    };
    const ge = bound('>=', low);
    const le = bound('<=', high);
    return dynamic((ctx) => {
      const v = operand(ctx);
      if (v === null) return null;
      const a = ge(ctx, v);
      let result: boolean | null;
      if (a === false) result = false;
      else {
        const b = le(ctx, v);
        result = b === false ? false : a === true && b === true ? true : null;
      }
      return negated && result !== null ? !result : result;
    });
  }

  #like(expr: LikeExpr): Compiled {
    const operand = this.compile(expr.operand).fn;
    const pattern = this.compile(expr.pattern);
    const negated = expr.negated;
    const caseInsensitive = expr.caseInsensitive;
    if (pattern.constant) {
      if (typeof pattern.value !== 'string') return constant(null);
      const matcher = compileLike(pattern.value, caseInsensitive);
      return dynamic((ctx) => {
        const v = operand(ctx);
        return typeof v === 'string' ? matcher(v) !== negated : null;
      });
    }
    // A pattern read from the span: compile it per distinct pattern text, remembering the last one.
    const patternFn = pattern.fn;
    let lastPattern: string | undefined;
    let lastMatcher: LikeMatcher = () => false;
    return dynamic((ctx) => {
      const v = operand(ctx);
      if (typeof v !== 'string') return null;
      const p = patternFn(ctx);
      if (typeof p !== 'string') return null;
      if (p !== lastPattern) {
        lastMatcher = compileLike(p, caseInsensitive);
        lastPattern = p;
      }
      return lastMatcher(v) !== negated;
    });
  }

  #call(name: string, args: Compiled[]): Compiled {
    const fns = args.map((arg) => arg.fn);
    const [a, b] = fns as [Evaluator, Evaluator];
    switch (name) {
      case 'lower':
        return dynamic((ctx) => {
          const v = a(ctx);
          return typeof v === 'string' ? asciiLower(v) : null;
        });
      case 'upper':
        return dynamic((ctx) => {
          const v = a(ctx);
          return typeof v === 'string' ? asciiUpper(v) : null;
        });
      case 'length':
        return dynamic((ctx) => {
          const v = a(ctx);
          if (typeof v === 'string') return codePointLength(v);
          if (Array.isArray(v)) return v.length;
          if (isJsonContainer(v)) return Object.keys(v).length;
          return null;
        });
      case 'contains':
        // STRING haystack: substring test with a STRING needle (no conversion of other types).
        // JSON array haystack: TRUE when some element `=` the needle is TRUE, else FALSE
        // (elements compared as NULL just do not match); a NULL needle gives NULL.
        return dynamic((ctx) => {
          const h = a(ctx);
          if (typeof h === 'string') {
            const n = b(ctx);
            return typeof n === 'string' ? h.includes(n) : null;
          }
          if (!Array.isArray(h)) return null;
          const n = b(ctx);
          if (n === null) return null;
          for (let i = 0; i < h.length; i++) if (equalValues(n, (h[i] ?? null) as FilterValue) === true) return true;
          return false;
        });
      case 'starts_with':
      case 'ends_with': {
        const starts = name === 'starts_with';
        return dynamic((ctx) => {
          const s = a(ctx);
          if (typeof s !== 'string') return null;
          const p = b(ctx);
          if (typeof p !== 'string') return null;
          return starts ? s.startsWith(p) : s.endsWith(p);
        });
      }
      case 'json_valid': {
        const slot = args[0]!.textSlot;
        return dynamic((ctx) => {
          const v = a(ctx);
          if (v === null) return null;
          if (typeof v === 'string') return (slot === undefined ? parseJson(v) : ctx.parsed(slot, v)) !== INVALID_JSON;
          return isJsonContainer(v);
        });
      }
      case 'coalesce':
        return dynamic((ctx) => {
          for (let i = 0; i < fns.length; i++) {
            const v = fns[i]!(ctx);
            if (v !== null) return v;
          }
          return null;
        });
      default:
        throw new Error(`unknown filter function ${name}`);
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

function constant(value: FilterValue): Compiled {
  return { fn: () => value, constant: true, value };
}

function dynamic(fn: Evaluator): Compiled {
  return { fn, constant: false };
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
