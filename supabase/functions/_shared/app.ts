// Builds the Edge Functions' handlers from the environment: one place that reads the config (once,
// validated with zod), makes the database pool and the provider, and wires the handlers. Each
// function's index.ts serves one of them; scripts/stack/functions-serve.ts serves all of them locally
// under /functions/v1/<name>, as Supabase does.

import { cronSecrets, databaseUrl, knownSecrets, parseEnv, publicFunctionsUrl, type FunctionsEnv } from './config.ts';
import { createLogger, type LogLevel } from './log.ts';
import { createPool } from './pool.ts';
import type { SqlPool } from './db.ts';
import type { TickDeps } from './tick.ts';
import { TwilioProvider } from './twilio.ts';
import { coerceError } from './errors.ts';
import { createTickHandler } from '../scheduler-tick/handler.ts';
import { createCallStatusHandler } from '../call-status/handler.ts';
import { createAdminHandler } from '../scheduler-admin/handler.ts';
import { createMetricsHandler } from '../scheduler-metrics/handler.ts';

export const FUNCTION_NAMES = ['scheduler-tick', 'call-status', 'scheduler-admin', 'scheduler-metrics'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];
export type Handler = (req: Request) => Promise<Response>;

export interface BuildOptions {
  fetch?: typeof fetch;
  write?: (line: string, level: LogLevel) => void;
}

export interface BuiltFunctions {
  handlers: Record<FunctionName, Handler>;
  env: FunctionsEnv | null;
  close(): Promise<void>;
}

export function buildFunctions(rawEnv: Record<string, string | undefined>, opts: BuildOptions = {}): BuiltFunctions {
  const bootLog = createLogger({ service: 'functions', ...(opts.write ? { write: opts.write } : {}) });
  let env: FunctionsEnv;
  try {
    env = parseEnv(rawEnv);
  } catch (err) {
    // Fail closed: every function answers 500 and the log says why.
    const message = coerceError(err).message;
    bootLog.error('config_error', { message });
    const refuse: Handler = async () =>
      new Response(JSON.stringify({ error: 'server_misconfigured' }), { status: 500, headers: { 'content-type': 'application/json' } });
    return {
      handlers: { 'scheduler-tick': refuse, 'call-status': refuse, 'scheduler-admin': refuse, 'scheduler-metrics': refuse },
      env: null,
      close: async () => undefined,
    };
  }
  const secrets = knownSecrets(env);
  const logFor = (service: string) => createLogger({ service, secrets, ...(opts.write ? { write: opts.write } : {}) });

  let pool: (SqlPool & { end(): Promise<void> }) | null = null;
  let dbError: string | undefined;
  try {
    pool = createPool(databaseUrl(env), env.DB_POOL_SIZE);
  } catch (err) {
    dbError = coerceError(err).message;
  }
  let functionsUrl: string | undefined;
  let urlError: string | undefined;
  try {
    functionsUrl = publicFunctionsUrl(env);
  } catch (err) {
    urlError = coerceError(err).message;
  }

  const tickLog = logFor('scheduler-tick');
  let deps: TickDeps | null = null;
  let depsError: string | undefined;
  if (!pool) depsError = dbError;
  else if (!functionsUrl) depsError = urlError;
  else if (!env.TWILIO_ACCOUNT_SID || !env.TWILIO_AUTH_TOKEN) depsError = 'TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set';
  else {
    const base = functionsUrl;
    deps = {
      pool,
      provider: new TwilioProvider({
        accountSid: env.TWILIO_ACCOUNT_SID,
        authToken: env.TWILIO_AUTH_TOKEN,
        baseUrl: env.TWILIO_API_BASE_URL,
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      }),
      log: tickLog,
      statusCallbackUrl: (callId: string) => `${base}/call-status?call_id=${encodeURIComponent(callId)}`,
    };
  }

  const handlers: Record<FunctionName, Handler> = {
    'scheduler-tick': createTickHandler({
      secrets: cronSecrets(env),
      deps,
      ...(depsError ? { configError: depsError } : {}),
      jitterMs: env.TICK_JITTER_MS,
      ...(env.TICK_BUDGET_MS !== undefined ? { budgetMs: env.TICK_BUDGET_MS } : {}),
      log: tickLog,
    }),
    'call-status': createCallStatusHandler({
      db: pool,
      authToken: env.TWILIO_AUTH_TOKEN,
      publicUrl: functionsUrl ? `${functionsUrl}/call-status` : undefined,
      log: logFor('call-status'),
      ...(dbError ?? urlError ? { configError: dbError ?? urlError } : {}),
    }),
    'scheduler-admin': createAdminHandler({
      adminToken: env.ADMIN_TOKEN,
      deps: deps ? { ...deps, log: logFor('scheduler-admin') } : null,
      log: logFor('scheduler-admin'),
    }),
    'scheduler-metrics': createMetricsHandler({ db: pool, token: env.METRICS_TOKEN, log: logFor('scheduler-metrics') }),
  };
  return {
    handlers,
    env,
    close: async () => {
      await pool?.end();
    },
  };
}

/** The handler of one function, for that function's index.ts. */
export function buildFunction(name: FunctionName, rawEnv: Record<string, string | undefined>): Handler {
  return buildFunctions(rawEnv).handlers[name];
}
