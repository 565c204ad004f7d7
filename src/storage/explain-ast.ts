import { QueryRefusedError } from './user-query-errors.js';

/** One node of ClickHouse's syntax tree as `EXPLAIN AST` prints it. */
export interface AstNode {
  /** `SelectQuery`, `TableIdentifier`, `Function`, ... */
  kind: string;
  /** The rest of the line without `(children N)`: a name, a literal, `(alias x)`. */
  detail: string;
  children: AstNode[];
  parent: AstNode | undefined;
}

/** `  Function plus (alias x) (children 1)`: indent, kind, detail. */
const NODE_LINE = /^( *)([A-Za-z][A-Za-z0-9_]*(?:::[A-Za-z][A-Za-z0-9_]*)?)(?: (.*))?$/;
const CHILD_COUNT = / ?\(children (\d+)\)$/;
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * The tree of `EXPLAIN AST` output, one row per line (one space of indent per level).
 *
 * ClickHouse prints names raw: an identifier or alias holding a line break splits its node's
 * line into several, and what follows the break can look like any node at any depth. So the
 * tree is read strictly, and any output that is not exactly a tree is refused:
 * - every line is `indent kind [detail] [(children N)]`, with no control characters;
 * - there is one root, and every line is at most one level deeper than the one before;
 * - every node has exactly the children it declares (none when it declares none).
 * A forged line shifts some real node's child count (real counts cannot be forged) unless
 * all forged lines hang below the node whose name carries them. Those can only add nodes,
 * never hide or move a real one: a real node's parent is still the real line before it.
 * The guard's checks rely on that: they look at a node, its parent and grandparent kinds,
 * never at a sibling position under a node that has a name.
 *
 * @throws QueryRefusedError when the output is not such a tree.
 */
export function readExplainAst(rows: readonly string[]): AstNode {
  const open: AstNode[] = [];
  const declared = new Map<AstNode, number>();
  let root: AstNode | undefined;
  for (const row of rows) {
    if (CONTROL_CHARACTERS.test(row)) throw unreadable();
    const count = CHILD_COUNT.exec(row);
    const line = NODE_LINE.exec(count === null ? row : row.slice(0, count.index));
    if (line === null) throw unreadable();
    const depth = line[1]!.length;
    if (depth > open.length || (depth === 0 && root !== undefined)) throw unreadable();
    const parent = depth === 0 ? undefined : open[depth - 1];
    const node: AstNode = { kind: line[2]!, detail: line[3] ?? '', children: [], parent };
    if (parent === undefined) root = node;
    else parent.children.push(node);
    open.length = depth;
    open.push(node);
    declared.set(node, count === null ? 0 : Number(count[1]));
  }
  if (root === undefined) throw unreadable();
  for (const [node, children] of declared) {
    if (node.children.length !== children) throw unreadable();
  }
  return root;
}

function unreadable(): QueryRefusedError {
  return new QueryRefusedError('names (identifiers, aliases) with line breaks or control characters are not allowed');
}
