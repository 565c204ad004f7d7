/** A running daemon's admin endpoint, as the e2e tests read it: SQL through the API, counters from /metrics. */

/** POST /api/v1/query; the status and body are returned as they are, for tests of refusals. */
export async function querySql<T>(admin: string, statement: string): Promise<{ status: number; rows: T[]; body: unknown }> {
  const response = await fetch(`http://${admin}/api/v1/query`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ sql: statement }),
  });
  const body = (await response.json()) as { rows: T[]; truncated?: boolean };
  return { status: response.status, rows: body.rows, body };
}

/** The rows of a query that must succeed, and not be truncated. */
export async function sql<T>(admin: string, statement: string): Promise<T[]> {
  const { status, rows, body } = await querySql<T>(admin, statement);
  if (status !== 200) throw new Error(`query failed (${status}): ${JSON.stringify(body)}`);
  if ((body as { truncated?: boolean }).truncated) throw new Error('query result truncated');
  return rows;
}

export async function metricsText(admin: string): Promise<string> {
  return (await fetch(`http://${admin}/metrics`)).text();
}

/** Sum of a metric's samples whose labels include all of `labels` (Prometheus text format). */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
