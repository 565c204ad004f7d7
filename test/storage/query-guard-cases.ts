/**
 * SQL for the query endpoint's guard, shared by the storage tests (both engines) and the
 * admin API tests (both engines, through the daemon): what must be refused, with what the
 * refusal must say, and what must still work. Every statement is about spanscore's own
 * database `spanscore` with its tables `otel_traces` and `scores`; the scored span's name
 * sorts first.
 */

export interface RefusedCase {
  sql: string;
  /** The refusal names what is not allowed. */
  message: RegExp;
}

/** `outfile`: a path that must not exist afterwards (INTO OUTFILE is the embedded engine's one write under readonly). */
export function refusedCases(outfile: string): RefusedCase[] {
  const outfileQuoted = `'${outfile}'`;
  return [
    // Settings overridden inside the query: changed values, unchanged ones, in a subquery, by SET.
    { sql: "SELECT getSetting('readonly') AS r SETTINGS readonly = 0", message: /SETTINGS clauses are not allowed/ },
    { sql: 'SELECT 1 AS one SETTINGS readonly = 1', message: /SETTINGS clauses are not allowed/ },
    { sql: 'SELECT * FROM (SELECT count() AS n FROM otel_traces SETTINGS max_result_rows = 0)', message: /SETTINGS clauses are not allowed/ },
    { sql: 'SELECT count() AS n FROM otel_traces SETTINGS max_execution_time = 0, max_result_bytes = 0', message: /SETTINGS clauses are not allowed/ },
    { sql: 'SET readonly = 0', message: /SET is not allowed: only a single SELECT may run \(the query endpoint is read-only\)/ },
    // Files, other hosts, other tables through table functions, and scalar functions that reach out.
    { sql: "SELECT * FROM file('/etc/hostname', 'LineAsString')", message: /table function file\(\) is not allowed/ },
    { sql: "SELECT file('/etc/hostname') AS f", message: /function file\(\) is not allowed/ },
    { sql: "SELECT length(arrayJoin([file('/etc/passwd')])) AS n", message: /function file\(\) is not allowed/ },
    { sql: "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')", message: /table function url\(\) is not allowed/ },
    { sql: "SELECT * FROM remote('127.0.0.1', system.users)", message: /table function remote\(\) is not allowed/ },
    { sql: "SELECT * FROM s3('http://127.0.0.1:9/bucket/x.csv')", message: /table function s3\(\) is not allowed/ },
    { sql: 'SELECT * FROM numbers(10)', message: /table function numbers\(\) is not allowed/ },
    { sql: "SELECT * FROM merge('system', '^users$')", message: /table function merge\(\) is not allowed/ },
    { sql: 'SELECT * FROM (EXPLAIN SELECT 1)', message: /table function viewExplain\(\) is not allowed/ },
    { sql: 'SELECT count() AS n FROM otel_traces AS t JOIN numbers(3) AS n ON 1 = 1', message: /table function numbers\(\) is not allowed/ },
    { sql: "SELECT dictGet('some_dictionary', 'value', toUInt64(1)) AS v", message: /function dictGet\(\) is not allowed/ },
    { sql: "SELECT hasColumnInTable('system', 'users', 'name') AS h", message: /function hasColumnInTable\(\) is not allowed/ },
    { sql: "SELECT aiGenerate('say hi') AS a", message: /function aiGenerate\(\) is not allowed/ },
    { sql: 'SELECT * APPLY(file) FROM (SELECT SpanName FROM otel_traces)', message: /APPLY is not allowed/ },
    // Other databases, however they are spelled and wherever they appear.
    { sql: 'SELECT name FROM system.users', message: /only tables of database spanscore may be read: system\.users/ },
    { sql: 'SELECT query FROM system.processes', message: /only tables of database spanscore may be read: system\.processes/ },
    { sql: 'SELECT * FROM `system`.`users`', message: /only tables of database spanscore may be read: system\.users/ },
    { sql: 'SELECT * FROM "system"."processes"', message: /only tables of database spanscore may be read: system\.processes/ },
    { sql: 'SELECT * FROM information_schema.tables', message: /only tables of database spanscore may be read: information_schema\.tables/ },
    { sql: 'SELECT * FROM INFORMATION_SCHEMA.TABLES', message: /only tables of database spanscore may be read: INFORMATION_SCHEMA\.TABLES/ },
    { sql: 'SELECT * FROM other_database.otel_traces', message: /only tables of database spanscore may be read: other_database\.otel_traces/ },
    { sql: 'SELECT count() AS n FROM otel_traces AS t JOIN system.users AS u ON 1 = 1', message: /only tables of database spanscore may be read: system\.users/ },
    { sql: 'WITH p AS (SELECT * FROM system.processes) SELECT count() AS n FROM p', message: /only tables of database spanscore may be read: system\.processes/ },
    { sql: 'SELECT count() AS n FROM otel_traces UNION ALL SELECT count() FROM system.users', message: /only tables of database spanscore may be read: system\.users/ },
    { sql: "SELECT 'default' IN system.users AS known", message: /only tables of database spanscore may be read: system\.users/ },
    { sql: 'SELECT EXISTS(SELECT 1 FROM system.processes) AS busy', message: /only tables of database spanscore may be read: system\.processes/ },
    { sql: 'SELECT (SELECT count() FROM system.one) AS n', message: /only tables of database spanscore may be read: system\.one/ },
    // Anything but a SELECT.
    { sql: "KILL QUERY WHERE query_id = 'none'", message: /KILL is not allowed: only a single SELECT may run/ },
    { sql: 'DROP TABLE otel_traces', message: /DROP is not allowed: only a single SELECT may run \(the query endpoint is read-only\)/ },
    { sql: "INSERT INTO scores (Rule) VALUES ('x')", message: /INSERT is not allowed/ },
    { sql: 'SHOW TABLES', message: /SHOW is not allowed/ },
    { sql: 'SELECT 1 PARALLEL WITH SELECT 2', message: /(^|sql: )only a single SELECT may run \(the query endpoint is read-only\)$/ },
    { sql: 'SELECT 1; SELECT name FROM system.users', message: /Multi-statements are not allowed/ },
    // Output options, INTO OUTFILE hidden behind comments that ClickHouse nests.
    { sql: `SELECT 1 AS one INTO OUTFILE ${outfileQuoted}`, message: /INTO OUTFILE is not allowed/ },
    { sql: `SELECT 1 AS one /* a /* nested */ INTO OUTFILE 'decoy' */ INTO OUTFILE ${outfileQuoted}`, message: /INTO OUTFILE is not allowed/ },
    // A text scanner that ends a comment at the first `*/` takes `' */ INTO OUTFILE '` for a string.
    { sql: `(SELECT 1 AS one) /* /* */ ' */ INTO OUTFILE ${outfileQuoted} -- '`, message: /INTO OUTFILE is not allowed/ },
    { sql: `SELECT 1 AS one /* /* */ ' */ INTO OUTFILE ${outfileQuoted} -- '`, message: /INTO OUTFILE is not allowed/ },
    { sql: 'SELECT 1 AS one FORMAT TSV', message: /FORMAT is not allowed/ },
    // Line breaks in names would let a name forge lines of EXPLAIN AST's output.
    { sql: 'SELECT 1 AS `a\nb`', message: /line breaks/ },
    {
      sql: "SELECT ('default' IN system.users) AS `x) (children 2)\n     ExpressionList (children 2)\n      Literal 'a'\n      Literal 'b'`",
      message: /line breaks|system\.users/,
    },
    { sql: 'SELECT count() AS n FROM `system\n      TableIdentifier otel_traces`.users', message: /line breaks/ },
  ];
}

export interface AllowedCase {
  sql: string;
  rows: Record<string, unknown>[];
}

/** What is stored: spans (one trace), and the score of the one span named `scoredSpan`. */
export interface GuardFixture {
  spans: number;
  scoredSpan: string;
  score: number;
}

/** SELECTs of spanscore's tables, and the rows they return given `fixture`. */
export function allowedCases(fixture: GuardFixture): AllowedCase[] {
  const spans = String(fixture.spans);
  return [
    { sql: 'SELECT count() AS n FROM otel_traces', rows: [{ n: spans }] },
    { sql: 'SELECT count() AS n FROM spanscore.otel_traces', rows: [{ n: spans }] },
    { sql: 'SELECT count() AS n FROM `spanscore`.`scores` FINAL;', rows: [{ n: '1' }] },
    { sql: 'WITH scored AS (SELECT TraceId, SpanId FROM scores) SELECT count() AS n FROM otel_traces WHERE (TraceId, SpanId) IN scored', rows: [{ n: '1' }] },
    { sql: 'WITH 2 AS two SELECT count() * two AS n FROM otel_traces', rows: [{ n: String(2 * fixture.spans) }] },
    {
      sql: "SELECT k, n FROM (SELECT 'spans' AS k, count() AS n FROM otel_traces UNION ALL SELECT 'scores', count() FROM spanscore.scores) ORDER BY k",
      rows: [{ k: 'scores', n: '1' }, { k: 'spans', n: spans }],
    },
    { sql: 'SELECT count() AS n FROM otel_traces WHERE SpanId IN (SELECT SpanId FROM scores)', rows: [{ n: '1' }] },
    { sql: 'SELECT n FROM (SELECT count() AS n FROM otel_traces) AS sub', rows: [{ n: spans }] },
    {
      sql: 'SELECT t.SpanName AS name, s.Score AS score FROM otel_traces AS t INNER JOIN spanscore.scores AS s ON s.TraceId = t.TraceId AND s.SpanId = t.SpanId',
      rows: [{ name: fixture.scoredSpan, score: fixture.score }],
    },
    { sql: "SELECT 'INTO OUTFILE /tmp/x; SETTINGS readonly = 0 FROM system.users' AS s -- INTO OUTFILE '/tmp/y'", rows: [{ s: 'INTO OUTFILE /tmp/x; SETTINGS readonly = 0 FROM system.users' }] },
    // ClickHouse nests comments: all of this after `one` is one comment.
    { sql: "SELECT 1 AS one /* /* */ INTO OUTFILE '/tmp/spanscore-never' -- */", rows: [{ one: 1 }] },
    { sql: 'SELECT arrayMap(x -> x * 2, [1, 2]) AS a, arrayJoin([10, 20]) AS j ORDER BY j', rows: [{ a: [2, 4], j: 10 }, { a: [2, 4], j: 20 }] },
    { sql: 'SELECT SpanName AS name, row_number() OVER (ORDER BY SpanName) AS r FROM otel_traces ORDER BY r LIMIT 1', rows: [{ name: fixture.scoredSpan, r: '1' }] },
    // What dashboards and people ask of the attribute maps, and of time.
    {
      sql: "SELECT count() AS n FROM otel_traces WHERE SpanAttributes['no.such.key'] = '' AND length(SpanAttributes) >= 0 AND NOT has(mapKeys(ResourceAttributes), 'x\ny')",
      rows: [{ n: spans }],
    },
    { sql: 'SELECT count() AS n FROM scores WHERE Timestamp > now() - INTERVAL 100 YEAR GROUP BY toStartOfHour(Timestamp)', rows: [{ n: '1' }] },
  ];
}
