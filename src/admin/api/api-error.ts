import type { z } from 'zod';
import { formatPath } from '../../config/config-error.js';
import { FilterTypeError } from '../../filter/filter-static-types.js';

export type ApiErrorCode =
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNAVAILABLE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL';

/** One problem with a request field, as `field: message` names it. */
export interface FieldIssue {
  field: string;
  message: string;
}

/**
 * A refusal the API answers as `{error: {code, message}}` with `status`. Handlers throw it
 * wherever they find the problem, so no handler has to thread error results back up.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly issues?: FieldIssue[],
    /** Extra response headers (`Allow` on 405). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  get body(): { error: { code: ApiErrorCode; message: string; issues?: FieldIssue[] } } {
    return { error: { code: this.code, message: this.message, ...(this.issues && { issues: this.issues }) } };
  }
}

export function invalidArgument(field: string, message: string): ApiError {
  return new ApiError(400, 'INVALID_ARGUMENT', `${field}: ${message}`, [{ field, message }]);
}

export function notFound(message: string): ApiError {
  return new ApiError(404, 'NOT_FOUND', message);
}

/** 400 naming every field zod refused, so a client can fix them all at once. */
export function fromZodError(error: z.ZodError, prefix: readonly PropertyKey[] = []): ApiError {
  const issues: FieldIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ field: formatPath([...prefix, ...issue.path, key]), message: 'unknown field' });
    } else {
      const field = formatPath([...prefix, ...issue.path]);
      issues.push({ field: field === '' ? 'body' : field, message: issue.message });
    }
  }
  return new ApiError(400, 'INVALID_ARGUMENT', issues.map((i) => `${i.field}: ${i.message}`).join('; '), issues);
}

/** Parses with the schema or throws the 400 naming the fields. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, prefix: readonly PropertyKey[] = []): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, prefix);
  return parsed.data;
}

/**
 * Runs an on-demand scoring call, turning its argument errors (RangeError: a limit or range it
 * refuses; FilterTypeError: a filter ClickHouse cannot run) into 400s; anything else is ours.
 */
export async function refusingBadArguments<T>(field: string, run: () => Promise<T> | T): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof RangeError || error instanceof FilterTypeError) throw new ApiError(400, 'INVALID_ARGUMENT', `${field}: ${error.message}`, [{ field, message: error.message }]);
    throw error;
  }
}
