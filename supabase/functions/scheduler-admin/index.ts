// Supabase Edge Function entry point: scheduler-admin (the dashboard's API), built from its own
// configuration. Its manual trigger runs a tick with the same parts scheduler-tick uses.

import { databaseUrl, publicFunctionsUrl } from '../_shared/config.ts';
import { composeFunction } from '../_shared/entry.ts';
import { createPool } from '../_shared/pool.ts';
import { TwilioProvider } from '../_shared/twilio.ts';
import { AdminConfig } from './config.ts';
import { adminCorsHeaders, createAdminHandler } from './handler.ts';

Deno.serve(
  composeFunction({
    name: 'scheduler-admin',
    schema: AdminConfig,
    env: Deno.env.toObject(),
    misconfiguredHeaders: adminCorsHeaders(),
    build: (config, log) => {
      const functionsUrl = publicFunctionsUrl(config);
      return createAdminHandler({
        adminToken: config.ADMIN_TOKEN,
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
        log,
      });
    },
  }),
);
