import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FILTER_FIELDS,
  FILTER_FUNCTIONS,
  FILTER_MAX_DEPTH,
  filterChildren,
  isMapField,
  isPathField,
  type ArithmeticOp,
  type CompareOp,
  type FilterExpr,
  type FilterFunctionName,
  type FilterPos,
  type PathStep,
} from '../../src/filter/filter-ast.js';
import { formatFilter } from '../../src/filter/filter-format.js';
import { parseFilter } from '../../src/filter/filter-parser.js';
import { FilterSyntaxError } from '../../src/filter/filter-syntax-error.js';

const SEED = 20_250_611;

function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'pos' && k !== 'opPos').map(([k, v]) => [k, strip(v)]));
}

function height(expr: FilterExpr): number {
  return 1 + Math.max(0, ...filterChildren(expr).map(height));
}

/** Line and column of `offset` computed independently of the lexer: breaks are \n, \r\n and lone \r; columns count code points. */
function lineColumnOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text[i] === '\n' || (text[i] === '\r' && text[i + 1] !== '\n')) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: Array.from(text.slice(lineStart, offset)).length + 1 };
}

/**
 * The contract of parseFilter on any input: a tree that survives format → parse unchanged and
 * respects the depth limit, or a FilterSyntaxError whose position is consistent with the text.
 */
function checkAnyInput(text: string): void {
  let expr: FilterExpr;
  try {
    expr = parseFilter(text);
  } catch (error) {
    if (!(error instanceof FilterSyntaxError)) throw error;
    expect(error.offset).toBeGreaterThanOrEqual(0);
    expect(error.offset).toBeLessThanOrEqual(text.length);
    expect({ line: error.line, column: error.column }).toEqual(lineColumnOf(text, error.offset));
    expect(error.headline).toContain(` at ${error.line}:${error.column}`);
    const lines = error.message.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(error.headline);
    expect(lines[2]).toMatch(/^ {2}[ \t]*\^$/);
    return;
  }
  expect(height(expr)).toBeLessThanOrEqual(FILTER_MAX_DEPTH);
  expect(strip(parseFilter(formatFilter(expr)))).toEqual(strip(expr));
}

const fragments = [
  ...FILTER_FIELDS,
  'NaMe',
  'nmae',
  'foo',
  ...Object.keys(FILTER_FUNCTIONS),
  'LOWER',
  'regexp',
  'AND',
  'or',
  'Not',
  'IS',
  'NULL',
  'IN',
  'like',
  'ILIKE',
  'BETWEEN',
  'TRUE',
  'false',
  'ESCAPE',
  '=',
  '==',
  '!=',
  '<>',
  '<',
  '<=',
  '>',
  '>=',
  '+',
  '-',
  '--',
  '*',
  '/',
  '/*',
  '%',
  '(',
  ')',
  '[',
  ']',
  ',',
  '.',
  ';',
  '!',
  '&&',
  '||',
  '0',
  '7',
  '1.5',
  '1e3',
  '2E-2',
  '1e',
  '9007199254740993',
  '1e999',
  "'a'",
  "''",
  "'it''s'",
  "'\\%'",
  "'\\q'",
  "'open",
  "'\\",
  '"key"',
  '"a""b"',
  '`k.k`',
  '"open',
  'é',
  '😀',
  '\u00a0',
];

const separator = fc.constantFrom('', ' ', ' ', ' ', '\n', '\r\n', '\t', '\r');
const tokenSoup = fc
  .array(fc.tuple(fc.constantFrom(...fragments), separator), { maxLength: 40 })
  .map((parts) => parts.map(([fragment, sep]) => fragment + sep).join(''));

const anyString = fc.oneof(
  fc.string({ maxLength: 120 }),
  fc.string({ maxLength: 120, unit: 'binary' }),
  fc.string({ maxLength: 120, unit: fc.constantFrom(...'()[]\'"`.,;=<>!+-*/% \n\\aAnN01eE_') }),
);

const deepPrefix = fc.constantFrom('(', 'NOT ', '- ', 'lower(', 'coalesce(1, ', 'name IN (', 'input[', '1 + (', '1 = (');
const deepNesting = fc
  .tuple(fc.array(deepPrefix, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 3000 }), fc.boolean())
  .map(([prefixes, count, close]) => {
    const open = Array.from({ length: count }, (_, i) => prefixes[i % prefixes.length]).join('');
    return open + 'is_root' + (close ? ')'.repeat(count) : '');
  });

// Generated trees are shaped like parser output (non-negative numbers, n-ary AND/OR with 2+ operands, valid arities, paths only where allowed).
const P: FilterPos = { offset: 0, line: 1, column: 1 };
const bareKey = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
const stepArb = (mapField: boolean): fc.Arbitrary<PathStep> =>
  fc.oneof(
    bareKey.map((key) => ({ kind: 'key', pos: P, key, quoted: false }) as const),
    (mapField ? fc.stringMatching(/^[0-9][A-Za-z0-9_]{0,5}$/) : bareKey).map((key) => ({ kind: 'key', pos: P, key, quoted: false }) as const),
    fc.string({ maxLength: 8, unit: 'binary' }).map((key) => ({ kind: 'key', pos: P, key, quoted: true }) as const),
    fc.nat().map((index) => ({ kind: 'index', pos: P, index }) as const),
  );
const fieldArb: fc.Arbitrary<FilterExpr> = fc.constantFrom(...FILTER_FIELDS).chain((field) =>
  (isPathField(field) ? fc.array(stepArb(isMapField(field)), { maxLength: 4 }) : fc.constant([])).map((steps) => ({ kind: 'field', pos: P, field, steps }) as const),
);
const leafArb: fc.Arbitrary<FilterExpr> = fc.oneof(
  fieldArb,
  fc.string({ maxLength: 12, unit: 'binary' }).map((value) => ({ kind: 'string', pos: P, value }) as const),
  fc.string({ maxLength: 6, unit: fc.constantFrom('\\', '%', '_', "'", 'a', '\n', '\0') }).map((value) => ({ kind: 'string', pos: P, value }) as const),
  fc.maxSafeNat().map((value) => ({ kind: 'number', pos: P, value, integer: true }) as const),
  fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }).map((value) => ({ kind: 'number', pos: P, value: value === 0 ? 0 : value, integer: false }) as const),
  fc.boolean().map((value) => ({ kind: 'boolean', pos: P, value }) as const),
  fc.constant({ kind: 'null', pos: P } as const),
);

const treeArb = fc.letrec<{ expr: FilterExpr }>((tie) => {
  const sub = tie('expr');
  const functionCall = fc.constantFrom(...(Object.keys(FILTER_FUNCTIONS) as FilterFunctionName[])).chain((name) => {
    const { minArgs, maxArgs } = FILTER_FUNCTIONS[name];
    return fc.array(sub, { minLength: minArgs, maxLength: Math.min(maxArgs, 3) }).map((args) => ({ kind: 'call', pos: P, name, args }) as const);
  });
  return {
    expr: fc.oneof(
      { maxDepth: 5, depthSize: 'small' },
      leafArb,
      fc.array(sub, { minLength: 2, maxLength: 4 }).map((operands) => ({ kind: 'and', pos: P, operands }) as const),
      fc.array(sub, { minLength: 2, maxLength: 4 }).map((operands) => ({ kind: 'or', pos: P, operands }) as const),
      sub.map((operand) => ({ kind: 'not', pos: P, operand }) as const),
      sub.map((operand) => ({ kind: 'negate', pos: P, operand }) as const),
      fc
        .tuple(fc.constantFrom<ArithmeticOp>('+', '-', '*', '/', '%'), sub, sub)
        .map(([op, left, right]) => ({ kind: 'arithmetic', pos: P, op, left, right, opPos: P }) as const),
      fc
        .tuple(fc.constantFrom<CompareOp>('=', '!=', '<', '<=', '>', '>='), sub, sub)
        .map(([op, left, right]) => ({ kind: 'compare', pos: P, op, left, right, opPos: P }) as const),
      fc.tuple(sub, fc.boolean()).map(([operand, negated]) => ({ kind: 'is_null', pos: P, operand, negated, opPos: P }) as const),
      fc
        .tuple(sub, fc.array(sub, { minLength: 1, maxLength: 3 }), fc.boolean())
        .map(([operand, list, negated]) => ({ kind: 'in', pos: P, operand, list, negated, opPos: P }) as const),
      fc
        .tuple(sub, sub, fc.boolean(), fc.boolean())
        .map(([operand, pattern, negated, caseInsensitive]) => ({ kind: 'like', pos: P, operand, pattern, negated, caseInsensitive, opPos: P }) as const),
      fc
        .tuple(sub, sub, sub, fc.boolean())
        .map(([operand, low, high, negated]) => ({ kind: 'between', pos: P, operand, low, high, negated, opPos: P }) as const),
      functionCall,
    ),
  };
}).expr;

describe('parseFilter on generated input', () => {
  it('random strings: a tree or a FilterSyntaxError, never anything else', () => {
    fc.assert(fc.property(anyString, checkAnyInput), { seed: SEED, numRuns: 4000 });
  });

  it('token soups: a tree or a FilterSyntaxError, never anything else', () => {
    fc.assert(fc.property(tokenSoup, checkAnyInput), { seed: SEED, numRuns: 4000 });
  });

  it('deep nesting: refused with an error, never a stack overflow', () => {
    fc.assert(fc.property(deepNesting, checkAnyInput), { seed: SEED, numRuns: 500 });
  });

  it('random trees: formatFilter then parseFilter gives the same tree', () => {
    fc.assert(
      fc.property(treeArb, (expr) => {
        const text = formatFilter(expr);
        expect(strip(parseFilter(text))).toEqual(strip(expr));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('mutated valid filters: a tree or a FilterSyntaxError, never anything else', () => {
    const edit = fc.tuple(fc.nat(), fc.nat({ max: 6 }), fc.constantFrom('', ...fragments));
    const mutated = fc.tuple(treeArb.map(formatFilter), fc.array(edit, { minLength: 1, maxLength: 3 })).map(([text, edits]) =>
      edits.reduce((out, [at, drop, insert]) => {
        const start = at % (out.length + 1);
        return out.slice(0, start) + insert + out.slice(start + drop);
      }, text),
    );
    fc.assert(fc.property(mutated, checkAnyInput), { seed: SEED, numRuns: 2000 });
  });

  it('parses large filters in linear time', () => {
    const conditions = Array.from({ length: 20_000 }, (_, i) => `metadata.k${i} = 'value ${i}'`).join('\n  OR ');
    const started = performance.now();
    expect(parseFilter(conditions)).toHaveProperty('operands.length', 20_000);
    expect(() => parseFilter(`${conditions} OR nmae`)).toThrow(FilterSyntaxError);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
