import { distance } from 'fastest-levenshtein';
import {
  FILTER_FIELDS,
  FILTER_FUNCTION_NAMES,
  FILTER_FUNCTIONS,
  FILTER_MAX_DEPTH,
  PATH_FIELDS,
  filterChildren,
  isFilterField,
  isFilterFunction,
  isMapField,
  isPathField,
  type ArithmeticOp,
  type CompareOp,
  type FilterExpr,
  type FilterField,
  type FilterFunctionSignature,
  type FilterPos,
  type PathStep,
} from './filter-ast.js';
import { FilterLexer, describe, isPunct, keywordOf, shorten, type Punct, type Token } from './filter-lexer.js';
import { FilterSyntaxError, formatPos } from './filter-syntax-error.js';

/**
 * Parses one filter into its syntax tree, or throws `FilterSyntaxError` (and nothing else)
 * for the first problem in the text.
 *
 * Precedence, loosest first: OR; AND; prefix NOT; the predicates (comparison, IS [NOT] NULL,
 * [NOT] IN, [NOT] LIKE/ILIKE, [NOT] BETWEEN), which do not chain; `+ -`; `* / %`; unary minus.
 */
export function parseFilter(text: string): FilterExpr {
  return new FilterParser(text).parse();
}

const COMPARE_OPS: Partial<Record<Punct, CompareOp>> = { '=': '=', '!=': '!=', '<>': '!=', '<': '<', '<=': '<=', '>': '>', '>=': '>=' };
const NEGATABLE = new Set(['IN', 'LIKE', 'ILIKE', 'BETWEEN']);
const START: FilterPos = { offset: 0, line: 1, column: 1 };

function describeArity(signature: FilterFunctionSignature): string {
  const plural = (n: number) => `${n} argument${n === 1 ? '' : 's'}`;
  if (signature.maxArgs === Infinity) return `at least ${plural(signature.minArgs)}`;
  if (signature.minArgs === signature.maxArgs) return plural(signature.minArgs);
  return `${signature.minArgs} to ${plural(signature.maxArgs)}`;
}

function didYouMean(name: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Math.min(3, name.length);
  for (const candidate of candidates) {
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : `did you mean ${best}? `;
}

class FilterParser {
  readonly #src: string;
  readonly #lexer: FilterLexer;
  readonly #ahead: Token[] = [];
  #prev: Token | undefined;
  #depth = 0;
  /** Tree height per built node; leaves are absent and count as 1. */
  readonly #heights = new WeakMap<FilterExpr, number>();

  constructor(source: string) {
    this.#src = source;
    this.#lexer = new FilterLexer(source);
  }

  parse(): FilterExpr {
    if (this.#peek().kind === 'end') this.#fail('empty filter', START, "write a boolean expression such as status = 'error'");
    const expr = this.#group(this.#peek().pos);
    const next = this.#peek();
    if (next.kind === 'end') return expr;
    if (isPunct(next, ')')) this.#fail('unmatched )', next.pos);
    const what = next.kind === 'string' ? describe(next) : `token ${describe(next)}`;
    const hint = isPunct(next, ';') ? 'a filter is a single expression' : 'a filter is a single expression: join conditions with AND or OR';
    return this.#fail(`unexpected ${what}`, next.pos, hint);
  }

  /** A full expression at a new nesting level: the whole filter, a parenthesised group, a list element. */
  #group(at: FilterPos): FilterExpr {
    this.#enter(at);
    const expr = this.#or();
    this.#depth--;
    return expr;
  }

  #or(): FilterExpr {
    return this.#connective('OR', () => this.#and());
  }

  #and(): FilterExpr {
    return this.#connective('AND', () => this.#not());
  }

  /** A run of `a OR b OR c` becomes one n-ary node, so long chains stay shallow for every later recursion. */
  #connective(keyword: 'AND' | 'OR', operand: () => FilterExpr): FilterExpr {
    const first = operand();
    if (keywordOf(this.#peek()) !== keyword) return first;
    const operands = [first];
    while (keywordOf(this.#peek()) === keyword) {
      this.#take();
      operands.push(operand());
    }
    return this.#node({ kind: keyword === 'AND' ? 'and' : 'or', pos: first.pos, operands }, first.pos);
  }

  #not(): FilterExpr {
    const token = this.#peek();
    if (keywordOf(token) !== 'NOT') return this.#predicate();
    this.#take();
    this.#enter(token.pos);
    const operand = this.#not();
    this.#depth--;
    return this.#node({ kind: 'not', pos: token.pos, operand }, token.pos);
  }

  #predicate(): FilterExpr {
    const left = this.#additive();
    const result = this.#predicateTail(left);
    if (result !== left && this.#startsPredicate()) {
      this.#fail('comparison operators do not chain: add parentheses', this.#peek().pos);
    }
    return result;
  }

  #startsPredicate(): boolean {
    const token = this.#peek();
    if (token.kind === 'punct') return COMPARE_OPS[token.value] !== undefined;
    const keyword = keywordOf(token);
    if (keyword === 'NOT') return NEGATABLE.has(keywordOf(this.#peek(1)) ?? '');
    return keyword === 'IS' || (keyword !== undefined && NEGATABLE.has(keyword));
  }

  #predicateTail(left: FilterExpr): FilterExpr {
    const opToken = this.#peek();
    const opPos = opToken.pos;
    const compare = opToken.kind === 'punct' ? COMPARE_OPS[opToken.value] : undefined;
    if (compare !== undefined) {
      this.#take();
      const right = this.#additive();
      return this.#node({ kind: 'compare', pos: left.pos, op: compare, left, right, opPos }, opPos);
    }
    let keyword = keywordOf(opToken);
    if (keyword === 'IS') return this.#isNull(left);
    const negated = keyword === 'NOT';
    if (negated) {
      this.#take();
      const next = this.#peek();
      keyword = keywordOf(next);
      if (!NEGATABLE.has(keyword ?? '')) this.#fail(`expected IN, LIKE, ILIKE or BETWEEN after NOT, found ${describe(next)}`, this.#where(next));
    }
    switch (keyword) {
      case 'IN':
        return this.#in(left, negated, opPos);
      case 'LIKE':
      case 'ILIKE': {
        this.#take();
        const pattern = this.#additive();
        const after = this.#peek();
        if (after.kind === 'word' && after.value.toUpperCase() === 'ESCAPE') {
          this.#fail(`${keyword} ... ESCAPE is not supported`, after.pos, 'the escape character is always a backslash');
        }
        return this.#node({ kind: 'like', pos: left.pos, operand: left, pattern, negated, caseInsensitive: keyword === 'ILIKE', opPos }, opPos);
      }
      case 'BETWEEN': {
        this.#take();
        const low = this.#additive();
        const and = this.#peek();
        if (keywordOf(and) !== 'AND') this.#fail(`expected AND between the bounds of BETWEEN, found ${describe(and)}`, this.#where(and));
        this.#take();
        const high = this.#additive();
        return this.#node({ kind: 'between', pos: left.pos, operand: left, low, high, negated, opPos }, opPos);
      }
      default:
        return left;
    }
  }

  #isNull(operand: FilterExpr): FilterExpr {
    const opPos = this.#take().pos;
    const negated = keywordOf(this.#peek()) === 'NOT';
    if (negated) this.#take();
    const next = this.#peek();
    if (keywordOf(next) !== 'NULL') {
      this.#fail(`expected ${negated ? 'NULL after IS NOT' : 'NULL or NOT NULL after IS'}, found ${describe(next)}`, this.#where(next));
    }
    this.#take();
    return this.#node({ kind: 'is_null', pos: operand.pos, operand, negated, opPos }, opPos);
  }

  #in(operand: FilterExpr, negated: boolean, opPos: FilterPos): FilterExpr {
    this.#take();
    const open = this.#peek();
    if (!isPunct(open, '(')) this.#fail('IN expects a parenthesised list', this.#where(open), "write IN ('a', 'b')");
    this.#take();
    const list = this.#list(open);
    if (list.length === 0) this.#fail('IN needs at least one value', this.#prev!.pos);
    return this.#node({ kind: 'in', pos: operand.pos, operand, list, negated, opPos }, opPos);
  }

  #additive(): FilterExpr {
    let left = this.#multiplicative();
    for (let op = this.#peek(); isPunct(op, '+') || isPunct(op, '-'); op = this.#peek()) {
      this.#take();
      const right = this.#multiplicative();
      left = this.#node({ kind: 'arithmetic', pos: left.pos, op: op.value as ArithmeticOp, left, right, opPos: op.pos }, op.pos);
    }
    return left;
  }

  #multiplicative(): FilterExpr {
    let left = this.#unary();
    for (let op = this.#peek(); isPunct(op, '*') || isPunct(op, '/') || isPunct(op, '%'); op = this.#peek()) {
      this.#take();
      const right = this.#unary();
      left = this.#node({ kind: 'arithmetic', pos: left.pos, op: op.value as ArithmeticOp, left, right, opPos: op.pos }, op.pos);
    }
    return left;
  }

  #unary(): FilterExpr {
    const token = this.#peek();
    if (!isPunct(token, '-')) return this.#primary();
    this.#take();
    this.#enter(token.pos);
    const operand = this.#unary();
    this.#depth--;
    return this.#node({ kind: 'negate', pos: token.pos, operand }, token.pos);
  }

  #primary(): FilterExpr {
    const token = this.#peek();
    const pos = token.pos;
    switch (token.kind) {
      case 'number':
        this.#take();
        return { kind: 'number', pos, value: token.value, integer: token.integer };
      case 'string':
        this.#take();
        return { kind: 'string', pos, value: token.value };
      case 'word':
        return this.#word(token);
      case 'quoted':
        return this.#fail(
          `${describe(token)} is a quoted identifier, not a string`,
          pos,
          'strings use single quotes; double quotes and backticks quote keys in paths such as metadata."user id"',
        );
      default: {
        if (!isPunct(token, '(')) return this.#expectedExpression(token);
        this.#take();
        const inner = this.#group(pos);
        const close = this.#peek();
        if (!isPunct(close, ')')) this.#fail(`expected ) to close ( opened at ${formatPos(pos)}, found ${describe(close)}`, this.#where(close));
        this.#take();
        return inner;
      }
    }
  }

  #word(token: Token & { kind: 'word' }): FilterExpr {
    const keyword = keywordOf(token);
    if (keyword === 'TRUE' || keyword === 'FALSE' || keyword === 'NULL') {
      this.#take();
      return keyword === 'NULL' ? { kind: 'null', pos: token.pos } : { kind: 'boolean', pos: token.pos, value: keyword === 'TRUE' };
    }
    if (keyword !== undefined) return this.#expectedExpression(token);
    const name = token.value.toLowerCase();
    return isPunct(this.#peek(1), '(') ? this.#call(token, name) : this.#field(token, name);
  }

  #call(nameToken: Token & { kind: 'word' }, name: string): FilterExpr {
    const pos = nameToken.pos;
    if (!isFilterFunction(name)) {
      if (isFilterField(name)) this.#fail(`${name} is a field, not a function`, pos);
      this.#fail(`unknown function "${nameToken.value}"`, pos, `${didYouMean(name, FILTER_FUNCTION_NAMES)}functions are ${FILTER_FUNCTION_NAMES.join(', ')}`);
    }
    this.#take();
    const args = this.#list(this.#take());
    const signature = FILTER_FUNCTIONS[name];
    if (args.length < signature.minArgs || args.length > signature.maxArgs) {
      this.#fail(`function ${name} takes ${describeArity(signature)}, got ${args.length}`, pos);
    }
    return this.#node({ kind: 'call', pos, name, args }, pos);
  }

  /** The elements of a parenthesised list whose `(` has just been taken, through its `)`. */
  #list(open: Token): FilterExpr[] {
    const items: FilterExpr[] = [];
    if (isPunct(this.#peek(), ')')) {
      this.#take();
      return items;
    }
    for (;;) {
      items.push(this.#group(this.#peek().pos));
      const next = this.#peek();
      if (!isPunct(next, ',') && !isPunct(next, ')')) {
        this.#fail(`expected , or ) to close ( opened at ${formatPos(open.pos)}, found ${describe(next)}`, this.#where(next));
      }
      this.#take();
      if (isPunct(next, ')')) return items;
    }
  }

  #field(token: Token & { kind: 'word' }, name: string): FilterExpr {
    if (!isFilterField(name)) {
      const hint = isFilterFunction(name)
        ? `${name} is a function: call it as ${name}(...)`
        : `${didYouMean(name, FILTER_FIELDS)}fields are ${FILTER_FIELDS.join(', ')}`;
      this.#fail(`unknown field "${token.value}"`, token.pos, hint);
    }
    this.#take();
    const steps: PathStep[] = [];
    for (let step = this.#peek(); isPunct(step, '.') || isPunct(step, '['); step = this.#peek()) {
      if (!isPathField(name)) this.#fail(`field ${name} takes no path`, step.pos, `only ${PATH_FIELDS.join(', ')} have keys or indexes`);
      this.#take();
      steps.push(isPunct(step, '.') ? this.#dotStep(name, step) : this.#bracketStep(step));
    }
    return { kind: 'field', pos: token.pos, field: name, steps };
  }

  #dotStep(field: FilterField, dot: Token): PathStep {
    const token = this.#peek();
    if (token.kind === 'quoted') {
      this.#take();
      return { kind: 'key', pos: dot.pos, key: token.value, quoted: true };
    }
    if (token.kind !== 'word') return this.#fail(`expected a key after ., found ${describe(token)}`, this.#where(token));
    const key = token.value;
    const code = key.charCodeAt(0);
    if (code >= 48 && code <= 57 && !isMapField(field)) {
      const allDigits = Array.from(key).every((ch) => ch >= '0' && ch <= '9');
      this.#fail(`key ${shorten(key)} starts with a digit`, token.pos, allDigits ? `use [${key}] for an array index, or ."${key}" for a key` : `quote it: ."${key}"`);
    }
    this.#take();
    return { kind: 'key', pos: dot.pos, key, quoted: false };
  }

  #bracketStep(open: Token): PathStep {
    const token = this.#peek();
    let step: PathStep;
    if (token.kind === 'string') {
      step = { kind: 'key', pos: open.pos, key: token.value, quoted: true };
    } else if (token.kind === 'number' && token.integer) {
      step = { kind: 'index', pos: open.pos, index: token.value };
    } else if (token.kind === 'number' || isPunct(token, '-')) {
      return this.#fail('an array index must be a non-negative integer', token.pos);
    } else {
      return this.#fail(`expected a 'string key' or an integer index after [, found ${describe(token)}`, this.#where(token));
    }
    this.#take();
    const close = this.#peek();
    if (!isPunct(close, ']')) this.#fail(`expected ] to close [ opened at ${formatPos(open.pos)}, found ${describe(close)}`, this.#where(close));
    this.#take();
    return step;
  }

  #expectedExpression(token: Token): never {
    const prev = this.#prev;
    const after = prev === undefined ? '' : ` after ${keywordOf(prev) ?? shorten(prev.text)}`;
    const found = token.kind === 'end' ? '' : `, found ${describe(token)}`;
    const hint = keywordOf(token) === 'NOT' ? 'NOT applies to a whole condition, so parenthesise it: (NOT ...)' : '';
    return this.#fail(`expected an expression${after}${found}`, this.#where(token), hint);
  }

  /** Builds an inner node, refusing trees deeper than FILTER_MAX_DEPTH (long `a + b + ...` chains grow without recursing). */
  #node<T extends FilterExpr>(expr: T, at: FilterPos): T {
    let height = 0;
    for (const child of filterChildren(expr)) height = Math.max(height, this.#heights.get(child) ?? 1);
    if (height + 1 > FILTER_MAX_DEPTH) this.#tooDeep(at);
    this.#heights.set(expr, height + 1);
    return expr;
  }

  #enter(at: FilterPos): void {
    if (++this.#depth > FILTER_MAX_DEPTH) this.#tooDeep(at);
  }

  #tooDeep(at: FilterPos): never {
    return this.#fail('the filter nests too deeply', at, `at most ${FILTER_MAX_DEPTH} levels of parentheses, operators and function calls`);
  }

  /** Where to report a problem with `token`: for the end of the filter, just past the last token rather than after trailing blanks. */
  #where(token: Token): FilterPos {
    return token.kind === 'end' ? (this.#prev?.end ?? token.pos) : token.pos;
  }

  #peek(ahead = 0): Token {
    while (this.#ahead.length <= ahead) this.#ahead.push(this.#lexer.next());
    return this.#ahead[ahead]!;
  }

  #take(): Token {
    const token = this.#peek();
    this.#ahead.shift();
    this.#prev = token;
    return token;
  }

  #fail(summary: string, pos: FilterPos, hint = ''): never {
    throw new FilterSyntaxError(summary, pos, this.#src, hint);
  }
}
