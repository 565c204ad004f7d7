import { describe, expect, it } from 'vitest';
import { checkPromptTemplate, renderPrompt, type PromptVariables } from '../../src/llm/prompt-template.js';

function vars(overrides: Partial<PromptVariables> = {}): PromptVariables {
  return { input: undefined, output: undefined, expected: undefined, metadata: {}, span: undefined, trace: undefined, ...overrides };
}

describe('renderPrompt', () => {
  it('prints strings as they are, without HTML escaping', () => {
    const text = renderPrompt('Q: {{input}} A: {{{output}}}', vars({ input: `a < b && "c" 'd'`, output: '<b>x</b>' }));
    expect(text).toBe(`Q: a < b && "c" 'd' A: <b>x</b>`);
  });

  it('prints objects as compact JSON yet navigates dotted paths', () => {
    const metadata = { model: 'gpt-x', tags: ['a', 'b'], nested: { n: 1 } };
    expect(renderPrompt('{{metadata}}', vars({ metadata }))).toBe('{"model":"gpt-x","tags":["a","b"],"nested":{"n":1}}');
    expect(renderPrompt('{{metadata.model}}|{{metadata.nested}}|{{&metadata.tags}}', vars({ metadata }))).toBe('gpt-x|{"n":1}|["a","b"]');
  });

  it('indexes into arrays', () => {
    const input = { messages: [{ role: 'user', content: 'hello <there>' }] };
    expect(renderPrompt('{{input.messages.0.content}}', vars({ input }))).toBe('hello <there>');
  });

  it('prints numbers and booleans as JSON, undefined and null as nothing', () => {
    expect(renderPrompt('[{{output}}][{{expected}}][{{input}}][{{span}}][{{metadata.missing}}]', vars({ output: 0, expected: false, input: null }))).toBe(
      '[0][false][][][]',
    );
  });

  it('renders sections and inverted sections', () => {
    const template = '{{#expected}}ref={{expected}}{{/expected}}{{^expected}}no ref{{/expected}}';
    expect(renderPrompt(template, vars({ expected: 'x' }))).toBe('ref=x');
    expect(renderPrompt(template, vars({ expected: undefined }))).toBe('no ref');
    expect(renderPrompt('{{#metadata.criteria}}- {{.}}\n{{/metadata.criteria}}', vars({ metadata: { criteria: ['a', 'b'] } }))).toBe('- a\n- b\n');
  });

  it('shows the span view', () => {
    const span = { name: 'chat', attributes: { 'gen_ai.request.model': 'm1' } };
    expect(renderPrompt('{{span.name}} {{span.attributes}}', vars({ span }))).toBe('chat {"gen_ai.request.model":"m1"}');
  });

  it('prints the trace and thread text of trace rules, nothing for span rules', () => {
    const template = '{{#thread}}Conversation:\n{{thread}}\n{{/thread}}Trace:\n{{trace}}';
    expect(renderPrompt(template, vars({ trace: 'agent [ok] 1.00s', thread: 'user: <hi>' }))).toBe('Conversation:\nuser: <hi>\nTrace:\nagent [ok] 1.00s');
    // An empty conversation (no chat messages in the trace) drops its section.
    expect(renderPrompt(template, vars({ trace: 'agent [ok] 1.00s', thread: '' }))).toBe('Trace:\nagent [ok] 1.00s');
    expect(renderPrompt(template, vars())).toBe('Trace:\n');
  });

  it('leaves the global mustache escaping alone', async () => {
    renderPrompt('{{input}}', vars({ input: '<x>' }));
    const Mustache = (await import('mustache')).default;
    expect(Mustache.render('{{v}}', { v: '<x>' })).toBe('&lt;x&gt;');
  });
});

describe('checkPromptTemplate', () => {
  it('accepts every known variable, dotted paths and sections', () => {
    expect(
      checkPromptTemplate(
        '{{input}} {{output}} {{expected}} {{metadata.a}} {{span.name}} {{trace}} {{thread}} {{#expected}}{{.}}{{/expected}}{{^expected}}none{{/expected}} {{! a comment }}',
      ),
    ).toEqual([]);
  });

  it('names an unknown variable and the known ones', () => {
    expect(checkPromptTemplate('{{input}} {{ouput}}')).toEqual(['unknown variable "ouput" (known: input, output, expected, metadata, span, trace, thread)']);
    expect(checkPromptTemplate('{{input}} {{{ctx.x}}} {{ctx.y}}')).toEqual(['unknown variable "ctx" (known: input, output, expected, metadata, span, trace, thread)']);
    expect(checkPromptTemplate('{{output}} {{#criteria}}x{{/criteria}}')).toHaveLength(1);
  });

  it('does not hold names inside a section to the known ones', () => {
    expect(checkPromptTemplate('{{#input.messages}}{{role}}: {{content}}{{/input.messages}}')).toEqual([]);
  });

  it('reports mustache syntax errors with their message', () => {
    const [problem, ...rest] = checkPromptTemplate('{{#input}} unclosed');
    expect(rest).toEqual([]);
    expect(problem).toMatch(/^mustache syntax error: .*Unclosed section "input"/);
    expect(checkPromptTemplate('{{output')[0]).toMatch(/^mustache syntax error: .*Unclosed tag/);
    expect(checkPromptTemplate('{{output}}{{/input}}')[0]).toMatch(/^mustache syntax error: .*Unopened section "input"/);
  });

  it('refuses a prompt that mentions none of input, output, trace, thread', () => {
    expect(checkPromptTemplate('Is {{expected}} nice? {{metadata}}')).toEqual([
      'the prompt mentions none of {{input}}, {{output}}, {{trace}}, {{thread}}: the judge would have nothing to judge',
    ]);
    expect(checkPromptTemplate('{{#output}}{{.}}{{/output}}')).toEqual([]);
    // A trace rule's judge may read only the conversation or the transcript.
    expect(checkPromptTemplate('Was the user helped?\n{{thread}}')).toEqual([]);
    expect(checkPromptTemplate('Did the agent loop?\n{{trace}}')).toEqual([]);
  });

  it('refuses partials and a bare {{.}} at the top level', () => {
    expect(checkPromptTemplate('{{output}} {{> header}}')).toEqual(['partials are not supported ({{> header}})']);
    expect(checkPromptTemplate('{{output}} {{.}}')).toEqual(['unknown variable "." (known: input, output, expected, metadata, span, trace, thread)']);
  });
});
