import { z } from 'zod';
import { durationMs } from './duration.js';

/** Settings of scorers that call an LLM endpoint (native judges and autoevals LLM scorers). */
const llmEndpointKeys = {
  model: z.string().min(1).optional(),
  base_url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  api_key: z.string().optional(),
  max_concurrency: z.number().int().positive().max(1024).optional(),
  rate_limit: z
    .strictObject({
      requests_per_minute: z.number().positive().optional(),
      tokens_per_minute: z.number().positive().optional(),
    })
    .optional(),
  retry: z
    .strictObject({
      max_retries: z.number().int().nonnegative().max(20).default(4),
      initial_backoff: durationMs({ min: 1 }).default(500),
      max_backoff: durationMs({ min: 1 }).default(30_000),
    })
    .optional(),
  /** USD per UTC day. */
  budget: z.number().positive().optional(),
};

/**
 * One entry under `scorers:`. The kind is given by which of `builtin`, `module`, `autoevals`,
 * `judge` / `prompt` is present; keys of other kinds are refused with a message saying so.
 */
export const scorerSchema = z
  .strictObject({
    builtin: z.string().min(1).optional(),
    module: z.string().min(1).optional(),
    export: z.string().min(1).optional(),
    autoevals: z.string().min(1).optional(),
    /** A ready-made judge (`factuality`, ...). */
    judge: z.string().min(1).optional(),
    prompt: z.string().min(1).optional(),
    choice_scores: z.record(z.string().min(1), z.number().min(0).max(1)).optional(),
    use_cot: z.boolean().optional(),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().positive().optional(),
    options: z.record(z.string(), z.unknown()).optional(),
    timeout: durationMs({ min: 1 }).optional(),
    ...llmEndpointKeys,
  })
  .superRefine((value, ctx) => {
    const kinds = [
      value.builtin !== undefined && 'builtin',
      value.module !== undefined && 'module',
      value.autoevals !== undefined && 'autoevals',
      (value.judge !== undefined || value.prompt !== undefined) && 'judge/prompt',
    ].filter(Boolean);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          kinds.length === 0
            ? 'give one of `builtin` (a built-in scorer), `module` (a JS file), `autoevals` (a scorer of the autoevals package), or `judge` / `prompt` (an LLM judge)'
            : `give only one of ${kinds.map((k) => `\`${k}\``).join(', ')}`,
      });
      return;
    }
    const kind = kinds[0];
    const refuse = (keys: readonly (keyof typeof value)[], allowedFor: string) => {
      for (const key of keys) {
        if (value[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `\`${key}\` applies to ${allowedFor} scorers only` });
      }
    };
    const judgeKeys = ['choice_scores', 'use_cot', 'temperature', 'max_tokens'] as const;
    const endpointKeys = ['model', 'base_url', 'api_key', 'max_concurrency', 'rate_limit', 'retry', 'budget'] as const;
    if (kind !== 'module') refuse(['export'], '`module`');
    if (kind !== 'judge/prompt') refuse(judgeKeys, 'LLM judge (`judge` / `prompt`)');
    if (kind === 'builtin' || kind === 'module') refuse(endpointKeys, 'LLM (`judge`, `prompt`, `autoevals`)');
    if (kind === 'judge/prompt' || kind === 'module') refuse(['options'], '`builtin` and `autoevals`');
    if (kind === 'judge/prompt') {
      if (value.prompt !== undefined && value.judge === undefined && value.choice_scores === undefined) {
        ctx.addIssue({ code: 'custom', path: ['choice_scores'], message: 'a `prompt` judge needs `choice_scores` (choice label -> score in 0..1)' });
      }
      if (value.model === undefined) ctx.addIssue({ code: 'custom', path: ['model'], message: 'required: the model the judge asks' });
      if (value.base_url === undefined) {
        ctx.addIssue({ code: 'custom', path: ['base_url'], message: 'required: the OpenAI-compatible endpoint to call (spanscore never picks one itself)' });
      }
    }
    if (kind === 'autoevals' && value.base_url === undefined) {
      for (const key of ['model', 'api_key', 'rate_limit', 'budget'] as const) {
        if (value[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `\`${key}\` needs \`base_url\`: without one this scorer may not call any LLM` });
      }
    }
  });

export type RawScorer = z.output<typeof scorerSchema>;

/** `scoring.llm_prices`: USD per 1M tokens, by model name as configured. */
export const llmPricesSchema = z.record(
  z.string().min(1),
  z.strictObject({ input: z.number().nonnegative(), output: z.number().nonnegative() }),
);
