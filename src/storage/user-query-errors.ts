/**
 * Why SQL typed by a user (the admin API's `POST /query`, `spanscore query`) did not run or
 * did not finish. Both are the user's to fix, unlike storage being down: the API answers them
 * with 400, the CLI with exit code 1.
 */

/** The query guard refused the statement; the message names what is not allowed. */
export class QueryRefusedError extends Error {
  override readonly name = 'QueryRefusedError';
}

/** The statement ran into one of the `admin.query` limits (result size, execution time). */
export class QueryLimitError extends Error {
  override readonly name = 'QueryLimitError';
}
