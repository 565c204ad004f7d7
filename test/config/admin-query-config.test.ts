import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/config-loader.js';
import { issuesOf, minimal } from './config-test-kit.js';

const MIB = 1024 * 1024;

describe('admin.query', () => {
  it('defaults: 30 s, 64 MiB, and admin.max_query_rows rows (10,000), no credentials of its own', () => {
    expect(parseConfigText(minimal, 'f.yaml', {}).admin.query).toEqual({ maxExecutionMs: 30_000, maxResultRows: 10_000, maxResultBytes: 64 * MIB });
    const empty = parseConfigText(`${minimal}admin:\n  query:\n`, 'f.yaml', {});
    expect(empty.admin.query).toEqual({ maxExecutionMs: 30_000, maxResultRows: 10_000, maxResultBytes: 64 * MIB });
  });

  it('keeps admin.max_query_rows working; admin.query.max_result_rows wins over it', () => {
    expect(parseConfigText(`${minimal}admin: { max_query_rows: 500 }\n`, 'f.yaml', {}).admin.query.maxResultRows).toBe(500);
    const both = parseConfigText(`${minimal}admin: { max_query_rows: 500, query: { max_result_rows: 20 } }\n`, 'f.yaml', {});
    expect(both.admin.query.maxResultRows).toBe(20);
  });

  it('reads credentials and limits', () => {
    const yaml = `${minimal}admin:\n  query:\n    username: reader\n    password: \${env:QUERY_PASSWORD}\n    max_execution_time: 1m30s\n    max_result_rows: 100\n    max_result_bytes: 1048576\n`;
    expect(parseConfigText(yaml, 'f.yaml', { QUERY_PASSWORD: 'pw' }).admin.query).toEqual({
      username: 'reader',
      password: 'pw',
      maxExecutionMs: 90_000,
      maxResultRows: 100,
      maxResultBytes: MIB,
    });
  });

  it('refuses a password without a username, unknown keys and limits out of range', () => {
    expect(issuesOf(`${minimal}admin:\n  query: { password: pw }\n`)).toContainEqual(expect.objectContaining({ path: 'admin.query.password', message: 'password needs a username' }));
    expect(issuesOf(`${minimal}admin:\n  query: { max_rows: 5 }\n`)).toContainEqual(expect.objectContaining({ path: 'admin.query.max_rows', message: expect.stringContaining('unknown key') }));
    expect(issuesOf(`${minimal}admin:\n  query: { max_execution_time: 2h }\n`)).toContainEqual(expect.objectContaining({ path: 'admin.query.max_execution_time' }));
    expect(issuesOf(`${minimal}admin:\n  query: { max_result_bytes: ${512 * MIB} }\n`)).toContainEqual(expect.objectContaining({ path: 'admin.query.max_result_bytes' }));
    expect(issuesOf(`${minimal}admin:\n  query: { max_result_rows: 0 }\n`)).toContainEqual(expect.objectContaining({ path: 'admin.query.max_result_rows' }));
  });
});
