// Supabase Edge Function entry point: call-status (the provider's status callbacks), built from its
// own configuration.

import { authLimitOf, databaseUrl, publicFunctionsUrl } from '../_shared/config.ts';
import { composeFunction } from '../_shared/entry.ts';
import { createPool } from '../_shared/pool.ts';
import { CallStatusConfig } from './config.ts';
import { createCallStatusHandler } from './handler.ts';
import { optOutKey } from '../_shared/opt-out.ts';

Deno.serve(
  composeFunction({
    name: 'call-status',
    schema: CallStatusConfig,
    env: Deno.env.toObject(),
    build: (config, log) =>
      createCallStatusHandler({
        db: createPool(databaseUrl(config), config.DB_POOL_SIZE),
        accountSid: config.TWILIO_ACCOUNT_SID,
        authToken: config.TWILIO_AUTH_TOKEN,
        subaccountTokens: config.TWILIO_SUBACCOUNT_AUTH_TOKENS,
        publicUrl: `${publicFunctionsUrl(config)}/call-status`,
        log,
        authLimit: authLimitOf(config),
        optOutKey: optOutKey(config.OPT_OUT_SECRET, config.TWILIO_AUTH_TOKEN),
        vapiServerSecret: config.VAPI_SERVER_SECRET,
        retellWebhookKey: config.RETELL_WEBHOOK_KEY ?? config.RETELL_API_KEY,
        signalwireSigningKey: config.SIGNALWIRE_SIGNING_KEY,
        accountCredentials: config.PROVIDER_ACCOUNT_CREDENTIALS,
      }),
  }),
);
