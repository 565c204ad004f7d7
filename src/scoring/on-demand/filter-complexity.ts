/**
 * ClickHouse's refusals of a statement as too big or too deep to analyse: its syntax tree
 * limits, kept at their defaults on purpose (storage/statement-limits.ts). A compiled filter
 * is nearly all of an on-demand statement, so such a refusal is the filter's: the client's to
 * fix (a 400), not a failure of the daemon. Over HTTP the error carries ClickHouse's code; the
 * embedded engine gives the message alone.
 */
const TOO_COMPLEX_CODES = new Set(['167', '168']); // TOO_DEEP_AST, TOO_BIG_AST
const TOO_COMPLEX_MESSAGE = /AST is too (?:big|deep)|Maximum parse depth/i;

export function isTooComplex(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (typeof code === 'string' && TOO_COMPLEX_CODES.has(code)) || TOO_COMPLEX_MESSAGE.test(error.message);
}

/**
 * Runs a statement holding a compiled filter; a refusal as too complex becomes a RangeError
 * (what the admin API answers with a 400) saying what to change.
 */
export async function refusingTooComplex<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!isTooComplex(error)) throw error;
    const reason = (error as Error).message.trim().replace(/\.$/, '');
    throw new RangeError(
      `the filter is too complex for ClickHouse to run (${reason}): comparisons of one field with many strings (IN lists, = ... OR = ...) ` +
        'cost one set lookup whatever their number, but every comparison of a different field or value type counts',
      { cause: error },
    );
  }
}
