import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout (stderr would mix with `spanscore query` output). */
export function createLogger(level: string = process.env.SPANSCORE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service: 'spanscore' }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that drops everything, for components built outside the daemon (CLI queries). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
