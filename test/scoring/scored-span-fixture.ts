import type { ScorerArgs } from '../../src/scoring/scorer-args.js';

/** A span view for scorer tests whose results do not depend on the span. */
export const SPAN: ScorerArgs['span'] = {
  traceId: 't',
  spanId: 's',
  parentSpanId: '',
  name: 'llm',
  kind: 'Client',
  serviceName: 'svc',
  scopeName: 'scope',
  attributes: {},
  resource: {},
  timestamp: '0',
  durationMs: 1,
  status: 'ok',
  statusMessage: '',
};
