import type { CompareOp } from './filter-ast.js';
import {
  booleanString,
  compareCodePoints,
  compareNumbers,
  compareValues,
  equalValues,
  isJsonContainer,
  numericString,
  toNumber,
  type FilterValue,
} from './filter-values.js';
import { constant, dynamic, type Compiled, type EvalContext, type Evaluator } from './js-filter-eval-context.js';
import { compileLike, type LikeMatcher } from './like-matcher.js';

/**
 * The operators of the filter language (logic, arithmetic, comparison, IN, BETWEEN, LIKE) as
 * closures over already compiled operands. The compiler compiles the operands itself, in AST
 * order, because that order numbers the JSON memo slots.
 */

type Test = (value: FilterValue) => boolean | null;

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

/** Three-valued NOT; a non-boolean counts as NULL. */
export function not3(value: FilterValue): boolean | null {
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

export function compileAnd(operands: Evaluator[]): Compiled {
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

export function compileOr(operands: Evaluator[]): Compiled {
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

export function compileArithmetic(op: string, left: Evaluator, right: Evaluator): Compiled {
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

export function compileComparison(op: CompareOp, left: Compiled, right: Compiled): Compiled {
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

/** `operandIsString`: the operand is statically STRING (from `inferTypes`). */
export function compileIn(operand: Evaluator, items: Compiled[], negated: boolean, operandIsString: boolean): Compiled {
  const finish = (result: boolean | null) => (negated && result !== null ? !result : result);

  // A STRING operand against constant strings: `=` is plain string equality, so a Set does it.
  const allStrings = items.every((item) => item.constant && (typeof item.value === 'string' || item.value === null));
  if (operandIsString && allStrings) {
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
export function compileBetween(negated: boolean, operand: Evaluator, low: Compiled, high: Compiled): Compiled {
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

export function compileLikeOperator(operand: Evaluator, pattern: Compiled, negated: boolean, caseInsensitive: boolean): Compiled {
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
