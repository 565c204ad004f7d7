import { describe, expect, it } from 'vitest';
import { formatScore, formatTable, formatUsd, progressBar, sparkline, truncate } from '../../src/cli/table-format.js';

describe('terminal formatting', () => {
  it('draws one block per bucket on a fixed 0..1 scale, blank for empty buckets', () => {
    expect(sparkline([0, 1 / 7, 2 / 7, 3 / 7, 4 / 7, 5 / 7, 6 / 7, 1])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([null, 0.5, null, 2, -1])).toBe(' ▅ █▁');
    expect(sparkline([])).toBe('');
  });

  it('aligns columns by characters, so sparklines line up', () => {
    expect(formatTable([{ a: '▁█', b: 1 }, { a: 'xyz', b: 22 }], { footer: false })).toBe('a    b\n---  --\n▁█   1\nxyz  22\n');
    expect(formatTable([{ n: 1 }])).toBe('n\n-\n1\n(1 row)\n');
  });

  it('shortens text to one line with an ellipsis', () => {
    expect(truncate('short', 10)).toBe('short');
    expect(truncate('a long\nrationale that goes on', 12)).toBe('a long rati…');
  });

  it('draws progress, scores and costs', () => {
    expect(progressBar(5, 20, 10)).toBe('[###.......]  5/20');
    expect(progressBar(0, 0, 4)).toBe('[....] 0/0');
    expect(formatScore(null)).toBe('-');
    expect(formatScore(2 / 3)).toBe('0.667');
    expect(formatUsd(null)).toBe('n/a');
    expect(formatUsd(0.000123)).toBe('$0.000123');
    expect(formatUsd(12.5)).toBe('$12.50');
  });
});
