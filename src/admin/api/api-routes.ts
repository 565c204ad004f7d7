import type { ApiRoute } from './api-router.js';
import { backfillRoutes } from './backfill-endpoint.js';
import { explainRoutes } from './explain-endpoint.js';
import { queryRoutes } from './query-endpoint.js';
import { rulesRoutes } from './rules-endpoint.js';
import { scoreRoutes } from './score-endpoint.js';
import { scoresRoutes } from './scores-endpoint.js';

/** Every endpoint of `/api/v1`; called once per admin server (backfill remembers its jobs). */
export function apiRoutes(): ApiRoute[] {
  return [...rulesRoutes, ...scoreRoutes, ...backfillRoutes(), ...explainRoutes, ...scoresRoutes, ...queryRoutes];
}
