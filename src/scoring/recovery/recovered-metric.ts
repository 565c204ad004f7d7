import { Counter, type Registry } from 'prom-client';

export const RECOVERED_METRIC = 'spanscore_scoring_recovered_total';

/**
 * The counter on the daemon's registry, made by the first processor that needs it: a config
 * reload builds a new processor on the same registry, which must count on the same counter
 * rather than fail to register a second one.
 */
export function recoveredCounter(registry: Registry): Counter<'rule'> {
  const existing = registry.getSingleMetric(RECOVERED_METRIC);
  if (existing !== undefined) return existing as Counter<'rule'>;
  return new Counter({
    name: RECOVERED_METRIC,
    help: 'Scorer tasks queued by scoring recovery: selected spans found in ClickHouse without the score (crash, outage, shedding).',
    labelNames: ['rule'] as const,
    registers: [registry],
  });
}
