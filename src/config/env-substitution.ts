import { isScalar, visit, type Document } from 'yaml';

/** A `${env:...}` reference that could not be resolved, with where it stands. */
export interface EnvSubstitutionProblem {
  path: (string | number)[];
  message: string;
}

const REFERENCE = /\$\$|\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${env:NAME}` and `${env:NAME:-default}` in every string scalar of the parsed
 * document, the way the Collector's env provider does: after parsing, so that a variable's
 * value can never change the YAML structure, and line numbers stay those of the file.
 * `$$` stands for a literal `$`.
 */
export function substituteEnv(
  doc: Document,
  env: NodeJS.ProcessEnv = process.env,
): EnvSubstitutionProblem[] {
  const problems: EnvSubstitutionProblem[] = [];
  visit(doc, {
    Scalar(_key, node, ancestors) {
      if (!isScalar(node) || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const original = node.value;
      node.value = original.replace(REFERENCE, (whole, name: string | undefined, fallback: string | undefined) => {
        if (whole === '$$') return '$';
        const value = env[name!];
        if (value !== undefined && value !== '') return value;
        if (fallback !== undefined) return fallback;
        problems.push({
          path: pathOf(ancestors),
          message: `environment variable ${name} is not set (write \${env:${name}:-default} to give a default)`,
        });
        return '';
      });
    },
  });
  return problems;
}

function pathOf(ancestors: readonly unknown[]): (string | number)[] {
  const path: (string | number)[] = [];
  for (let i = 0; i < ancestors.length; i++) {
    const node = ancestors[i] as { key?: { value?: unknown }; items?: unknown[] };
    const child = ancestors[i + 1];
    if (node && Array.isArray(node.items) && child !== undefined) {
      const index = node.items.indexOf(child);
      // Sequences hold their items directly; maps hold pairs whose key names the step.
      if (index >= 0 && !(child as { key?: unknown }).key) path.push(index);
    }
    if (node && node.key && typeof node.key === 'object' && 'value' in node.key) {
      path.push(String(node.key.value));
    }
  }
  return path;
}
