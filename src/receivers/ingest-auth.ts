import type { ApiKeySpec } from '../auth/api-key-spec.js';
import type { ApiKeys, AuthFailure } from '../auth/api-keys.js';
import { PROJECT_ATTRIBUTE } from '../pipeline/project.js';
import type { SpanRow } from '../pipeline/span-row.js';

/**
 * The API key checks of an export, shared by both transports. They come in two halves so
 * that most refusals cost nothing: who is asking (and, when the request names its project
 * in a header, for which project) is known before the body is read; the projects of
 * spans that name their own are known only after it is decoded.
 */

/** The key (undefined when auth is disabled), or why the request is refused before its body is read. */
export function admitExport(
  keys: ApiKeys,
  authorization: string | undefined,
  requestProject: string | undefined,
): { ok: true; key: ApiKeySpec | undefined } | AuthFailure {
  const authenticated = keys.authenticate(authorization);
  if (!authenticated.ok) return authenticated;
  const { key } = authenticated;
  // The header project overrides every resource's own, so it is every span's project.
  const authorized =
    requestProject === undefined || requestProject === ''
      ? keys.authorizePermission(key, 'ingest')
      : keys.authorize(key, 'ingest', requestProject);
  return authorized.ok ? authenticated : authorized;
}

/** Refuses the whole request when one of its spans is in a project the key does not cover. */
export function authorizeSpanProjects(keys: ApiKeys, key: ApiKeySpec | undefined, rows: readonly SpanRow[]): { ok: true } | AuthFailure {
  if (key === undefined) return { ok: true };
  // Rows of one resource share their ResourceAttributes object: one check per resource.
  let checked: Record<string, string> | undefined;
  for (const row of rows) {
    if (row.ResourceAttributes === checked) continue;
    checked = row.ResourceAttributes;
    const verdict = keys.authorize(key, 'ingest', row.ResourceAttributes[PROJECT_ATTRIBUTE] ?? row.ServiceName);
    if (!verdict.ok) return verdict;
  }
  return { ok: true };
}
