// Supabase Edge Function entry point: scheduler-tick, built from its own configuration.

import { databaseUrl, publicFunctionsUrl } from '../_shared/config.ts';
import { composeFunction } from '../_shared/entry.ts';
import { createPool } from '../_shared/pool.ts';
import { TwilioProvider } from '../_shared/twilio.ts';
import { TickConfig } from './config.ts';
import { createTickHandler } from './handler.ts';

Deno.serve(
  composeFunction({
    name: 'scheduler-tick',
    schema: TickConfig,
    env: Deno.env.toObject(),
    build: (config, log) => {
      const functionsUrl = publicFunctionsUrl(config);
      return createTickHandler({
        secrets: [config.CRON_SECRET, ...(config.CRON_SECRET_PREVIOUS ? [config.CRON_SECRET_PREVIOUS] : [])],
        deps: {
          pool: createPool(databaseUrl(config), config.DB_POOL_SIZE),
          provider: new TwilioProvider({
            accountSid: config.TWILIO_ACCOUNT_SID,
            authToken: config.TWILIO_AUTH_TOKEN,
            baseUrl: config.TWILIO_API_BASE_URL,
          }),
          log,
          statusCallbackUrl: (callId) => `${functionsUrl}/call-status?call_id=${encodeURIComponent(callId)}`,
        },
        jitterMs: config.TICK_JITTER_MS,
        ...(config.TICK_BUDGET_MS !== undefined ? { budgetMs: config.TICK_BUDGET_MS } : {}),
        log,
      });
    },
  }),
);
