/**
 * The database's schema does not fit the config (tables missing with `create_schema: false`,
 * a table of the wrong kind for the cluster mode). Not retried: only an operator can fix it.
 */
export class SchemaError extends Error {
  override readonly name = 'SchemaError';
}
