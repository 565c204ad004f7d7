import { describe, expect, it } from 'vitest';
import { refuseFileOutput } from '../../src/storage/readonly-sql-guard.js';

describe('refuseFileOutput', () => {
  it('refuses INTO OUTFILE however it is spelled', () => {
    for (const sql of [
      "SELECT 1 INTO OUTFILE '/tmp/x'",
      "select 1 into\n  outfile '/tmp/x'",
      "SELECT 1 INTO/* hidden */OUTFILE '/tmp/x'",
      "SELECT 'a''b' INTO OUTFILE '/tmp/x'",
      "SELECT 'a\\'b' INTO OUTFILE '/tmp/x'",
      "SELECT 1 -- comment\nINTO OUTFILE '/tmp/x'",
      "SELECT 1 # INTO OUTFILE '/tmp/x'",
    ]) {
      expect(() => refuseFileOutput(sql), sql).toThrow(/cannot write files/);
    }
  });

  it('allows the words inside literals, quoted identifiers and comments', () => {
    for (const sql of [
      "SELECT 'INTO OUTFILE' AS x",
      'SELECT 1 AS `into outfile`',
      'SELECT 1 AS "INTO OUTFILE"',
      'SELECT 1 -- INTO OUTFILE',
      'SELECT 1 /* INTO OUTFILE */',
      "SELECT count() FROM otel_traces WHERE SpanName = 'it''s INTO OUTFILE'",
    ]) {
      expect(() => refuseFileOutput(sql), sql).not.toThrow();
    }
  });
});
