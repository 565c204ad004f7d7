import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LlmCallError } from '../llm/llm-call-error.js';
import type { LlmTransport } from '../llm/llm-transport.js';
import type { TokenUsage } from '../llm/token-usage.js';
import type { MainThreadScorerSpec } from './rule-spec.js';
import type { ScorerArgs } from './scorer-args.js';

type AutoevalsSpec = Extract<MainThreadScorerSpec, { kind: 'autoevals' }>;
type AutoevalsFunction = (args: Record<string, unknown>) => unknown;
type OpenAiConstructor = new (options: Record<string, unknown>) => unknown;

/** What one call of an autoevals scorer returned, plus what its HTTP calls cost. */
export interface AutoevalsResult {
  value: unknown;
  usage: TokenUsage | undefined;
  /** The transport's failure, when a request failed (the scorer then threw). */
  callError: LlmCallError | undefined;
}

/** The package or the scorer cannot be used; the message says what to do. */
export class AutoevalsUnavailableError extends Error {
  override readonly name = 'AutoevalsUnavailableError';
}

/**
 * A scorer of the user's `autoevals` package (`autoevals: Factuality`). Its OpenAI client is
 * always ours: pointed at the configured `base_url`, with spanscore's transport as `fetch`
 * (limits, retries, host guard, token accounting) and the SDK's own retries off. autoevals
 * would otherwise fall back to a vendor gateway when no base URL is set; here a scorer with no
 * `base_url` gets a client whose every request is refused.
 */
export class AutoevalsScorer {
  private constructor(
    readonly spec: AutoevalsSpec,
    private readonly fn: AutoevalsFunction,
    private readonly OpenAI: OpenAiConstructor,
  ) {}

  /**
   * Imports `autoevals` (and its `openai`) as the user installed them: next to the config file
   * first, then next to spanscore. Throws AutoevalsUnavailableError when either is missing or
   * the name is not an exported scorer.
   */
  static async load(spec: AutoevalsSpec, resolveFrom: readonly string[]): Promise<AutoevalsScorer> {
    const entry = resolvePackage('autoevals', resolveFrom);
    if (entry === undefined) {
      throw new AutoevalsUnavailableError(
        `scorer "${spec.name}" uses autoevals, but the package is not installed (looked from ${resolveFrom.join(', ')}); install it with \`npm install autoevals@0.3.0\``,
      );
    }
    const openaiEntry = resolvePackage('openai', [entry]);
    if (openaiEntry === undefined) throw new AutoevalsUnavailableError(`scorer "${spec.name}": autoevals is installed but its dependency \`openai\` is not`);
    const autoevals = exportsOf(await import(pathToFileURL(entry).href));
    const fn = autoevals[spec.autoevals];
    if (typeof fn !== 'function') {
      const known = Object.keys(autoevals).filter((name) => /^[A-Z]/.test(name) && typeof autoevals[name] === 'function');
      throw new AutoevalsUnavailableError(`autoevals has no scorer "${spec.autoevals}" (scorers it exports: ${known.sort().join(', ')})`);
    }
    const openai = exportsOf(await import(pathToFileURL(openaiEntry).href));
    const OpenAI = (openai['OpenAI'] ?? openai['default']) as OpenAiConstructor | undefined;
    if (typeof OpenAI !== 'function') throw new AutoevalsUnavailableError(`scorer "${spec.name}": the installed \`openai\` package exports no OpenAI client`);
    return new AutoevalsScorer(spec, fn as AutoevalsFunction, OpenAI);
  }

  async score(args: ScorerArgs, transport: LlmTransport | undefined): Promise<AutoevalsResult> {
    const runtime = this.spec.runtime;
    let usage: TokenUsage | undefined;
    let callError: LlmCallError | undefined;
    let refused: Error | undefined;
    const fetch = transport
      ? transport.createFetch((outcome) => {
          if (outcome.usage) {
            usage = {
              inputTokens: (usage?.inputTokens ?? 0) + outcome.usage.inputTokens,
              outputTokens: (usage?.outputTokens ?? 0) + outcome.usage.outputTokens,
            };
          }
          if (outcome.error) callError = outcome.error;
        })
      : refuseEveryRequest(this.spec.name, (error) => (refused = error));
    const client = new this.OpenAI({
      apiKey: runtime?.apiKey || 'not-used',
      baseURL: runtime?.baseUrl ?? 'http://127.0.0.1:9/refused',
      fetch,
      maxRetries: 0,
      timeout: this.spec.timeoutMs,
    });
    const callArgs: Record<string, unknown> = {
      ...this.spec.options,
      input: args.input,
      output: args.output,
      expected: args.expected,
      metadata: args.metadata,
      client,
      ...(runtime?.model ? { model: runtime.model } : {}),
    };
    try {
      const value = await this.fn(callArgs);
      return { value, usage, callError };
    } catch (error) {
      // Our own errors explain more than the SDK's "Connection error." wrapped around them.
      if (callError !== undefined) throw callError;
      if (refused !== undefined) throw refused;
      throw error;
    }
  }
}

function resolvePackage(name: string, from: readonly string[]): string | undefined {
  for (const base of from) {
    try {
      // createRequire wants a file; a name inside the directory works whether or not it exists.
      const anchor = base.endsWith('.js') || base.endsWith('.mjs') ? base : join(base, 'noop.js');
      return createRequire(anchor).resolve(name);
    } catch {
      // not installed there; try the next place
    }
  }
  return undefined;
}

/** Named exports of an ES module, or of a CommonJS one seen through `import()`. */
function exportsOf(module: Record<string, unknown>): Record<string, unknown> {
  const fallback = module['default'];
  return typeof fallback === 'object' && fallback !== null ? { ...(fallback as Record<string, unknown>), ...module } : module;
}

function refuseEveryRequest(scorer: string, onRefused: (error: Error) => void): typeof fetch {
  return (input) => {
    const url = input instanceof Request ? input.url : String(input);
    const error = new Error(`scorer "${scorer}" has no base_url, so it may not call any LLM (refused a request to ${url})`);
    onRefused(error);
    return Promise.reject(error);
  };
}
