import type { ApiKeySpec, Permission } from '../../auth/api-key-spec.js';
import type { ApiKeys, AuthFailure } from '../../auth/api-keys.js';
import { ApiError } from './api-error.js';

/**
 * Who sent a request, and the checks handlers make as they learn what it touches. The
 * permission is checked before anything is read (`need`), the projects once the rule or span
 * is known (`needProject`); both throw the 403 with the ApiKeys message.
 */
export class RequestAuth {
  private constructor(
    private readonly keys: ApiKeys,
    /** undefined when no keys are configured (everything is allowed, loopback only). */
    readonly key: ApiKeySpec | undefined,
  ) {}

  /** Throws 401 when the Authorization header does not name a configured key. */
  static authenticate(keys: ApiKeys, authorization: string | undefined): RequestAuth {
    const result = keys.authenticate(authorization);
    if (!result.ok) throw refusal(result);
    return new RequestAuth(keys, result.key);
  }

  need(permission: Permission): void {
    const result = this.keys.authorizePermission(this.key, permission);
    if (!result.ok) throw refusal(result);
  }

  /** `project` is a span's or rule's project; '*' for a rule without one (needs a key for all projects). */
  needProject(permission: Permission, project: string): void {
    const result = this.keys.authorize(this.key, permission, project);
    if (!result.ok) throw refusal(result);
  }

  covers(project: string): boolean {
    return this.keys.covers(this.key, project);
  }

  /** The projects whose data this key may see; undefined = all of them. */
  get visibleProjects(): string[] | undefined {
    if (this.key === undefined || this.key.projects.includes('*')) return undefined;
    return this.key.projects;
  }
}

function refusal(failure: AuthFailure): ApiError {
  return new ApiError(failure.status, failure.grpcCode, failure.message, undefined, failure.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : undefined);
}
