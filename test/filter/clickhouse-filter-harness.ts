import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/admin/logger.js';
import { compileFilterToClickHouse } from '../../src/filter/clickhouse-filter-compiler.js';
import type { FilterExpr } from '../../src/filter/filter-ast.js';
import { parseFilter } from '../../src/filter/filter-parser.js';
import { compileFilter } from '../../src/filter/js-filter-compiler.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import { DEFAULT_FIELD_CONVENTIONS, type FieldConventions } from '../../src/scoring/field-conventions.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';

/**
 * Runs filters in both back ends over the same spans: the JS predicate on the SpanRows, the
 * compiled SQL in a real (embedded) ClickHouse over the same rows inserted into otel_traces.
 */

export type Tri = boolean | null;

let spanCounter = 0;

/** A stored span with everything set; `SpanId` is unique per call (16 hex digits), `ParentSpanId` non-empty (not a root). */
export function filterSpan(overrides: Partial<SpanRow> = {}): SpanRow {
  const n = ++spanCounter;
  return {
    Timestamp: '1700000000123456789',
    TraceId: '00000000000000000000000000000000',
    SpanId: n.toString(16).padStart(16, '0'),
    ParentSpanId: 'aaaaaaaaaaaaaaaa',
    TraceState: '',
    SpanName: 'chat gpt-4o',
    SpanKind: 'Client',
    ServiceName: 'checkout',
    ResourceAttributes: { 'service.name': 'checkout' },
    ScopeName: 'openinference',
    ScopeVersion: '1.0',
    SpanAttributes: {},
    Duration: '1500000000',
    StatusCode: 'Error',
    StatusMessage: 'rate limited',
    Events: [],
    Links: [],
    ...overrides,
  };
}

let traceCounter = 0;

/** A fresh trace id (32 hex digits) for one test case's spans. */
export function freshTraceId(): string {
  traceCounter++;
  return `${process.pid.toString(16).padStart(8, '0')}${Date.now().toString(16).padStart(12, '0')}${traceCounter.toString(16).padStart(12, '0')}`;
}

export function jsResults(filter: FilterExpr, spans: readonly SpanRow[], conventions: FieldConventions = DEFAULT_FIELD_CONVENTIONS): Tri[] {
  const compiled = compileFilter(filter, conventions);
  return spans.map((span) => compiled.evaluate(span));
}

/** One query's worth of work: spans already inserted under `traceId`, filters to evaluate over them. */
export interface ClickHouseCase {
  traceId: string;
  spanIds: readonly string[];
  filters: readonly FilterExpr[];
}

export class FilterHarness {
  readonly storage: ClickHouseStorage;
  readonly #dataDir: string;
  queries = 0;

  private constructor(dataDir: string, storage: ClickHouseStorage) {
    this.#dataDir = dataDir;
    this.storage = storage;
  }

  static async open(database: string): Promise<FilterHarness> {
    const dataDir = mkdtempSync(join(tmpdir(), 'spanscore-filter-'));
    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database, logger: silentLogger() });
    await storage.migrate();
    return new FilterHarness(dataDir, storage);
  }

  async close(): Promise<void> {
    await this.storage.close();
    rmSync(this.#dataDir, { recursive: true, force: true });
  }

  async insert(spans: readonly SpanRow[]): Promise<void> {
    await this.storage.insertSpans([...spans]);
  }

  /** Inserts `spans` under a fresh trace id and evaluates one filter (text or tree) in ClickHouse: one result per span, in order. */
  async run(filter: string | FilterExpr, spans: readonly SpanRow[], conventions: FieldConventions = DEFAULT_FIELD_CONVENTIONS): Promise<Tri[]> {
    const traceId = freshTraceId();
    const rows = spans.map((span) => ({ ...span, TraceId: traceId }));
    await this.insert(rows);
    const expr = typeof filter === 'string' ? parseFilter(filter) : filter;
    const [results] = await this.evaluate([{ traceId, spanIds: rows.map((row) => row.SpanId), filters: [expr] }], conventions);
    return results![0]!;
  }

  /**
   * Evaluates many filters over many already inserted span sets, as few queries as ClickHouse's
   * query-size limits allow: every case's filters become columns of one SELECT over the union
   * of the cases' traces. Returns, per case and per filter, one three-valued result per span.
   */
  async evaluate(cases: readonly ClickHouseCase[], conventions: FieldConventions = DEFAULT_FIELD_CONVENTIONS): Promise<Tri[][][]> {
    const compiled = cases.map((c, ci) =>
      c.filters.map((filter, fi) => compileFilterToClickHouse(filter, conventions, { paramPrefix: `c${ci}f${fi}_` })),
    );
    const out: Tri[][][] = cases.map((c) => c.filters.map(() => []));
    // Batches of cases whose SQL stays well under ClickHouse's max_query_size (256 KiB); a batch
    // that still trips a limit (AST size, depth) is split in two and retried.
    const queue: number[][] = [];
    let current: number[] = [];
    let size = 0;
    compiled.forEach((filters, ci) => {
      const caseSize = filters.reduce((total, filter) => total + filter.sql.length + 24, 40);
      if (current.length > 0 && size + caseSize > MAX_BATCH_SQL) {
        queue.push(current);
        current = [];
        size = 0;
      }
      current.push(ci);
      size += caseSize;
    });
    if (current.length > 0) queue.push(current);

    const runBatch = async (batch: number[]): Promise<void> => {
      const columns: string[] = [];
      const params: Record<string, unknown> = {};
      const traces: string[] = [];
      for (const ci of batch) {
        traces.push(`{t${ci}:String}`);
        params[`t${ci}`] = cases[ci]!.traceId;
        compiled[ci]!.forEach((filter, fi) => {
          columns.push(`(${filter.sql}) AS r_${ci}_${fi}`);
          Object.assign(params, filter.params);
        });
      }
      const sql = `SELECT TraceId, SpanId${columns.map((c) => `, ${c}`).join('')} FROM otel_traces WHERE TraceId IN (${traces.join(', ')})`;
      let rows: Record<string, unknown>[];
      try {
        this.queries++;
        rows = await this.storage.query(sql, params);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (batch.length > 1 && /TOO_BIG_AST|Max query size exceeded|TOO_DEEP_AST|TOO_LARGE_STRING_SIZE/.test(message)) {
          const half = Math.ceil(batch.length / 2);
          queue.push(batch.slice(0, half), batch.slice(half));
          return;
        }
        throw error;
      }
      const byTrace = new Map<string, Map<string, Record<string, unknown>>>();
      for (const row of rows) {
        const trace = String(row['TraceId']);
        let spans = byTrace.get(trace);
        if (spans === undefined) byTrace.set(trace, (spans = new Map()));
        spans.set(String(row['SpanId']), row);
      }
      for (const ci of batch) {
        const c = cases[ci]!;
        const spans = byTrace.get(c.traceId) ?? new Map<string, Record<string, unknown>>();
        c.filters.forEach((_, fi) => {
          out[ci]![fi] = c.spanIds.map((spanId) => {
            const row = spans.get(spanId);
            if (row === undefined) throw new Error(`span ${spanId} of trace ${c.traceId} is missing from ClickHouse`);
            return toTri(row[`r_${ci}_${fi}`]);
          });
        });
      }
    };
    // One query at a time: the embedded engine runs them one after the other anyway.
    for (let batch = queue.shift(); batch !== undefined; batch = queue.shift()) await runBatch(batch);
    return out;
  }
}

const MAX_BATCH_SQL = 160_000;

function toTri(value: unknown): Tri {
  if (value === null) return null;
  if (value === 1 || value === '1' || value === true) return true;
  if (value === 0 || value === '0' || value === false) return false;
  throw new Error(`unexpected filter result ${JSON.stringify(value)}`);
}
