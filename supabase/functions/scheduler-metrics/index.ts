// Supabase Edge Function entry point: scheduler-metrics (Prometheus text), built from its own
// configuration.

import { databaseUrl } from '../_shared/config.ts';
import { composeFunction } from '../_shared/entry.ts';
import { createPool } from '../_shared/pool.ts';
import { MetricsConfig } from './config.ts';
import { createMetricsHandler } from './handler.ts';

Deno.serve(
  composeFunction({
    name: 'scheduler-metrics',
    schema: MetricsConfig,
    env: Deno.env.toObject(),
    build: (config, log) =>
      createMetricsHandler({ db: createPool(databaseUrl(config), config.DB_POOL_SIZE), token: config.METRICS_TOKEN, log }),
  }),
);
