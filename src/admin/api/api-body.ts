import type { IncomingMessage } from 'node:http';
import { ApiError } from './api-error.js';

/** Larger bodies get 413: every request body is a small JSON document (ids, a rule, a query). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The request body as parsed JSON; an empty body is `{}`, so a client that sent nothing is
 * told which fields are missing rather than that its JSON is broken. The limit is checked on
 * the declared length first and on the bytes actually read, so a lying Content-Length does not
 * get past it.
 */
export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ApiError(400, 'INVALID_ARGUMENT', `body: not valid JSON (${(error as Error).message})`, [{ field: 'body', message: 'not valid JSON' }]);
  }
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, 'PAYLOAD_TOO_LARGE', `body: larger than the limit of ${limit} bytes`);
}

/** Query parameters as a plain object for schema validation; a repeated parameter keeps its last value. */
export function queryObject(search: URLSearchParams): Record<string, string> {
  return Object.fromEntries(search.entries());
}
