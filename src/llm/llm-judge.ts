import type { ScorerArgs } from '../scoring/scorer-args.js';
import { formatThread, formatTranscript } from '../scoring/trace-rules/transcript-text.js';
import { buildJudgeRequest, estimateJudgeTokens, parseJudgeAnswer } from './judge-request.js';
import { LlmCallError } from './llm-call-error.js';
import type { LlmJudgeSpec, LlmRuntimeSpec } from './llm-scorer-spec.js';
import type { LlmTransport } from './llm-transport.js';
import { renderPrompt } from './prompt-template.js';
import type { TokenUsage } from './token-usage.js';

/** One verdict on one span, with what it cost. */
export interface LlmJudgement {
  /** The score the config gives `choice`. */
  score: number;
  choice: string;
  /** Empty when the judge was not asked for reasons (useCot off). */
  reasons: string;
  /** The model requested, which is also the key of the price; not the endpoint's dated alias. */
  model: string;
  usage: TokenUsage | undefined;
  costUsd: number | null;
  /** Requests sent, retries included. */
  attempts: number;
}

/**
 * An LLM-as-a-judge scorer: renders the prompt from a span's fields, asks the model to pick a
 * label through a forced tool call, and maps the label to its score.
 */
export class LlmJudge {
  constructor(
    private readonly spec: LlmJudgeSpec,
    private readonly runtime: LlmRuntimeSpec,
    private readonly transport: LlmTransport,
  ) {}

  /**
   * Throws LlmCallError: the transport's as they are, and `bad_response` for an answer that
   * cannot be read as a verdict. The latter keeps the response's usage, because those tokens
   * were paid for and the budget must count them.
   */
  async judge(args: ScorerArgs, signal?: AbortSignal): Promise<LlmJudgement> {
    const prompt = renderPrompt(this.spec.prompt, {
      input: args.input,
      output: args.output,
      expected: args.expected,
      metadata: args.metadata,
      span: args.span,
      // Text, not the structures: a judge reads a transcript better than a JSON dump of spans,
      // and span rules (no trace) render both empty.
      trace: args.trace && formatTranscript(args.trace),
      thread: args.thread && formatThread(args.thread),
    });
    const body = buildJudgeRequest(this.spec, this.runtime.model, prompt);
    const response = await this.transport.postJson('/chat/completions', body, {
      estimatedTokens: estimateJudgeTokens(prompt, this.spec.maxTokens),
      signal,
    });

    let answer: { choice: string; reasons: string };
    try {
      answer = parseJudgeAnswer(response.body, this.spec);
    } catch (error) {
      throw new LlmCallError({
        failure: 'bad_response',
        message: error instanceof Error ? error.message : String(error),
        status: response.status,
        attempts: response.attempts,
        usage: response.usage,
        cause: error,
      });
    }
    return {
      // parseJudgeAnswer only returns labels of choiceScores, so the lookup cannot miss.
      score: this.spec.choiceScores[answer.choice]!,
      choice: answer.choice,
      reasons: answer.reasons,
      model: this.runtime.model,
      usage: response.usage,
      costUsd: costUsd(this.runtime.price, response.usage),
      attempts: response.attempts,
    };
  }
}

/** USD for `usage` at `price` (per 1M tokens); null when either is unknown, never a guess. */
export function costUsd(price: LlmRuntimeSpec['price'], usage: TokenUsage | undefined): number | null {
  if (price === undefined || usage === undefined) return null;
  return (usage.inputTokens * price.inputPer1M + usage.outputTokens * price.outputPer1M) / 1e6;
}
