import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/admin/logger.js';
import { ClickHouseStorage } from '../../src/storage/clickhouse-storage.js';
import { daemonConfig } from '../helpers/daemon-config.js';
import { startDaemon } from '../helpers/daemon-process.js';
import { sendTraces } from '../helpers/otel-sender.js';

describe('a rule with a filter, end to end', () => {
  it('scores only the spans its filter selects', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'spanscore-filter-')), 'clickhouse');
    const daemon = await startDaemon(
      daemonConfig({
        embeddedPath: dataDir,
        extra: `
rules:
  - name: not-index-1
    scorers: [ExactMatch]
    filter: "metadata.model = 'gpt-test' AND metadata.index != 1 AND input LIKE 'question %'"
  - name: failed-tools
    scorers: [ExactMatch]
    apply_to: { span_names: [tool.lookup, llm.completion] }
    filter: "status = 'error' AND status_message IS NOT NULL AND NOT is_root"
  - name: missing-field
    scorers: [ExactMatch]
    filter: "metadata.nope NOT IN ('a', 'b')"
`,
      }),
    );
    let traces;
    try {
      ({ traces } = await sendTraces('http/protobuf', daemon.addresses.http!, { count: 4 }));
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0);
    }
    const storage = new ClickHouseStorage({ embeddedPath: dataDir, database: 'spanscore', logger: silentLogger() });
    try {
      const rows = await storage.query<{ Rule: string; SpanId: string }>(`SELECT Rule, SpanId FROM scores FINAL`);
      const of = (rule: string) => new Set(rows.filter((r) => r.Rule === rule).map((r) => r.SpanId));
      expect(of('not-index-1')).toEqual(new Set([traces[0]!.rootSpanId, traces[2]!.rootSpanId, traces[3]!.rootSpanId]));
      expect(of('failed-tools')).toEqual(new Set(traces.map((t) => t.toolSpanId)));
      // A missing path is NULL, and NULL NOT IN (...) is NULL: nothing is selected.
      expect(of('missing-field')).toEqual(new Set());
    } finally {
      await storage.close();
    }
  });
});
