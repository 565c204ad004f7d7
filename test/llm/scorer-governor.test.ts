import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ScorerGovernor, type ScorerStatus } from '../../src/llm/scorer-governor.js';

function captureLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

function setup(budgetUsdPerDay?: number) {
  let now = Date.parse('2024-05-01T23:00:00.000Z');
  const changes: ScorerStatus[] = [];
  const { logger, lines } = captureLogger();
  const governor = new ScorerGovernor({ scorer: 'judge', budgetUsdPerDay, logger, onChange: (s) => changes.push(s), now: () => now });
  return {
    governor,
    changes,
    lines,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('ScorerGovernor', () => {
  it('starts active', () => {
    const { governor, changes } = setup(1);
    expect(governor.refusal()).toBeUndefined();
    expect(governor.status).toEqual({ state: 'active', reason: '', since: undefined, spentTodayUsd: 0, budgetUsdPerDay: 1 });
    expect(changes).toEqual([]);
  });

  it('pauses until resume(), logging at error once and telling onChange', async () => {
    const { governor, changes, lines, advance } = setup();
    governor.pause('HTTP 401 from http://x/v1/chat/completions: bad key (check api_key)');
    governor.pause('a second failure of the same kind');
    expect(governor.refusal()).toEqual({ state: 'paused', reason: 'HTTP 401 from http://x/v1/chat/completions: bad key (check api_key)' });
    expect(governor.status.since).toBe('2024-05-01T23:00:00.000Z');
    expect(changes.map((c) => c.state)).toEqual(['paused']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.filter((l) => l.level === 50)).toHaveLength(1);

    advance(60_000);
    governor.resume();
    expect(governor.refusal()).toBeUndefined();
    expect(governor.status).toMatchObject({ state: 'active', reason: '', since: '2024-05-01T23:01:00.000Z' });
    expect(changes.map((c) => c.state)).toEqual(['paused', 'active']);
  });

  it('goes over budget when spend reaches the budget, warning once, until the next UTC midnight', async () => {
    const { governor, changes, lines, advance } = setup(1);
    governor.recordSpend(0.6);
    expect(governor.refusal()).toBeUndefined();
    governor.recordSpend(0.4);
    expect(governor.refusal()).toMatchObject({ state: 'over budget' });
    expect(governor.refusal()!.reason).toContain('2024-05-01');
    governor.recordSpend(0.2);
    expect(governor.status).toMatchObject({ state: 'over budget', spentTodayUsd: 1.2, since: '2024-05-01T23:00:00.000Z' });
    expect(changes.map((c) => c.state)).toEqual(['over budget']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1);

    advance(59 * 60_000); // 23:59 UTC, still the same day
    expect(governor.refusal()).toMatchObject({ state: 'over budget' });
    advance(60_000); // 00:00 UTC: lifted lazily, on the next question
    expect(governor.refusal()).toBeUndefined();
    expect(governor.status).toEqual({ state: 'active', reason: '', since: '2024-05-02T00:00:00.000Z', spentTodayUsd: 0, budgetUsdPerDay: 1 });
    expect(changes.map((c) => c.state)).toEqual(['over budget', 'active']);
  });

  it('resets spend at UTC midnight even when still under budget', () => {
    const { governor, advance, changes } = setup(10);
    governor.recordSpend(3);
    advance(2 * 60 * 60_000);
    governor.recordSpend(1);
    expect(governor.status.spentTodayUsd).toBe(1);
    expect(changes).toEqual([]);
  });

  it('paused wins over over budget; resume keeps today\'s spend and the budget still holds', () => {
    const { governor, changes } = setup(1);
    governor.pause('model "x" not found');
    governor.recordSpend(5);
    expect(governor.refusal()).toEqual({ state: 'paused', reason: 'model "x" not found' });
    governor.resume();
    expect(governor.refusal()).toMatchObject({ state: 'over budget' });
    expect(governor.status.spentTodayUsd).toBe(5);
    expect(changes.map((c) => c.state)).toEqual(['paused', 'over budget']);
  });

  it('never goes over budget without a budget', () => {
    const { governor } = setup(undefined);
    governor.recordSpend(1_000_000);
    expect(governor.refusal()).toBeUndefined();
    expect(governor.status).toMatchObject({ spentTodayUsd: 1_000_000, budgetUsdPerDay: undefined });
  });
});
