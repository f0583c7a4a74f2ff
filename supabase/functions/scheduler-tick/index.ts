// Supabase Edge Function entry point: scheduler-tick, built from its own configuration.

import { authLimitOf } from '../_shared/config.ts';
import { composeFunction } from '../_shared/entry.ts';
import { createTickDeps } from '../_shared/tick-deps.ts';
import { TickConfig } from './config.ts';
import { createTickHandler } from './handler.ts';

Deno.serve(
  composeFunction({
    name: 'scheduler-tick',
    schema: TickConfig,
    env: Deno.env.toObject(),
    build: (config, log) =>
      createTickHandler({
        secrets: [config.CRON_SECRET, ...(config.CRON_SECRET_PREVIOUS ? [config.CRON_SECRET_PREVIOUS] : [])],
        deps: createTickDeps(config, log),
        jitterMs: config.TICK_JITTER_MS,
        ...(config.TICK_BUDGET_MS !== undefined ? { budgetMs: config.TICK_BUDGET_MS } : {}),
        log,
        authLimit: authLimitOf(config),
        webhooks: { allowPrivateUrls: config.WEBHOOKS_ALLOW_PRIVATE_URLS, timeoutMs: config.WEBHOOK_TIMEOUT_MS },
      }),
  }),
);
