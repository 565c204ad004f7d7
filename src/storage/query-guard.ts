import { readExplainAst, type AstNode } from './explain-ast.js';
import { QueryRefusedError } from './user-query-errors.js';

/** Runs one statement on a read-only connection and returns its rows as arrays (JSONCompactEachRow). */
export type RowsRunner = (statement: string, params?: Record<string, unknown>) => Promise<unknown[][]>;

const FORMAT_STATEMENT = 'SELECT formatQuerySingleLine({sql:String})';

/** ClickHouse's READONLY error: a setting changed under `readonly = 1`. */
const READONLY_ERROR_CODE = '164';

/**
 * Decides whether SQL typed by a user may run, by ClickHouse's own parser rather than by
 * matching text (comments nest, quoting has many forms, and a parser of ours would disagree
 * with ClickHouse's somewhere). What may run: exactly one SELECT (WITH, UNION, INTERSECT,
 * EXCEPT, subqueries, joins) reading only tables of `database`, with no SETTINGS anywhere, no
 * INTO OUTFILE, no FORMAT, no table function at all (file, url, remote, s3, numbers: an
 * allowlist would have to follow every release's new ones), and no function that reaches
 * outside the query (files, dictionaries, other tables, AI providers, writes).
 *
 * Two statements, neither of which runs the user's SQL:
 * 1. `formatQuerySingleLine({sql:String})` gets the SQL as a query parameter, never as SQL
 *    text, and parses it as one statement: several statements, or text after the statement,
 *    are a syntax error. The embedded engine runs every statement of a text it is given, so
 *    the user's text must never be spliced into a statement unparsed.
 * 2. `EXPLAIN AST <that canonical text>` prints the syntax tree, which explain-ast.ts reads.
 *    The canonical text parses completely as the explained statement, so nothing is left
 *    over to become the EXPLAIN's own INTO OUTFILE (which the embedded engine would honour).
 *
 * @returns the canonical text: what was checked is what runs.
 * @throws QueryRefusedError naming what is not allowed; ClickHouse's errors for bad SQL.
 */
export async function guardQuery(sql: string, database: string, run: RowsRunner): Promise<string> {
  const [first] = await run(FORMAT_STATEMENT, { sql }).catch((error: unknown) => {
    throw withoutOwnScope(error);
  });
  const canonical = first?.[0];
  if (typeof canonical !== 'string') throw new Error('formatQuerySingleLine returned no text');
  let rows: unknown[][];
  try {
    rows = await run(`EXPLAIN AST ${canonical}`);
  } catch (error) {
    // EXPLAIN applies the explained statement's SETTINGS (and a SET statement's), which the
    // read-only connection refuses before printing anything.
    if ((error as { code?: unknown }).code === READONLY_ERROR_CODE) {
      throw statementKeyword(canonical) === 'SET' ? notASelect(canonical) : new QueryRefusedError('SETTINGS clauses are not allowed');
    }
    throw error;
  }
  const root = readExplainAst(rows.map((row) => String(row[0])));
  if (root.kind !== 'SelectWithUnionQuery') throw notASelect(canonical);
  const pending = [root];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    checkNode(node, database);
    pending.push(...node.children);
  }
  return canonical;
}

/** Nodes a SELECT is made of that need no check of their own (their children are checked). */
const STRUCTURE = new Set([
  'SelectIntersectExceptQuery',
  'SelectQuery',
  'ExpressionList',
  'TablesInSelectQuery',
  'TablesInSelectQueryElement',
  'TableExpression',
  'TableJoin',
  'ArrayJoin',
  'Subquery',
  'WithElement',
  'OrderByElement',
  'InterpolateElement',
  'WindowListElement',
  'WindowDefinition',
  'SampleRatio',
  'Literal',
  'Asterisk',
  'QualifiedAsterisk',
  'ColumnsRegexpMatcher',
  'ColumnsListMatcher',
  'QualifiedColumnsRegexpMatcher',
  'QualifiedColumnsListMatcher',
  'ColumnsTransformerList',
  'ColumnsExceptTransformer',
  'ColumnsReplaceTransformer',
  'ColumnsReplaceTransformer::Replacement',
]);

/** `x IN t` reads table t: the functions `IN` and its variants parse to. */
const IN_FUNCTIONS = new Set(['in', 'notin', 'globalin', 'globalnotin', 'nullin', 'notnullin', 'globalnullin', 'globalnotnullin']);

/**
 * Functions that read or write outside the query's tables, lower-cased: files, other tables,
 * ML models, Keeper, the server log, the server's configuration. Whole families by prefix:
 * `dict*` (dictionaries: other databases, external sources) and `ai*` (calls to AI providers).
 */
const OUTSIDE_FUNCTIONS = new Set(['file', 'joinget', 'joingetornull', 'hascolumnintable', 'catboostevaluate', 'generateserialid', 'logtrace', 'getserversetting', 'showcertificate']);
const OUTSIDE_PREFIXES = ['dict', 'ai'];

function checkNode(node: AstNode, database: string): void {
  switch (node.kind) {
    case 'SelectWithUnionQuery':
      return checkOutputOptions(node);
    case 'Set':
      throw new QueryRefusedError('SETTINGS clauses are not allowed');
    case 'TableIdentifier':
      return checkTable(nameOf(node), database);
    case 'Identifier':
      if (readsTable(node)) checkTable(nameOf(node), database);
      return;
    case 'Function':
      return checkFunction(node);
    case 'ColumnsApplyTransformer':
      // EXPLAIN AST does not print which function APPLY calls, so it cannot be checked.
      throw new QueryRefusedError('APPLY is not allowed');
    default:
      if (!STRUCTURE.has(node.kind)) throw new QueryRefusedError(`${node.kind} is not supported by the query endpoint`);
  }
}

/**
 * A SelectWithUnionQuery's first child is its list of SELECTs; INTO OUTFILE (a file name
 * literal), FORMAT (an identifier) and SETTINGS follow it. The node has no name of its own,
 * so positions among its children are real (see explain-ast.ts).
 */
function checkOutputOptions(node: AstNode): void {
  const [selects, ...options] = node.children;
  if (selects?.kind !== 'ExpressionList') throw new QueryRefusedError('only a single SELECT may run');
  for (const option of options) {
    if (option.kind === 'Literal') throw new QueryRefusedError('INTO OUTFILE is not allowed');
    if (option.kind === 'Identifier') throw new QueryRefusedError('FORMAT is not allowed: rows come back as JSON');
    if (option.kind === 'Set') throw new QueryRefusedError('SETTINGS clauses are not allowed');
    throw new QueryRefusedError(`${option.kind} after the SELECT is not allowed`);
  }
}

function checkFunction(node: AstNode): void {
  const name = nameOf(node);
  if (node.parent?.kind === 'TableExpression') throw new QueryRefusedError(`table function ${name}() is not allowed: read the tables of the database instead`);
  const lower = name.toLowerCase();
  if (OUTSIDE_FUNCTIONS.has(lower) || OUTSIDE_PREFIXES.some((prefix) => lower.startsWith(prefix))) {
    throw new QueryRefusedError(`function ${name}() is not allowed: it reaches outside the database's tables`);
  }
}

/**
 * An identifier naming a table rather than a column: directly in FROM, or the right-hand
 * side of IN (`x IN t`). The argument list has no name, so its positions are real; the IN
 * function itself may carry an alias, so every argument list under it is looked at.
 */
function readsTable(node: AstNode): boolean {
  const parent = node.parent;
  if (parent?.kind === 'TableExpression') return true;
  const fn = parent?.parent;
  return parent?.kind === 'ExpressionList' && fn?.kind === 'Function' && IN_FUNCTIONS.has(nameOf(fn).toLowerCase()) && parent.children.indexOf(node) > 0;
}

const PLAIN_TABLE_NAME = /^([A-Za-z0-9_]+)(?:\.([A-Za-z0-9_]+))?$/;

/**
 * Unqualified names resolve to `database` (the connection's current database); qualified
 * ones must name it. EXPLAIN AST joins a name's parts with dots, so `a.b` could be table b of
 * database a or one table named "a.b": only plain parts are accepted, which leaves no doubt
 * about which database a name can reach.
 */
function checkTable(name: string, database: string): void {
  const parts = PLAIN_TABLE_NAME.exec(name);
  if (parts === null) throw new QueryRefusedError(`table names must be plain (letters, digits, _): ${name}`);
  if (parts[2] !== undefined && parts[1] !== database) throw new QueryRefusedError(`only tables of database ${database} may be read: ${name}`);
}

/** The name a node's detail starts with: `system.users (alias u)` → `system.users`. */
function nameOf(node: AstNode): string {
  const alias = node.detail.indexOf(' (alias ');
  return alias === -1 ? node.detail : node.detail.slice(0, alias);
}

function notASelect(canonical: string): QueryRefusedError {
  const keyword = statementKeyword(canonical);
  const rule = 'only a single SELECT may run (the query endpoint is read-only)';
  return new QueryRefusedError(keyword === 'SELECT' || keyword === 'WITH' ? rule : `${keyword} is not allowed: ${rule}`);
}

/** The statement's first keyword, for messages only (the decision is the syntax tree's). */
function statementKeyword(canonical: string): string {
  return /^[A-Za-z]+/.exec(canonical)?.[0]?.toUpperCase() ?? 'the statement';
}

/**
 * ClickHouse ends a syntax error in the user's SQL with `: In scope SELECT
 * formatQuerySingleLine('<the SQL again>').`: the guard's statement, which means nothing to
 * the user and repeats what they sent.
 */
function withoutOwnScope(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const scope = error.message.indexOf(': In scope SELECT formatQuerySingleLine(');
  if (scope !== -1) error.message = error.message.slice(0, scope);
  return error;
}
