import { Ajv, type AnySchema, type ValidateFunction } from 'ajv';
import type { BuiltinScorerFactory } from './builtin-scorer-factory.js';
import { rejectUnknownOptions } from './builtin-scorer-factory.js';
import { isJsonArrayLike, isJsonObjectLike } from './json-containers.js';

/**
 * autoevals' `ValidJSON` (js/json.ts, autoevals 0.3.0). Never throws, never needs `expected`.
 *
 * - A string output is `JSON.parse`d; any other value is taken as already parsed.
 * - Without a schema: 1 when the parsed value is an object or an array, else 0 — so `'5'`,
 *   `'"text"'`, `'null'` and unparseable text all score 0.
 * - With a schema (any truthy `schema` option, e.g. `{}`): 1 when the parsed value validates,
 *   else 0 — so with `{type: 'number'}` the string `'5'` scores 1.
 *
 * The schema is compiled with `new Ajv()` and default options, like autoevals (draft-07,
 * strict mode), so the same schemas are accepted and the same values pass. One deliberate
 * difference: autoevals compiles on every call and an uncompilable schema (strict-mode
 * violation, unknown `format`, unresolvable `$ref`) silently scores 0 for every output; we
 * compile once in the factory and throw there, so a broken schema fails config loading.
 */
export function validJsonScore(output: unknown, validate?: ValidateFunction): number {
  let parsed: unknown;
  try {
    parsed = typeof output === 'string' ? JSON.parse(output) : output;
  } catch {
    return 0;
  }
  if (validate) return validate(parsed) ? 1 : 0;
  return isJsonObjectLike(parsed) || isJsonArrayLike(parsed) ? 1 : 0;
}

/** Compiles a JSON schema the way autoevals does, with a readable error when it cannot. */
export function compileJsonSchema(schema: unknown): ValidateFunction {
  if (typeof schema !== 'boolean' && !isJsonObjectLike(schema)) {
    throw new Error(`ValidJSON: option schema must be a JSON schema object or boolean, got ${JSON.stringify(schema)}`);
  }
  try {
    return new Ajv().compile(schema as AnySchema);
  } catch (error) {
    throw new Error(`ValidJSON: option schema is not a schema Ajv can compile: ${(error as Error).message}`);
  }
}

/** Options: `schema` (optional JSON schema). Falsy values (`false`, null) mean "no schema", as in autoevals. */
export const validJson: BuiltinScorerFactory = (options) => {
  rejectUnknownOptions('ValidJSON', options, ['schema']);
  const { schema } = options;
  const validate = schema ? compileJsonSchema(schema) : undefined;
  const metadata = schema ? { schema } : undefined;
  return ({ output }) => ({ name: 'ValidJSON', score: validJsonScore(output, validate), ...(metadata && { metadata }) });
};
