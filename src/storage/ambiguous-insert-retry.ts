/** Socket errors after which an insert may or may not have been committed. */
const AMBIGUOUS_ERRNOS = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/** True when the connection broke mid-insert: ClickHouse may have stored the rows or not. */
export function isAmbiguousInsertFailure(error: unknown): boolean {
  for (let cause: unknown = error, depth = 0; cause instanceof Error && depth < 5; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && AMBIGUOUS_ERRNOS.has(code)) return true;
    if (/socket hang up/i.test(cause.message)) return true;
    cause = cause.cause;
  }
  return false;
}

/**
 * Runs `insert(token)` and, when the connection broke mid-way, runs it again with the same
 * token while `budgetMs` lasts: the table's deduplication window stores it once either way,
 * whereas answering the client with an error would make it send the spans again in another
 * batch, under another token, and a committed first attempt would then be stored twice.
 */
export async function insertRetryingAmbiguous(insert: () => Promise<void>, budgetMs = 2_000): Promise<void> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await insert();
      return;
    } catch (error) {
      if (!isAmbiguousInsertFailure(error) || Date.now() - started > budgetMs || attempt >= 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
