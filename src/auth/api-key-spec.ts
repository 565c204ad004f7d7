/** What a key may do. */
export type Permission = 'ingest' | 'read' | 'update';
export const PERMISSIONS: readonly Permission[] = ['ingest', 'read', 'update'];

/** An API key as the config declares it: never the key itself, only its hash. */
export interface ApiKeySpec {
  name: string;
  /** SHA-256 of the key, lower-case hex (64 characters). */
  sha256: string;
  /** Projects it covers; `*` = all. */
  projects: string[];
  permissions: Permission[];
}
