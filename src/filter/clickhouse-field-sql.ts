import type { FieldRef, PathStep } from './filter-ast.js';
import { fieldAccessOf, type ColumnField, type FieldAccess } from './filter-static-types.js';
import type { FieldConventions } from '../scoring/field-conventions.js';
import type { SqlContext } from './clickhouse-sql-context.js';
import { DYNAMIC_TYPE, NULL_STRING, NULL_VALUE, dynamicSql, type SqlValue } from './clickhouse-typed-sql.js';

/**
 * Field references as ClickHouse SQL over the `otel_traces` columns (docs/filter-language.md,
 * "Fields"). The key-joining and metadata rules come from `fieldAccessOf`, shared with the JS
 * compiler; attribute keys (from the filter or the field conventions) are always parameters.
 */

/** The fixed field table: the only column SQL the compiler writes. */
const COLUMN_SQL: Readonly<Record<ColumnField, { type: 'bool' | 'number' | 'string'; sql: string }>> = {
  name: { type: 'string', sql: 'SpanName' },
  span_kind: { type: 'string', sql: 'lower(SpanKind)' },
  service_name: { type: 'string', sql: 'ServiceName' },
  status: { type: 'string', sql: 'lower(StatusCode)' },
  status_message: { type: 'string', sql: 'StatusMessage' },
  duration_ms: { type: 'number', sql: '(toFloat64(Duration) / 1e6)' },
  timestamp: { type: 'number', sql: '(toFloat64(toUnixTimestamp64Nano(Timestamp)) / 1e6)' },
  is_root: { type: 'bool', sql: "(ParentSpanId = '')" },
  trace_id: { type: 'string', sql: 'TraceId' },
  span_id: { type: 'string', sql: 'SpanId' },
  parent_span_id: { type: 'string', sql: "nullIf(ParentSpanId, '')" },
  scope_name: { type: 'string', sql: 'ScopeName' },
};

const MAP_COLUMN = { attributes: 'SpanAttributes', resource: 'ResourceAttributes' } as const;

export function fieldSql(ctx: SqlContext, ref: FieldRef, conventions: FieldConventions): SqlValue {
  return accessSql(ctx, fieldAccessOf(ref), conventions);
}

function accessSql(ctx: SqlContext, access: FieldAccess, conventions: FieldConventions): SqlValue {
  switch (access.kind) {
    case 'column':
      return COLUMN_SQL[access.field];
    case 'map':
      return withPath(ctx, mapValueSql(ctx, MAP_COLUMN[access.map], access.key), access.path);
    case 'document':
      return withPath(ctx, firstPresentSql(ctx, conventions[access.field]), access.path);
    case 'metadata':
      return metadataSql(ctx, access.keys, access.steps, conventions);
  }
}

/** The text of map entry `key`, NULL when absent (an empty value is present). */
function mapValueSql(ctx: SqlContext, column: string, key: string): string {
  const k = ctx.string(key);
  return `if(mapContains(${column}, ${k}), ${column}[${k}], NULL)`;
}

/** The text of the first of `keys` present in the span attributes, else NULL. */
function firstPresentSql(ctx: SqlContext, keys: readonly string[]): string {
  if (keys.length === 0) return NULL_STRING;
  const branches = keys.map((key) => {
    const k = ctx.string(key);
    return `mapContains(SpanAttributes, ${k}), SpanAttributes[${k}]`;
  });
  return `multiIf(${branches.join(', ')}, NULL)`;
}

function withPath(ctx: SqlContext, text: string, path: readonly PathStep[]): SqlValue {
  return path.length === 0 ? { type: 'string', sql: text } : { type: 'dynamic', sql: jsonPathSql(ctx, text, path) };
}

/**
 * `metadata`, `metadata.k1.k2…`: the longest run of leading keys naming a prefixed attribute
 * wins (its text, or a JSON path into it for the remaining steps); otherwise the whole path
 * goes into the `metadataAttribute` JSON.
 */
function metadataSql(ctx: SqlContext, keys: readonly string[], steps: readonly PathStep[], conventions: FieldConventions): SqlValue {
  const { metadataPrefix, metadataAttribute } = conventions;
  const document = metadataAttribute === '' ? undefined : mapValueSql(ctx, 'SpanAttributes', metadataAttribute);
  if (steps.length === 0) return document === undefined ? NULL_VALUE : { type: 'string', sql: document };
  const fallback: SqlValue = document === undefined ? NULL_VALUE : withPath(ctx, document, steps);
  if (metadataPrefix === '' || keys.length === 0) return fallback;
  const branches: string[] = [];
  for (let i = keys.length; i >= 1; i--) {
    const key = ctx.string(metadataPrefix + keys.slice(0, i).join('.'));
    const value = withPath(ctx, `SpanAttributes[${key}]`, steps.slice(i));
    branches.push(`mapContains(SpanAttributes, ${key}), ${dynamicSql(ctx, value)}`);
  }
  return { type: 'dynamic', sql: `multiIf(${branches.join(', ')}, ${dynamicSql(ctx, fallback)})` };
}

/** ClickHouse `JSONType` names by the kind tag they map to (`TAG`); anything else (`Null`, nothing found) is NULL. */
const JSON_TYPE_NAMES = `['Bool', 'Int64', 'UInt64', 'Double', 'String', 'Array', 'Object']`;
const JSON_TYPE_TAGS = `[1, 2, 2, 2, 3, 4, 4]`;

/**
 * The value at `path` (at least one step) in the JSON text `text`, as a dynamic tuple.
 *
 * Mirrors `JSON.parse` + member access. ClickHouse's JSON functions take a path of keys and
 * 1-based positions, but with two differences from the doc: a key selects the FIRST of
 * duplicate members (JSON.parse keeps the last), and a position also selects the n-th member of
 * an OBJECT (the doc's `[n]` applies to arrays only). So every step becomes a position: a key
 * step the position of the LAST member with that key (`JSONExtractKeys` lists members in order,
 * duplicates included), an index step its position only when the value there is an array;
 * position 0 selects nothing, and nothing below it either. Only the value found is copied out
 * (`JSONExtractRaw`), then classified. An invalid document yields no keys and no value: the
 * parse validates the whole text, as JSON.parse does.
 */
export function jsonPathSql(ctx: SqlContext, text: string, path: readonly PathStep[]): string {
  return ctx.let(`ifNull(${text}, '')`, (doc) => {
    const positions: string[] = [];
    const descend = (i: number): string => {
      const at = [doc, ...positions].join(', ');
      if (i === path.length) return jsonValueSql(ctx, `nullIf(JSONExtractRaw(${at}), '')`);
      const step = path[i]!;
      let position: string;
      if (step.kind === 'key') {
        const key = ctx.string(step.key);
        const member = ctx.variable();
        position = `arrayLastIndex(${member} -> ${member} = ${key}, JSONExtractKeys(${at}))`;
      } else {
        position = `if(JSONType(${at}) = 'Array', ${ctx.int(step.index + 1)}, 0)`;
      }
      return ctx.let(position, (p) => {
        positions.push(p);
        const sql = descend(i + 1);
        positions.pop();
        return sql;
      });
    };
    return descend(0);
  });
}

/** A JSON value's raw text (NULL for none) as a dynamic tuple: objects and arrays keep their text in the json slot. */
export function jsonValueSql(ctx: SqlContext, raw: string): string {
  return ctx.let(raw, (r) => {
    const tag = `arrayElement(${JSON_TYPE_TAGS}, indexOf(${JSON_TYPE_NAMES}, toString(JSONType(${r}))))`;
    return ctx.let(
      tag,
      (t) =>
        `CAST(tuple(${t}, if(${t} = 1, JSONExtractBool(${r}), NULL), if(${t} = 2, JSONExtractFloat(${r}), NULL), ` +
        `if(${t} = 3, JSONExtractString(${r}), NULL), if(${t} = 4, ${r}, NULL)) AS ${DYNAMIC_TYPE})`,
    );
  });
}
