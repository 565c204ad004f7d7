import { describe, expect, it } from 'vitest';
import { buildJudgeRequest, estimateJudgeTokens, JUDGE_TOOL_NAME, parseJudgeAnswer } from '../../src/llm/judge-request.js';
import type { LlmJudgeSpec } from '../../src/llm/llm-scorer-spec.js';
import { checkPromptTemplate, renderPrompt } from '../../src/llm/prompt-template.js';
import { READY_MADE_JUDGES } from '../../src/llm/ready-made-judges.js';

const judge: LlmJudgeSpec = { prompt: 'Is {{output}} right?', choiceScores: { Y: 1, N: 0, maybe: 0.5 }, useCot: true };

interface Body {
  model: string;
  messages: Array<{ role: string; content: string }>;
  tools: Array<{ type: string; function: { name: string; description: string; parameters: { properties: Record<string, { enum?: string[] }>; required: string[] } } }>;
  tool_choice: unknown;
  temperature?: number;
  max_tokens?: number;
}

function answer(args: unknown, name = JUDGE_TOOL_NAME): unknown {
  return { choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name, arguments: args } }] } }] };
}

describe('buildJudgeRequest', () => {
  it('forces a select_choice call with reasons first when useCot', () => {
    const body = buildJudgeRequest(judge, 'judge-model', 'Is 4 right?') as unknown as Body;
    expect(body.model).toBe('judge-model');
    expect(body.messages).toHaveLength(1);
    expect(body.messages[0]!.role).toBe('user');
    expect(body.messages[0]!.content.startsWith('Is 4 right?\n\n')).toBe(true);
    expect(body.messages[0]!.content).toMatch(/step by step/);
    expect(body.messages[0]!.content).toContain('Y, N, maybe');
    expect(body.tool_choice).toEqual({ type: 'function', function: { name: 'select_choice' } });
    expect(body.tools).toHaveLength(1);
    const tool = body.tools[0]!;
    expect(tool.type).toBe('function');
    expect(tool.function.name).toBe('select_choice');
    expect(Object.keys(tool.function.parameters.properties)).toEqual(['reasons', 'choice']);
    expect(tool.function.parameters.required).toEqual(['reasons', 'choice']);
    expect(tool.function.parameters.properties.choice!.enum).toEqual(['Y', 'N', 'maybe']);
    expect(body).not.toHaveProperty('temperature');
    expect(body).not.toHaveProperty('max_tokens');
  });

  it('asks for the choice only without useCot, and passes temperature and max_tokens', () => {
    const body = buildJudgeRequest({ ...judge, useCot: false, temperature: 0, maxTokens: 64 }, 'm', 'p') as unknown as Body;
    expect(body.messages[0]!.content).not.toMatch(/step by step/);
    expect(body.messages[0]!.content).toContain('Y, N, maybe');
    expect(Object.keys(body.tools[0]!.function.parameters.properties)).toEqual(['choice']);
    expect(body.tools[0]!.function.parameters.required).toEqual(['choice']);
    expect(body.temperature).toBe(0);
    expect(body.max_tokens).toBe(64);
  });

  it('is plain JSON', () => {
    const body = buildJudgeRequest(judge, 'm', 'p');
    expect(JSON.parse(JSON.stringify(body))).toEqual(body);
  });
});

describe('parseJudgeAnswer', () => {
  it('reads the choice and reasons from the tool call arguments', () => {
    expect(parseJudgeAnswer(answer(JSON.stringify({ reasons: 'because', choice: 'maybe' })), judge)).toEqual({ choice: 'maybe', reasons: 'because' });
  });

  it('gives empty reasons when there are none', () => {
    expect(parseJudgeAnswer(answer('{"choice":"N"}'), judge)).toEqual({ choice: 'N', reasons: '' });
  });

  it('accepts a choice padded with whitespace or wrapped in quotes', () => {
    for (const said of [' Y ', '"Y"', "'Y'", '`Y`', ' "Y"\n']) {
      expect(parseJudgeAnswer(answer(JSON.stringify({ choice: said })), judge).choice).toBe('Y');
    }
    const numeric: LlmJudgeSpec = { ...judge, choiceScores: { '1': 0, '2': 1 } };
    expect(parseJudgeAnswer(answer('{"choice":2}'), numeric).choice).toBe('2');
  });

  it('refuses a choice outside the labels, naming them', () => {
    expect(() => parseJudgeAnswer(answer('{"choice":"y"}'), judge)).toThrow('the judge gave the choice "y", which is not one of the labels "Y", "N", "maybe"');
    expect(() => parseJudgeAnswer(answer('{"reasons":"r"}'), judge)).toThrow(/gave no choice, which is not one of the labels "Y", "N", "maybe"/);
  });

  it('refuses a response without choices', () => {
    expect(() => parseJudgeAnswer({ choices: [] }, judge)).toThrow('the judge response has no choices');
    expect(() => parseJudgeAnswer({}, judge)).toThrow('no choices');
    expect(() => parseJudgeAnswer('oops', judge)).toThrow('no choices');
  });

  it('refuses a plain text answer, quoting its first 100 characters', () => {
    const text = `Y. ${'x'.repeat(200)}`;
    const body = { choices: [{ message: { role: 'assistant', content: text } }] };
    expect(() => parseJudgeAnswer(body, judge)).toThrow(`the judge answered in plain text instead of calling select_choice: "${text.slice(0, 100)}…"`);
    expect(() => parseJudgeAnswer({ choices: [{ message: { content: '' } }] }, judge)).toThrow('neither a select_choice call nor any text');
  });

  it('refuses a call to another tool', () => {
    expect(() => parseJudgeAnswer(answer('{"choice":"Y"}', 'get_weather'), judge)).toThrow('the judge called "get_weather" instead of select_choice');
  });

  it('refuses arguments that are not JSON', () => {
    expect(() => parseJudgeAnswer(answer('{"choice": Y'), judge)).toThrow('the select_choice arguments are not JSON: "{\\"choice\\": Y"');
    expect(() => parseJudgeAnswer(answer('"Y"'), judge)).toThrow('not a JSON object');
    expect(() => parseJudgeAnswer(answer(undefined), judge)).toThrow('has no arguments');
  });

  it('accepts arguments sent as an object', () => {
    expect(parseJudgeAnswer(answer({ choice: 'Y', reasons: 'r' }), judge)).toEqual({ choice: 'Y', reasons: 'r' });
  });
});

describe('estimateJudgeTokens', () => {
  it('counts four characters a token, rounded up, plus the completion budget', () => {
    expect(estimateJudgeTokens('abcde')).toBe(2 + 512);
    expect(estimateJudgeTokens('abcd', 100)).toBe(1 + 100);
    expect(estimateJudgeTokens('', 0)).toBe(0);
  });
});

describe('READY_MADE_JUDGES', () => {
  it('has the six judges, each under its own name', () => {
    expect(Object.keys(READY_MADE_JUDGES).sort()).toEqual(['closed_qa', 'factuality', 'relevance', 'safety', 'sql', 'summary']);
    for (const [key, judge] of Object.entries(READY_MADE_JUDGES)) expect(judge.name).toBe(key);
    expect(READY_MADE_JUDGES.factuality!.needsExpected).toBe(true);
  });

  it.each(Object.values(READY_MADE_JUDGES))('$name passes checkPromptTemplate and defines every label', (judge) => {
    expect(checkPromptTemplate(judge.prompt)).toEqual([]);
    const labels = Object.keys(judge.choiceScores);
    expect(labels.length).toBeGreaterThanOrEqual(2);
    for (const label of labels) {
      expect(judge.prompt).toContain(`- ${label}:`);
      expect(judge.choiceScores[label]).toBeGreaterThanOrEqual(0);
      expect(judge.choiceScores[label]).toBeLessThanOrEqual(1);
    }
    expect(Math.max(...Object.values(judge.choiceScores))).toBe(1);
    expect(Math.min(...Object.values(judge.choiceScores))).toBe(0);
  });

  it.each(Object.values(READY_MADE_JUDGES))('$name renders without repeating array values', (judge) => {
    const text = renderPrompt(judge.prompt, {
      input: [{ role: 'user', content: 'INPUT-1' }, { role: 'user', content: 'INPUT-2' }],
      output: 'OUTPUT-TEXT',
      expected: ['EXPECTED-1', 'EXPECTED-2'],
      metadata: { criteria: ['CRIT-1', 'CRIT-2'] },
      span: {},
      trace: undefined,
    });
    expect(text.split('INPUT-1')).toHaveLength(2);
    expect(text.split('OUTPUT-TEXT')).toHaveLength(2);
    if (judge.prompt.includes('{{expected}}')) expect(text.split('EXPECTED-2')).toHaveLength(2);
    expect(text).not.toContain('{{');
  });

  it('prints placeholders when the optional values are absent', () => {
    const text = renderPrompt(READY_MADE_JUDGES.closed_qa!.prompt, { input: 'q', output: 'a', expected: undefined, metadata: {}, span: {}, trace: undefined });
    expect(text).toContain('(none given: rely on your own knowledge)');
    expect(text).toContain('(none given: judge correctness only)');
    const withCriteria = renderPrompt(READY_MADE_JUDGES.closed_qa!.prompt, { input: 'q', output: 'a', expected: 'ref', metadata: { criteria: 'be brief' }, span: {}, trace: undefined });
    expect(withCriteria).toContain('<criteria>\nbe brief\n</criteria>');
    expect(withCriteria).toContain('<reference_answer>\nref\n</reference_answer>');
  });

  it('cannot be modified', () => {
    expect(Object.isFrozen(READY_MADE_JUDGES)).toBe(true);
    expect(Object.isFrozen(READY_MADE_JUDGES.safety!.choiceScores)).toBe(true);
  });
});
