// What a tick runs with, made from a function's validated configuration: the database pool, the
// provider, and the status callback URL of each call. scheduler-tick and scheduler-admin (its
// manual trigger) each build their own from their own configuration.

import {
  type DatabaseEnv,
  databaseUrl,
  type InsecureUrlsEnv,
  publicFunctionsUrl,
  type PublicUrlEnv,
  type TwilioEnv,
} from './config.ts';
import type { Logger } from './log.ts';
import { createPool } from './pool.ts';
import type { TickDeps } from './tick.ts';
import { TwilioProvider } from './twilio.ts';

export function createTickDeps(config: DatabaseEnv & PublicUrlEnv & TwilioEnv & InsecureUrlsEnv, log: Logger): TickDeps {
  const functionsUrl = publicFunctionsUrl(config);
  return {
    pool: createPool(databaseUrl(config), config.DB_POOL_SIZE),
    provider: new TwilioProvider({
      accountSid: config.TWILIO_ACCOUNT_SID,
      authToken: config.TWILIO_AUTH_TOKEN,
      baseUrl: config.TWILIO_API_BASE_URL,
      allowInsecureUrls: config.ALLOW_INSECURE_URLS,
    }),
    log,
    statusCallbackUrl: (callId) => `${functionsUrl}/call-status?call_id=${encodeURIComponent(callId)}`,
  };
}
