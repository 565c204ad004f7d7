import { PROJECT_ATTRIBUTE } from '../../pipeline/project.js';
import type { SpanRow } from '../../pipeline/span-row.js';
import type { SpanReader } from '../../storage/span-reader.js';
import type { RequestAuth } from './request-auth.js';
import { spanProject } from './rule-lookup.js';

/** A span's project in SQL, as `spanProject` resolves it: the stored attribute, else the service. */
const PROJECT_SQL = `if(ResourceAttributes[{v_project_key:String}] != '', ResourceAttributes[{v_project_key:String}], ServiceName)`;

/**
 * The stored spans with these ids (within `traceId` when given) in the key's projects, in
 * start order. The others are left out as if they were not stored, so that asking about a
 * span of another project is answered exactly as asking about one that does not exist, status
 * and message alike: a 403 would confirm that it exists. They are left out by the query
 * itself, so that another project's spans with the same ids cannot crowd the key's own out
 * of the row limit either.
 */
export async function readVisibleSpans(
  reader: SpanReader,
  auth: Pick<RequestAuth, 'covers' | 'visibleProjects'>,
  spanIds: readonly string[],
  traceId?: string,
): Promise<SpanRow[]> {
  if (spanIds.length === 0) return [];
  const conditions = ['SpanId IN {v_span_ids:Array(String)}'];
  const params: Record<string, unknown> = { v_span_ids: spanIds };
  if (traceId !== undefined) (conditions.push('TraceId = {v_trace_id:String}'), (params.v_trace_id = traceId));
  const projects = auth.visibleProjects;
  if (projects !== undefined) {
    conditions.push(`${PROJECT_SQL} IN {v_projects:Array(String)}`);
    Object.assign(params, { v_project_key: PROJECT_ATTRIBUTE, v_projects: projects });
  }
  // Room for a span stored twice (a retried insert) and for one id in several traces.
  const spans = await reader.matching({ where: conditions.join(' AND '), params, limit: spanIds.length * 2 });
  return spans.filter((span) => auth.covers(spanProject(span))).sort((a, b) => compareNs(a.Timestamp, b.Timestamp));
}

function compareNs(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
