import { asciiLower, asciiUpper, codePointLength, equalValues, isJsonContainer, type FilterValue } from './filter-values.js';
import { dynamic, type Compiled, type Evaluator } from './js-filter-eval-context.js';
import { INVALID_JSON, parseJson } from './json-path.js';

/**
 * A call of a filter function (`FILTER_FUNCTIONS` in filter-ast.ts) as one closure over its
 * compiled arguments. The parser has checked the arity, so `a` / `b` exist wherever they are
 * read. An argument of another type is not an error: docs/filter-language.md gives each result.
 */
export function compileCall(name: string, args: Compiled[]): Compiled {
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
