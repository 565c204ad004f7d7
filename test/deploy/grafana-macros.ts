/**
 * What happens to a dashboard query between the JSON and ClickHouse, done the way Grafana and
 * the ClickHouse data source plugin (grafana-clickhouse-datasource 4.x) do it, so that a test
 * can run the very SQL a panel would send:
 *
 * 1. the plugin's frontend expands `$__conditionalAll(condition, $var)`: `1=1` when the
 *    variable is on All (or empty), else the condition (CHDatasource.applyConditionalAll);
 * 2. Grafana interpolates template variables (`$var`, `${var}`, `${var:format}`, `[[var]]`),
 *    with the plugin's own formatter when no format is named;
 * 3. the plugin's backend expands its macros (pkg/macros): `$__timeFilter(col)` and friends.
 *
 * Deliberately strict where Grafana is lenient: an unknown macro, variable or format throws
 * instead of reaching ClickHouse as text, and macro arguments must be plain column names
 * (nested calls only expand from plugin 4.20 on).
 */

/** A multi-value or single-value query variable as the dashboard holds it. */
export interface TemplateVariable {
  name: string;
  multi: boolean;
  includeAll: boolean;
  /** The variable's custom "All" value, used verbatim whatever the format. */
  allValue?: string;
  /** What the variable's query returned: All stands for these. */
  options: string[];
  /** The selection: 'all' or the selected values. */
  current: 'all' | string[];
}

export interface QueryContext {
  /** The dashboard time range. */
  from: Date;
  to: Date;
  /** The panel's query interval ($__interval), in ms. */
  intervalMs: number;
  variables: TemplateVariable[];
}

const ALL = '$__all';

/** The SQL the plugin sends to ClickHouse for `rawSql`. */
export function expandQuery(rawSql: string, context: QueryContext): string {
  const withConditions = applyConditionalAll(rawSql, context.variables);
  const interpolated = interpolateVariables(withConditions, context.variables);
  const expanded = expandMacros(interpolated, context);
  const leftover = /\$\{?\w+|\[\[\w+/.exec(expanded);
  if (leftover !== null) throw new Error(`"${leftover[0]}" is left unexpanded in:\n${expanded}`);
  return expanded;
}

/**
 * The plugin's `$__conditionalAll`, including its quirks: arguments split on commas at the
 * first parenthesis level (quotes are not looked at), and the variable is found by its name
 * in the second argument, `$var` or `${var}` (a `${var:format}` there is never recognised).
 */
export function applyConditionalAll(rawSql: string, variables: TemplateVariable[]): string {
  const macro = '$__conditionalAll(';
  let sql = rawSql;
  let at = sql.lastIndexOf(macro);
  while (at !== -1) {
    const args = splitMacroArgs(sql, at + macro.length - 1);
    if (args.length !== 2) throw new Error(`$__conditionalAll takes 2 arguments, got ${args.length} in:\n${sql}`);
    const [condition, variableArg] = args as [string, string];
    const name = /(?<=\$\{)\w+(?=\})|(?<=\$)\w+/.exec(variableArg.trim())?.[0];
    const variable = variables.find((v) => v.name === name);
    if (variable === undefined) throw new Error(`$__conditionalAll names no known variable: "${variableArg.trim()}"`);
    const value = legacyValue(variable).toString();
    const phrase = value === '' || value === ALL ? '1=1' : condition;
    sql = sql.replace(`${macro}${condition},${variableArg})`, phrase);
    at = sql.lastIndexOf(macro);
  }
  return sql;
}

/** The `current.value` the plugin reads: `$__all` (in an array when multi) stands for All. */
function legacyValue(variable: TemplateVariable): string | string[] {
  if (variable.current === 'all') return variable.multi ? [ALL] : ALL;
  return variable.multi ? variable.current : (variable.current[0] ?? '');
}

function splitMacroArgs(sql: string, openParen: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = openParen + 1;
  for (let i = openParen; i < sql.length; i++) {
    const c = sql[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (c === ',' && depth === 1) {
      args.push(sql.slice(start, i));
      start = i + 1;
    }
    if (depth === 0) {
      args.push(sql.slice(start, i));
      return args;
    }
  }
  throw new Error(`unbalanced parentheses after position ${openParen} in:\n${sql}`);
}

// Grafana's variable syntax: $var, [[var]] / [[var:fmt]], ${var} / ${var.path} / ${var:fmt}.
const VARIABLE_REGEX = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;

/** Grafana's template interpolation; names that are no variable stay as they are, as in Grafana. */
export function interpolateVariables(sql: string, variables: TemplateVariable[]): string {
  return sql.replace(VARIABLE_REGEX, (match, var1?: string, var2?: string, fmt2?: string, var3?: string, path?: string, fmt3?: string) => {
    const variable = variables.find((v) => v.name === (var1 ?? var2 ?? var3));
    if (variable === undefined) return match;
    if (path !== undefined) throw new Error(`${match}: field paths are not supported here`);
    if (variable.current === 'all' && variable.allValue !== undefined) return variable.allValue;
    const value = variable.current === 'all' ? variable.options : variable.multi ? variable.current : (variable.current[0] ?? '');
    return formatValue(value, fmt2 ?? fmt3, match);
  });
}

function formatValue(value: string | string[], format: string | undefined, match: string): string {
  const each = (quote: (v: string) => string): string => (Array.isArray(value) ? value.map(quote).join(',') : quote(value));
  switch (format) {
    case undefined:
      // The plugin's formatter (CHDatasource.format): arrays quoted and unescaped, scalars raw.
      return Array.isArray(value) ? `'${value.join("','")}'` : value;
    case 'singlequote':
      return each((v) => `'${v.replace(/'/g, "\\'")}'`);
    case 'sqlstring':
      return each((v) => `'${v.replace(/'|"/g, (c) => (c === "'" ? "''" : '\\"'))}'`);
    case 'raw':
      return String(value);
    default:
      throw new Error(`${match}: format "${format}" is not one this dashboard should use`);
  }
}

type Macro = (context: QueryContext, args: string[]) => string;

const seconds = (time: Date): number => Math.floor(time.getTime() / 1000);
const dateTime = (time: Date): string => `toDateTime(${seconds(time)})`;
const dateTime64 = (time: Date): string => `fromUnixTimestamp64Milli(${time.getTime()})`;
const intervalSeconds = (context: QueryContext): number => Math.trunc(Math.max(context.intervalMs / 1000, 1));

/** pkg/macros of the plugin: the macros that every 4.x release since 4.0.3 expands the same way. */
const MACROS: Record<string, { args: number; expand: Macro }> = {
  timeFilter: { args: 1, expand: (c, [col]) => `${col} >= ${dateTime(c.from)} AND ${col} <= ${dateTime(c.to)}` },
  timeFilter_ms: { args: 1, expand: (c, [col]) => `${col} >= ${dateTime64(c.from)} AND ${col} <= ${dateTime64(c.to)}` },
  fromTime: { args: 0, expand: (c) => dateTime(c.from) },
  toTime: { args: 0, expand: (c) => dateTime(c.to) },
  fromTime_ms: { args: 0, expand: (c) => dateTime64(c.from) },
  toTime_ms: { args: 0, expand: (c) => dateTime64(c.to) },
  timeInterval: { args: 1, expand: (c, [col]) => `toStartOfInterval(toDateTime(${col}), INTERVAL ${intervalSeconds(c)} second)` },
  timeInterval_ms: {
    args: 1,
    expand: (c, [col]) => `toStartOfInterval(toDateTime64(${col}, 3), INTERVAL ${Math.trunc(Math.max(c.intervalMs, 1))} millisecond)`,
  },
  interval_s: { args: 0, expand: (c) => String(intervalSeconds(c)) },
};

/** The names `expandMacros` knows, for the dashboard's structural checks. */
export const KNOWN_MACROS: readonly string[] = ['conditionalAll', ...Object.keys(MACROS)];

/** The backend's macro pass. */
export function expandMacros(sql: string, context: QueryContext): string {
  let out = '';
  let rest = sql;
  for (let m = /\$__(\w+)/.exec(rest); m !== null; m = /\$__(\w+)/.exec(rest)) {
    const name = m[1]!;
    const macro = MACROS[name];
    if (macro === undefined) throw new Error(`unknown macro $__${name} in:\n${sql}`);
    out += rest.slice(0, m.index);
    rest = rest.slice(m.index + m[0].length);
    let args: string[] = [];
    if (macro.args > 0) {
      if (!rest.startsWith('(')) throw new Error(`$__${name} needs (${macro.args} argument) in:\n${sql}`);
      const close = rest.indexOf(')');
      const inside = rest.slice(1, close);
      if (close === -1 || inside.includes('(')) throw new Error(`$__${name}: arguments must be plain column names in:\n${sql}`);
      args = inside.split(',').map((a) => a.trim());
      if (args.length !== macro.args || args.some((a) => !/^[\w.]+$/.test(a))) throw new Error(`$__${name}(${inside}): bad arguments`);
      rest = rest.slice(close + 1);
    }
    out += macro.expand(context, args);
  }
  return out + rest;
}

/**
 * Grafana's data-link interpolation for a table cell: `${__value.raw}` is the cell, and
 * `${__data.fields.<name>}` another field of the same row. Anything else throws.
 */
export function interpolateDataLink(text: string, cell: { value: string; row: Record<string, string> }): string {
  return text.replace(/\$\{([^}]+)\}/g, (match, expression: string) => {
    if (expression === '__value.raw') return cell.value;
    const field = /^__data\.fields\.(\w+)$/.exec(expression)?.[1];
    if (field !== undefined && field in cell.row) return cell.row[field]!;
    throw new Error(`data link variable ${match} is not one a table cell provides`);
  });
}
