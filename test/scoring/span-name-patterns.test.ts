import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { SpanNamePatterns } from '../../src/scoring/span-name-patterns.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';

const dataDir = mkdtempSync(join(tmpdir(), 'spanscore-span-names-'));
const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'default', logger: silentLogger() });
afterAll(async () => {
  await storage.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const NAMES = [
  'chat gpt-4o',
  'chat claude-3',
  'chat',
  'chat ',
  'chatgpt',
  'ai.generateText',
  'ai.generateText.doGenerate',
  'ai.streamText',
  'openai.chat',
  'ChatOpenAI.invoke',
  'score 100%',
  'score 100x',
  'a_b',
  'axb',
  'back\\slash',
  'two\nlines',
  'ünïcødé chat',
  'star*name',
  '',
];

const PATTERNS: string[][] = [
  ['chat *'],
  ['chat*'],
  ['*chat*'],
  ['ai.*'],
  ['ai.*Text'],
  ['*.invoke', 'openai.chat'],
  ['score 100%'],
  ['a_b'],
  ['back\\slash'],
  ['two*'],
  ['*'],
  ['star*name'],
  ['chat'],
];

async function selectedInClickHouse(patterns: string[]): Promise<string[]> {
  const params: Record<string, unknown> = { names: NAMES };
  const where = new SpanNamePatterns(patterns).toSql(params, 'p');
  const rows = await storage.query<{ SpanName: string }>(`SELECT SpanName FROM (SELECT arrayJoin({names:Array(String)}) AS SpanName) WHERE ${where}`, params);
  return rows.map((row) => row.SpanName).sort();
}

describe('SpanNamePatterns', () => {
  it('matches exact names and * globs as documented', () => {
    const patterns = new SpanNamePatterns(['chat *', 'openai.chat']);
    expect(NAMES.filter((name) => patterns.matches(name))).toEqual(['chat gpt-4o', 'chat claude-3', 'chat ', 'openai.chat']);
    expect(new SpanNamePatterns([]).empty).toBe(true);
    expect(new SpanNamePatterns(['a_b']).matches('axb')).toBe(false);
  });

  it('selects in ClickHouse exactly what it selects in the pipeline', async () => {
    for (const patterns of PATTERNS) {
      const live = new SpanNamePatterns(patterns);
      expect({ patterns, selected: await selectedInClickHouse(patterns) }).toEqual({ patterns, selected: NAMES.filter((name) => live.matches(name)).sort() });
    }
  });
});
