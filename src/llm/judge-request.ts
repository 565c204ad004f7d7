import type { LlmJudgeSpec } from './llm-scorer-spec.js';

/**
 * The one function the judge model may call. Forcing a tool call (rather than parsing free
 * text) makes the model's verdict a JSON field constrained by an enum of the labels.
 */
export const JUDGE_TOOL_NAME = 'select_choice';

/** How much of a bad answer an error message quotes: enough to recognise it, not to flood logs. */
const QUOTE_CHARS = 100;
/** Completion tokens reserved when the judge sets no max_tokens: a paragraph of reasons. */
const DEFAULT_COMPLETION_TOKENS = 512;

/** An OpenAI chat-completions request body asking `model` to judge the rendered `prompt`. */
export function buildJudgeRequest(judge: LlmJudgeSpec, model: string, prompt: string): Record<string, unknown> {
  const labels = Object.keys(judge.choiceScores);
  const body: Record<string, unknown> = {
    model,
    messages: [{ role: 'user', content: `${prompt}\n\n${answerInstruction(judge.useCot, labels)}` }],
    tools: [
      {
        type: 'function',
        function: {
          name: JUDGE_TOOL_NAME,
          description: 'Record your verdict: the single label that fits best.',
          parameters: answerSchema(judge.useCot, labels),
        },
      },
    ],
    tool_choice: { type: 'function', function: { name: JUDGE_TOOL_NAME } },
  };
  if (judge.temperature !== undefined) body.temperature = judge.temperature;
  if (judge.maxTokens !== undefined) body.max_tokens = judge.maxTokens;
  return body;
}

function answerInstruction(useCot: boolean, labels: string[]): string {
  const choices = labels.join(', ');
  if (useCot) {
    return (
      `Give your verdict by calling the \`${JUDGE_TOOL_NAME}\` function. First, in \`reasons\`, work through the evidence ` +
      `step by step and only then reach a conclusion; do not open with the verdict. Then set \`choice\` to exactly one ` +
      `of these labels: ${choices}.`
    );
  }
  return `Give your verdict by calling the \`${JUDGE_TOOL_NAME}\` function with \`choice\` set to exactly one of these labels: ${choices}. Do not explain.`;
}

function answerSchema(useCot: boolean, labels: string[]): Record<string, unknown> {
  const choice = { type: 'string', description: 'The label that fits best.', enum: labels };
  // `reasons` comes first: models fill arguments in schema order, and reasoning written after
  // the choice would only rationalise it.
  const properties: Record<string, unknown> = useCot
    ? { reasons: { type: 'string', description: 'Step-by-step reasoning that leads to the choice.' }, choice }
    : { choice };
  return { type: 'object', properties, required: useCot ? ['reasons', 'choice'] : ['choice'], additionalProperties: false };
}

/**
 * Reads the verdict out of a chat-completions response body. Throws an Error saying what is
 * wrong with the answer; the caller turns it into a `bad_response` failure.
 */
export function parseJudgeAnswer(body: unknown, judge: LlmJudgeSpec): { choice: string; reasons: string } {
  const choices = field(body, 'choices');
  if (!Array.isArray(choices) || choices.length === 0) {
    throw new Error('the judge response has no choices');
  }
  const message = field(choices[0], 'message');
  const toolCalls = field(message, 'tool_calls');
  if (!Array.isArray(toolCalls) || toolCalls.length === 0) {
    const content = field(message, 'content');
    if (typeof content === 'string' && content.trim() !== '') {
      throw new Error(`the judge answered in plain text instead of calling ${JUDGE_TOOL_NAME}: ${quote(content)}`);
    }
    throw new Error(`the judge response has neither a ${JUDGE_TOOL_NAME} call nor any text`);
  }
  const call = field(toolCalls[0], 'function');
  const name = field(call, 'name');
  if (name !== JUDGE_TOOL_NAME) {
    throw new Error(`the judge called ${JSON.stringify(name ?? null)} instead of ${JUDGE_TOOL_NAME}`);
  }

  const args = parseArguments(field(call, 'arguments'));
  const labels = Object.keys(judge.choiceScores);
  const raw = field(args, 'choice');
  // Some models send a numeric label as a number ("1" -> 1); its text still identifies it.
  const said = typeof raw === 'string' || typeof raw === 'number' ? normalizeLabel(String(raw)) : undefined;
  const choice = labels.find((label) => label === said) ?? labels.find((label) => normalizeLabel(label) === said);
  if (choice === undefined) {
    const shown = raw === undefined ? 'no choice' : `the choice ${JSON.stringify(raw)}`;
    throw new Error(`the judge gave ${shown}, which is not one of the labels ${labels.map((l) => JSON.stringify(l)).join(', ')}`);
  }
  const reasons = field(args, 'reasons');
  return { choice, reasons: typeof reasons === 'string' ? reasons : '' };
}

/** Prompt tokens (about four characters each) plus the completion the answer may take. */
export function estimateJudgeTokens(prompt: string, maxTokens?: number): number {
  return Math.ceil(prompt.length / 4) + (maxTokens ?? DEFAULT_COMPLETION_TOKENS);
}

function parseArguments(value: unknown): unknown {
  // The wire format carries arguments as JSON text; a few compatible servers send the object.
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value;
  if (typeof value !== 'string') {
    throw new Error(`the ${JUDGE_TOOL_NAME} call has no arguments`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new Error(`the ${JUDGE_TOOL_NAME} arguments are not JSON: ${quote(value)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`the ${JUDGE_TOOL_NAME} arguments are not a JSON object: ${quote(value)}`);
  }
  return parsed;
}

/** Models sometimes wrap the label in quotes or pad it; neither changes which label they meant. */
function normalizeLabel(text: string): string {
  let current = text.trim();
  for (;;) {
    const next = current.replace(/^(["'`])(.*)\1$/s, '$2').trim();
    if (next === current) return current;
    current = next;
  }
}

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
}

function quote(text: string): string {
  return JSON.stringify(text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)}…` : text);
}
