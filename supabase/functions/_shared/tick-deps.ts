// What a tick runs with, made from a function's validated configuration: the database pool, the
// provider, the status callback URL and the signed opt-out URL of each call. scheduler-tick and scheduler-admin (its
// manual trigger) each build their own from their own configuration.

import {
  type DatabaseEnv,
  databaseUrl,
  type InsecureUrlsEnv,
  type OptOutEnv,
  publicFunctionsUrl,
  type PublicUrlEnv,
  type TwilioEnv,
} from './config.ts';
import { accountProvidersFromEnv, type ProvidersEnv, providersFromEnv } from './providers/env.ts';
import type { Logger } from './log.ts';
import { createPool } from './pool.ts';
import type { TickDeps } from './tick.ts';
import { TwilioProvider } from './twilio.ts';
import { callbackUrl, callUrl, optOutKey, optOutUrl } from './opt-out.ts';
import { CALL_CONTEXT } from './call-context.ts';

export function createTickDeps(
  config: DatabaseEnv & PublicUrlEnv & TwilioEnv & OptOutEnv & InsecureUrlsEnv & ProvidersEnv,
  log: Logger,
): TickDeps {
  const functionsUrl = publicFunctionsUrl(config);
  const key = optOutKey(config.OPT_OUT_SECRET, config.TWILIO_AUTH_TOKEN);
  return {
    pool: createPool(databaseUrl(config), config.DB_POOL_SIZE),
    provider: new TwilioProvider({
      accountSid: config.TWILIO_ACCOUNT_SID,
      authToken: config.TWILIO_AUTH_TOKEN,
      baseUrl: config.TWILIO_API_BASE_URL,
      allowInsecureUrls: config.ALLOW_INSECURE_URLS,
    }),
    // Vapi, Retell and SignalWire accounts' calls go to their own adapters (providers/registry.ts).
    providers: providersFromEnv(config, { allowInsecureUrls: config.ALLOW_INSECURE_URLS }),
    // Accounts with their own credentials (PROVIDER_ACCOUNT_CREDENTIALS) have their own adapters.
    accountProviders: accountProvidersFromEnv(config, { allowInsecureUrls: config.ALLOW_INSECURE_URLS }),
    log,
    statusCallbackUrl: (callId) => `${functionsUrl}/call-status?call_id=${encodeURIComponent(callId)}`,
    // The key is made once; each call's URL is one HMAC (microseconds).
    optOutUrl: (callId) => key.then((k) => optOutUrl(functionsUrl, k, callId)),
    contextUrl: (callId) => key.then((k) => callUrl(functionsUrl, k, CALL_CONTEXT, callId)),
    callbackUrl: (callId) => key.then((k) => callbackUrl(functionsUrl, k, callId)),
  };
}
