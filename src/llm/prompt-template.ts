import Mustache, { type Context, type TemplateToken } from 'mustache';

/**
 * What a judge prompt can mention; the names are the autoevals calling convention plus the span,
 * and for trace rules the trace's transcript and conversation (both prompt text, empty otherwise).
 */
export interface PromptVariables {
  input: unknown;
  output: unknown;
  expected: unknown;
  metadata: Record<string, unknown>;
  span: unknown;
  trace: unknown;
  thread?: unknown;
}

const KNOWN_VARIABLES = ['input', 'output', 'expected', 'metadata', 'span', 'trace', 'thread'] as const;
const KNOWN_SET: ReadonlySet<string> = new Set(KNOWN_VARIABLES);
/** A judge that sees none of these has nothing of the application's traffic to judge. */
const JUDGED_VARIABLES: ReadonlySet<string> = new Set(['input', 'output', 'trace', 'thread']);

/**
 * A writer of our own rather than the module-level one: its value hooks are replaced, and the
 * global `Mustache.escape` stays untouched for anything else in the process that renders.
 */
const writer = new Mustache.Writer();
// Prompts go to a model, not a browser: HTML escaping would only corrupt quotes and `<` in code,
// and `{{x}}` and `{{{x}}}` must agree, so both print the same text.
writer.escapedValue = (token: TemplateToken, context: Context) => valueText(context.lookup(token[1]));
writer.unescapedValue = (token: TemplateToken, context: Context) => valueText(context.lookup(token[1]));

/**
 * Renders a judge prompt. Strings print as they are; any other value prints as compact JSON,
 * so `{{metadata}}` shows the whole object while `{{metadata.model}}` still navigates into it.
 * A missing value, undefined or null prints nothing.
 */
export function renderPrompt(template: string, vars: PromptVariables): string {
  return writer.render(template, vars);
}

/**
 * The reasons to refuse a prompt template at config load (empty = fine). Catching a typo such
 * as `{{ouput}}` here matters: mustache would silently render it empty and the judge would
 * score every span on a prompt missing its subject.
 */
export function checkPromptTemplate(template: string): string[] {
  let tokens: TemplateToken[];
  try {
    tokens = writer.parse(template);
  } catch (error) {
    return [`mustache syntax error: ${error instanceof Error ? error.message : String(error)}`];
  }
  const problems: string[] = [];
  const unknown = new Set<string>();
  let mentionsJudged = false;

  const walk = (list: TemplateToken[], insideSection: boolean): void => {
    for (const token of list) {
      const [type, name] = token;
      if (type === '>') {
        problems.push(`partials are not supported ({{> ${name}}})`);
        continue;
      }
      if (type !== 'name' && type !== '&' && type !== '#' && type !== '^') continue;
      const root = name.split('.')[0] ?? '';
      if (JUDGED_VARIABLES.has(root)) mentionsJudged = true;
      // Inside a section a name may resolve against the section's own value (an item of
      // `{{#input.messages}}`, say), which is unknowable before rendering: only the top level
      // is held to the known names.
      if (!insideSection && !KNOWN_SET.has(root)) unknown.add(name === '.' ? '.' : root);
      if ((type === '#' || type === '^') && Array.isArray(token[4])) walk(token[4] as TemplateToken[], true);
    }
  };
  walk(tokens, false);

  for (const name of unknown) {
    problems.push(`unknown variable "${name}" (known: ${KNOWN_VARIABLES.join(', ')})`);
  }
  if (!mentionsJudged) {
    problems.push('the prompt mentions none of {{input}}, {{output}}, {{trace}}, {{thread}}: the judge would have nothing to judge');
  }
  return problems;
}

function valueText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  try {
    // JSON.stringify returns undefined for functions and symbols; they cannot come from a
    // span, but printing something beats printing nothing if one ever does.
    return JSON.stringify(value) ?? String(value);
  } catch {
    // BigInt and cycles: still show the judge something rather than failing the span.
    return String(value);
  }
}
