// Supabase Edge Function entry point: scheduler-metrics (Prometheus text), built from its own
// configuration. Closed unless METRICS_TOKEN is set (or METRICS_PUBLIC=true); the start-up log says
// which, and how to open it.

import { authLimitOf, databaseUrl } from '../_shared/config.ts';
import { composeFunction } from '../_shared/entry.ts';
import { createPool } from '../_shared/pool.ts';
import { MetricsConfig } from './config.ts';
import { createMetricsHandler, METRICS_CLOSED_MESSAGE, metricsAccess } from './handler.ts';

Deno.serve(
  composeFunction({
    name: 'scheduler-metrics',
    schema: MetricsConfig,
    env: Deno.env.toObject(),
    build: (config, log) => {
      const access = metricsAccess(config.METRICS_TOKEN, config.METRICS_PUBLIC);
      if (access === 'closed') log.warn('metrics_closed', { message: METRICS_CLOSED_MESSAGE });
      if (access === 'public') {
        log.warn('metrics_public', { message: 'METRICS_PUBLIC=true: anyone may read the metrics without a token' });
      }
      return createMetricsHandler({
        db: createPool(databaseUrl(config), config.DB_POOL_SIZE),
        access,
        log,
        authLimit: authLimitOf(config),
      });
    },
  }),
);
