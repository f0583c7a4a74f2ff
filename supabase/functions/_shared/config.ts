// The functions' environment, read and validated once with zod at start-up. Every setting has a
// default and a bound; a missing required secret is reported, never replaced by an empty string.

import { z } from 'zod';

const optionalString = z
  .string()
  .transform((s) => s.trim())
  .optional()
  .transform((s) => (s === undefined || s === '' ? undefined : s));

const intIn = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

const url = z.string().url().transform((s) => s.replace(/\/+$/, ''));

export const FunctionsEnv = z.object({
  /** Postgres connection string; Supabase sets SUPABASE_DB_URL (the direct connection) for Edge Functions. */
  SUPABASE_DB_URL: optionalString,
  /** Wins over SUPABASE_DB_URL (which a project cannot override): the transaction pooler's URL, port 6543. */
  DATABASE_URL: optionalString,
  /** Secret the tick requires (Authorization: Bearer or x-cron-secret). */
  CRON_SECRET: optionalString,
  /** The previous secret, still accepted during a rotation. */
  CRON_SECRET_PREVIOUS: optionalString,
  /** Token the dashboard's operator types in to trigger a tick and read status (never the cron secret). */
  ADMIN_TOKEN: optionalString,
  /** Optional bearer token for the metrics endpoint; unset means metrics are public. */
  METRICS_TOKEN: optionalString,
  /** Maximum random delay before a tick starts working, counted inside the budget. */
  TICK_JITTER_MS: intIn(0, 30_000, 0),
  /** Overrides scheduler_settings.tick_budget_ms when set. */
  TICK_BUDGET_MS: z.coerce.number().int().min(1000).max(300_000).optional(),
  TWILIO_ACCOUNT_SID: optionalString,
  TWILIO_AUTH_TOKEN: optionalString,
  TWILIO_API_BASE_URL: url.default('https://api.twilio.com'),
  /** Public base URL of the functions, as the provider reaches them (for StatusCallback and signatures). */
  PUBLIC_FUNCTIONS_URL: url.optional(),
  SUPABASE_URL: url.optional(),
  DB_POOL_SIZE: intIn(2, 100, 20),
});
export type FunctionsEnv = z.infer<typeof FunctionsEnv>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function parseEnv(env: Record<string, string | undefined>): FunctionsEnv {
  const parsed = FunctionsEnv.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid environment: ${problems}`);
  }
  return parsed.data;
}

export function databaseUrl(env: FunctionsEnv): string {
  const u = env.DATABASE_URL ?? env.SUPABASE_DB_URL;
  if (!u) throw new ConfigError('DATABASE_URL (or SUPABASE_DB_URL) is not set');
  return u;
}

export function publicFunctionsUrl(env: FunctionsEnv): string {
  if (env.PUBLIC_FUNCTIONS_URL) return env.PUBLIC_FUNCTIONS_URL;
  if (env.SUPABASE_URL) return `${env.SUPABASE_URL}/functions/v1`;
  throw new ConfigError('PUBLIC_FUNCTIONS_URL (or SUPABASE_URL) is not set: status callbacks need a public URL');
}

export function cronSecrets(env: FunctionsEnv): string[] {
  return [env.CRON_SECRET, env.CRON_SECRET_PREVIOUS].filter((s): s is string => typeof s === 'string');
}

export function knownSecrets(env: FunctionsEnv): string[] {
  return [env.CRON_SECRET, env.CRON_SECRET_PREVIOUS, env.ADMIN_TOKEN, env.METRICS_TOKEN, env.TWILIO_AUTH_TOKEN].filter(
    (s): s is string => typeof s === 'string',
  );
}
