import type { Logger } from '../admin/logger.js';

export type ScorerState = 'active' | 'paused' | 'over budget';

export interface ScorerStatus {
  state: ScorerState;
  /** '' when active. */
  reason: string;
  /** ISO time of the last change of state. */
  since: string | undefined;
  spentTodayUsd: number;
  budgetUsdPerDay: number | undefined;
}

export interface ScorerGovernorOptions {
  scorer: string;
  budgetUsdPerDay?: number;
  logger: Logger;
  onChange?: (status: ScorerStatus) => void;
  /** ms epoch; injectable so tests can cross UTC midnight. */
  now?: () => number;
}

/**
 * Decides whether an LLM scorer may spend another call: paused after a failure no retry can fix
 * (bad key, unknown model) until the config is reloaded, and over budget once today's spend
 * reaches the daily budget until the next UTC midnight. Paused wins over over budget: a paused
 * scorer needs a human, an over-budget one only needs time, and the status should name the
 * thing to act on.
 *
 * The state is derived (pause flag + today's spend), and every entry point re-derives it, so the
 * day rollover needs no timer: it happens the first time anyone asks after midnight.
 */
export class ScorerGovernor {
  private readonly scorer: string;
  private readonly budget: number | undefined;
  private readonly logger: Logger;
  private readonly onChange: ((status: ScorerStatus) => void) | undefined;
  private readonly now: () => number;
  private pausedReason: string | undefined;
  private spent = 0;
  private spendDay: string;
  private state: ScorerState;
  private since: string | undefined;

  constructor(options: ScorerGovernorOptions) {
    this.scorer = options.scorer;
    this.budget = options.budgetUsdPerDay;
    this.logger = options.logger;
    this.onChange = options.onChange;
    this.now = options.now ?? Date.now;
    this.spendDay = utcDay(this.now());
    this.state = this.derive();
  }

  /** undefined when a call may start now; else the state that stops it and why. */
  refusal(): { state: 'paused' | 'over budget'; reason: string } | undefined {
    this.sync();
    if (this.state === 'active') return undefined;
    return { state: this.state, reason: this.reason() };
  }

  /** Stays paused until resume(): the cause is in the config, which only a reload changes. */
  pause(reason: string): void {
    // The first reason is the one to fix; later calls failing the same way add nothing.
    if (this.pausedReason !== undefined) return;
    this.pausedReason = reason;
    this.sync();
  }

  /** Adds to today's (UTC day) spend. */
  recordSpend(usd: number): void {
    this.rollover();
    if (Number.isFinite(usd) && usd > 0) this.spent += usd;
    this.sync();
  }

  /** After a config reload: lifts a pause; today's spend stays, so an exhausted budget still holds. */
  resume(): void {
    this.pausedReason = undefined;
    this.sync();
  }

  get status(): ScorerStatus {
    this.sync();
    return this.snapshot();
  }

  private snapshot(): ScorerStatus {
    return {
      state: this.state,
      reason: this.state === 'active' ? '' : this.reason(),
      since: this.since,
      spentTodayUsd: this.spent,
      budgetUsdPerDay: this.budget,
    };
  }

  private derive(): ScorerState {
    if (this.pausedReason !== undefined) return 'paused';
    if (this.budget !== undefined && this.spent >= this.budget) return 'over budget';
    return 'active';
  }

  private reason(): string {
    if (this.state === 'paused') return this.pausedReason ?? '';
    if (this.state === 'over budget') {
      return `spent $${this.spent.toFixed(4)} of the $${(this.budget ?? 0).toFixed(2)} daily budget (UTC day ${this.spendDay}); resumes at 00:00 UTC`;
    }
    return '';
  }

  private rollover(): void {
    const today = utcDay(this.now());
    if (today === this.spendDay) return;
    this.spendDay = today;
    this.spent = 0;
  }

  /** Re-derives the state; on a change: record when, say it once in the log, tell the listener. */
  private sync(): void {
    this.rollover();
    const next = this.derive();
    if (next === this.state) return;
    const previous = this.state;
    this.state = next;
    this.since = new Date(this.now()).toISOString();
    const fields = { scorer: this.scorer, state: next, previous };
    if (next === 'paused') {
      this.logger.error({ ...fields, reason: this.reason() }, `scorer ${this.scorer} paused until the config is reloaded: ${this.reason()}`);
    } else if (next === 'over budget') {
      this.logger.warn(
        { ...fields, spentTodayUsd: this.spent, budgetUsdPerDay: this.budget },
        `scorer ${this.scorer} over budget: ${this.reason()}`,
      );
    } else {
      const why = previous === 'paused' ? 'config reloaded' : `new UTC day ${this.spendDay}, budget reset`;
      this.logger.info(fields, `scorer ${this.scorer} active again (${why})`);
    }
    this.onChange?.(this.snapshot());
  }
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
