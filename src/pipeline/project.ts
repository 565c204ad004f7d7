/**
 * Every span belongs to a project: the OTLP request header `x-spanscore-project`, else the
 * resource attribute `spanscore.project`, else `service.name`. The receivers store the result
 * as the resource attribute `spanscore.project` (so `otel_traces` keeps the Collector's
 * columns) and scores carry it in their `Project` column.
 */
export const PROJECT_HEADER = 'x-spanscore-project';
export const PROJECT_ATTRIBUTE = 'spanscore.project';
/**
 * The replica (`service.instance_id`) that received the span, also a resource attribute:
 * a trace rule is decided by the replica that stored the trace's root span.
 */
export const INSTANCE_ATTRIBUTE = 'spanscore.instance';

/** The project of a span, by the documented order. */
export function resolveProject(requestProject: string | undefined, resourceProject: string | undefined, serviceName: string): string {
  if (requestProject !== undefined && requestProject !== '') return requestProject;
  if (resourceProject !== undefined && resourceProject !== '') return resourceProject;
  return serviceName;
}
