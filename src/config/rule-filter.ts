import type { FilterExpr } from '../filter/filter-ast.js';
import { parseFilter } from '../filter/filter-parser.js';
import { inferTypes, FilterTypeError } from '../filter/filter-static-types.js';
import { FilterSyntaxError } from '../filter/filter-syntax-error.js';

/**
 * Parses a rule's filter at config load. A problem is reported through `report` with the
 * position inside the filter and the filter quoted with a caret, so the user sees both where
 * in the file (the line) and where in the expression.
 */
export function parseRuleFilter(text: string, report: (message: string) => void): FilterExpr | undefined {
  try {
    const expr = parseFilter(text);
    // Type errors (a string under AND, a key-less `attributes`) refuse the config like syntax errors.
    inferTypes(expr, text);
    return expr;
  } catch (error) {
    if (!(error instanceof FilterSyntaxError) && !(error instanceof FilterTypeError)) throw error;
    report(`filter: ${error.message}`);
    return undefined;
  }
}
