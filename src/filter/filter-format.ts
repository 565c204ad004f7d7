import { isMapField, type FilterExpr, type FilterField, type NumberLiteral, type PathStep } from './filter-ast.js';

/**
 * Prints a filter tree as canonical filter text: keywords in capitals, `!=` for inequality,
 * single spaces around operators, and parentheses exactly where the tree's shape differs from
 * what precedence alone would give. For every tree `parseFilter` can return,
 * `parseFilter(formatFilter(e))` is `e` again apart from positions; "explain" relies on this to
 * show a failing sub-expression in a form the user can paste back.
 */
export function formatFilter(expr: FilterExpr): string {
  switch (expr.kind) {
    case 'string':
      return formatString(expr.value);
    case 'number':
      return formatNumber(expr);
    case 'boolean':
      return expr.value ? 'TRUE' : 'FALSE';
    case 'null':
      return 'NULL';
    case 'field':
      return expr.field + expr.steps.map((step) => formatStep(expr.field, step)).join('');
    case 'or':
      // An operand of the same kind was parenthesised in the source, or it would have been flattened.
      return expr.operands.map((operand) => operandText(operand, PREC_OR + 1)).join(' OR ');
    case 'and':
      return expr.operands.map((operand) => operandText(operand, PREC_AND + 1)).join(' AND ');
    case 'not':
      return `NOT ${operandText(expr.operand, PREC_NOT)}`;
    case 'negate':
      // `-(-x)` rather than `--x`, which would read as a comment.
      return `-${expr.operand.kind === 'negate' ? `(${formatFilter(expr.operand)})` : operandText(expr.operand, PREC_UNARY)}`;
    case 'arithmetic': {
      const prec = precedence(expr);
      // Left-associative: an equal-precedence right operand needs parentheses to stay on the right.
      return `${operandText(expr.left, prec)} ${expr.op} ${operandText(expr.right, prec + 1)}`;
    }
    case 'compare':
      return `${operandText(expr.left, PREC_ADDITIVE)} ${expr.op} ${operandText(expr.right, PREC_ADDITIVE)}`;
    case 'is_null':
      return `${operandText(expr.operand, PREC_ADDITIVE)} IS ${expr.negated ? 'NOT ' : ''}NULL`;
    case 'in':
      return `${operandText(expr.operand, PREC_ADDITIVE)} ${expr.negated ? 'NOT ' : ''}IN (${expr.list.map(formatFilter).join(', ')})`;
    case 'like': {
      const op = `${expr.negated ? 'NOT ' : ''}${expr.caseInsensitive ? 'ILIKE' : 'LIKE'}`;
      return `${operandText(expr.operand, PREC_ADDITIVE)} ${op} ${operandText(expr.pattern, PREC_ADDITIVE)}`;
    }
    case 'between':
      return `${operandText(expr.operand, PREC_ADDITIVE)} ${expr.negated ? 'NOT ' : ''}BETWEEN ${operandText(expr.low, PREC_ADDITIVE)} AND ${operandText(expr.high, PREC_ADDITIVE)}`;
    case 'call':
      return `${expr.name}(${expr.args.map(formatFilter).join(', ')})`;
  }
}

const PREC_OR = 1;
const PREC_AND = 2;
const PREC_NOT = 3;
const PREC_PREDICATE = 4;
const PREC_ADDITIVE = 5;
const PREC_MULTIPLICATIVE = 6;
const PREC_UNARY = 7;
const PREC_PRIMARY = 8;

function precedence(expr: FilterExpr): number {
  switch (expr.kind) {
    case 'or':
      return PREC_OR;
    case 'and':
      return PREC_AND;
    case 'not':
      return PREC_NOT;
    case 'compare':
    case 'is_null':
    case 'in':
    case 'like':
    case 'between':
      return PREC_PREDICATE;
    case 'arithmetic':
      return expr.op === '+' || expr.op === '-' ? PREC_ADDITIVE : PREC_MULTIPLICATIVE;
    case 'negate':
      return PREC_UNARY;
    default:
      return PREC_PRIMARY;
  }
}

/** `expr` in a position that parses expressions binding at least as tightly as `minPrec`. */
function operandText(expr: FilterExpr, minPrec: number): string {
  const text = formatFilter(expr);
  return precedence(expr) < minPrec ? `(${text})` : text;
}

/** Mirrors the lexer's escapes; `\%` and `\_` are already backslash-prefixed in the value, so printing the backslash as `\\` restores them. */
function formatString(value: string): string {
  let out = "'";
  for (const ch of value) {
    switch (ch) {
      case "'":
        out += "''";
        break;
      case '\\':
        out += '\\\\';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\0':
        out += '\\0';
        break;
      default:
        out += ch;
    }
  }
  return `${out}'`;
}

function formatNumber(literal: NumberLiteral): string {
  const text = String(literal.value);
  // A non-integer literal must print with a fraction or exponent so that it parses back as one.
  return literal.integer || text.includes('.') || text.includes('e') ? text : `${text}.0`;
}

function formatStep(field: FilterField, step: PathStep): string {
  if (step.kind === 'index') return `[${step.index}]`;
  return !step.quoted && isBareKey(step.key, isMapField(field)) ? `.${step.key}` : `[${formatString(step.key)}]`;
}

function isBareKey(key: string, allowDigitStart: boolean): boolean {
  if (key === '') return false;
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    const letter = (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95;
    const digit = code >= 48 && code <= 57;
    if (!letter && !(digit && (i > 0 || allowDigitStart))) return false;
  }
  return true;
}
