// Building blocks for the functions' configuration. Each function validates its own environment
// with its own zod schema (<name>/config.ts), read once by its index.ts: a variable the function
// needs is required there, so a handler never sees a half-made configuration. A missing or invalid
// variable closes that function only (500 server_misconfigured) and logs one config_error line
// naming the variable (see entry.ts).

import { z } from 'zod';
import { CREDENTIALS_VARIABLE, type CredentialsByAccount, credentialSecrets } from './providers/credentials.ts';

/** A string variable; blank counts as unset (a blank secret is never an empty password). */
export const optionalString = z
  .string()
  .optional()
  .transform((s) => (s === undefined || s.trim() === '' ? undefined : s.trim()));

/** A string variable the function cannot work without. */
export const requiredString = optionalString.pipe(z.string({ error: 'is not set' }));

/** The fewest characters a secret of ours may have (`openssl rand -hex 32` gives 64). */
export const MIN_SECRET_LENGTH = 32;

/**
 * Why a secret we accept (ADMIN_TOKEN, CRON_SECRET, METRICS_TOKEN, their _PREVIOUS, the Vercel
 * route's secrets) is too weak to be random, or undefined when it is not. A valid credential is
 * never refused by the failure limit (auth-limit.ts), so the only thing standing between a guesser
 * and the scheduler is that the secret cannot be guessed: fewer than 32 characters, fewer than 8
 * distinct ones (`aaaa…`, `abab…`), or one short piece repeated (`0123456789abcdef0123456789abcdef`)
 * is refused at start-up. A random hex or base64 secret of 32 characters or more passes (a
 * 32-character hex string has fewer than 8 distinct characters with odds below 1 in 10^7).
 */
export function weakSecretProblem(secret: string): string | undefined {
  const how = `use at least ${MIN_SECRET_LENGTH} random characters, e.g. \`openssl rand -hex 32\``;
  if (secret.length < MIN_SECRET_LENGTH) return `is too short to be random (${secret.length} characters): ${how}`;
  if (new Set(secret).size < 8) return `has too few distinct characters to be random: ${how}`;
  for (let unit = 1; unit <= secret.length / 2; unit++) {
    if (secret.length % unit === 0 && secret.slice(0, unit).repeat(secret.length / unit) === secret) {
      return `is one piece repeated, not random: ${how}`;
    }
  }
  return undefined;
}

const checkStrength = (s: string | undefined, ctx: z.RefinementCtx) => {
  const problem = s === undefined ? undefined : weakSecretProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
};

/** A secret of ours the function cannot work without: set, and strong (weakSecretProblem). */
export const requiredSecret = requiredString.superRefine(checkStrength);

/** A secret of ours that may be unset; when set, strong (weakSecretProblem). */
export const optionalSecret = optionalString.superRefine(checkStrength);

export const intIn = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

export const url = z.string().url().transform((s) => s.replace(/\/+$/, ''));

/** Postgres: Supabase sets SUPABASE_DB_URL (the direct connection) for Edge Functions. */
export const DatabaseEnv = z.object({
  SUPABASE_DB_URL: optionalString,
  /** Wins over SUPABASE_DB_URL (which a project cannot override): the transaction pooler's URL, port 6543. */
  DATABASE_URL: optionalString,
  DB_POOL_SIZE: intIn(2, 100, 20),
});
export type DatabaseEnv = z.infer<typeof DatabaseEnv>;

/** Public base URL of the functions, as the provider reaches them (StatusCallback and signatures). */
export const PublicUrlEnv = z.object({
  PUBLIC_FUNCTIONS_URL: url.optional(),
  SUPABASE_URL: url.optional(),
});
export type PublicUrlEnv = z.infer<typeof PublicUrlEnv>;

/** TWILIO_SUBACCOUNT_AUTH_TOKENS: a JSON object of subaccount SID -> auth token (default none). */
export const subaccountTokens = z
  .string()
  .optional()
  .transform((text, ctx): Record<string, string> => {
    if (text === undefined || text.trim() === '') return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of subaccount SID -> auth token' });
      return z.NEVER;
    }
    const shape = z.record(
      z.string().regex(/^AC[0-9a-f]{32}$/, 'keys must be account SIDs (AC + 32 hex digits)'),
      z.string().min(1),
    );
    const checked = shape.safeParse(parsed);
    if (!checked.success) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a JSON object of subaccount SID -> auth token: ${checked.error.issues[0]?.message}`,
      });
      return z.NEVER;
    }
    return checked.data;
  });

/**
 * ALLOW_INSECURE_URLS=1 (or true): http:// URLs are accepted where https:// is otherwise required
 * (TWILIO_API_BASE_URL, the public functions URL, a campaign's answer URL provider_settings.url).
 * For local development only, where the simulator and the functions listen on http://127.0.0.1;
 * `npm start` and the tests set it. Unset: https:// only, so neither the provider credentials nor a
 * call's flow ever travel in clear.
 */
export const InsecureUrlsEnv = z.object({
  ALLOW_INSECURE_URLS: optionalString
    .pipe(z.enum(['1', '0', 'true', 'false'], { error: 'must be 1 or 0' }).optional())
    .transform((v) => v === '1' || v === 'true'),
});
export type InsecureUrlsEnv = z.infer<typeof InsecureUrlsEnv>;

/** Why a URL we send credentials or calls to is not acceptable, or undefined. */
export function insecureUrlProblem(u: string, allowInsecure: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    return 'is not an absolute URL';
  }
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol === 'http:') {
    return allowInsecure ? undefined : 'must be https:// (http:// only with ALLOW_INSECURE_URLS=1, for local development)';
  }
  return 'must be an https:// URL';
}

/** Refinement of the schemas with Twilio and a public URL: both https:// unless ALLOW_INSECURE_URLS. */
export const needsHttps = (env: TwilioEnv & PublicUrlEnv & InsecureUrlsEnv, ctx: z.RefinementCtx) => {
  const checks: Array<[string, string | undefined]> = [
    ['TWILIO_API_BASE_URL', env.TWILIO_API_BASE_URL],
    ['PUBLIC_FUNCTIONS_URL', env.PUBLIC_FUNCTIONS_URL],
    ['SUPABASE_URL', env.PUBLIC_FUNCTIONS_URL ? undefined : env.SUPABASE_URL],
  ];
  for (const [variable, value] of checks) {
    const problem = value === undefined ? undefined : insecureUrlProblem(value, env.ALLOW_INSECURE_URLS);
    if (problem) ctx.addIssue({ code: 'custom', path: [variable], message: problem });
  }
};

export const TwilioEnv = z.object({
  TWILIO_ACCOUNT_SID: requiredString,
  TWILIO_AUTH_TOKEN: requiredString,
  TWILIO_API_BASE_URL: url.default('https://api.twilio.com'),
});
export type TwilioEnv = z.infer<typeof TwilioEnv>;

/**
 * OPT_OUT_SECRET: the key of the per-call opt-out URLs (opt-out.ts), a strong secret like the others; unset:
 * derived from TWILIO_AUTH_TOKEN. scheduler-tick, scheduler-admin and call-status read the same one.
 */
export const OptOutEnv = z.object({
  OPT_OUT_SECRET: optionalSecret,
});
export type OptOutEnv = z.infer<typeof OptOutEnv>;

/** A configuration problem, naming the variable(s) at fault. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Validates env with schema. Throws ConfigError naming the first variable at fault (zod's message
 * names the rule, never the value).
 */
export function parseConfig<T>(schema: z.ZodType<T>, env: Record<string, string | undefined>): T {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues;
    const variable = issues[0]?.path.join('.') || 'environment';
    const problems = issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`).join('; ');
    throw new ConfigError(variable, `invalid environment: ${problems}`);
  }
  return parsed.data;
}

/** The database URL: DATABASE_URL (the transaction pooler) wins over SUPABASE_DB_URL (direct). */
export function databaseUrl(env: DatabaseEnv): string {
  const u = env.DATABASE_URL ?? env.SUPABASE_DB_URL;
  if (!u) throw new ConfigError('DATABASE_URL', 'DATABASE_URL (or SUPABASE_DB_URL) is not set');
  return u;
}

/** The functions' public base URL; the schema refines that one of the two is set. */
export function publicFunctionsUrl(env: PublicUrlEnv): string {
  if (env.PUBLIC_FUNCTIONS_URL) return env.PUBLIC_FUNCTIONS_URL;
  if (env.SUPABASE_URL) return `${env.SUPABASE_URL}/functions/v1`;
  throw new ConfigError(
    'PUBLIC_FUNCTIONS_URL',
    'PUBLIC_FUNCTIONS_URL (or SUPABASE_URL) is not set: status callbacks need a public URL',
  );
}

/** Refinements every schema with a database (and a public URL) applies, so the helpers above never throw after parsing. */
export const needsDatabase = (env: DatabaseEnv, ctx: z.RefinementCtx) => {
  if (!env.SUPABASE_DB_URL && !env.DATABASE_URL) {
    ctx.addIssue({ code: 'custom', path: ['SUPABASE_DB_URL'], message: 'SUPABASE_DB_URL (or DATABASE_URL) is not set' });
  }
};
export const needsPublicUrl = (env: PublicUrlEnv, ctx: z.RefinementCtx) => {
  if (!env.PUBLIC_FUNCTIONS_URL && !env.SUPABASE_URL) {
    ctx.addIssue({
      code: 'custom',
      path: ['PUBLIC_FUNCTIONS_URL'],
      message: 'PUBLIC_FUNCTIONS_URL (or SUPABASE_URL) is not set: status callbacks need a public URL',
    });
  }
};

/**
 * Values the function's logger redacts wherever they appear: every string under a variable named
 * *SECRET*, *TOKEN*, *API_KEY*, *WEBHOOK_KEY* or *SIGNING_KEY*, including those inside a parsed one (each subaccount's auth token of
 * TWILIO_SUBACCOUNT_AUTH_TOKENS, an object once parsed), and the secret fields of each entry of
 * PROVIDER_ACCOUNT_CREDENTIALS (providers/credentials.ts).
 */
export function secretsOf(env: object): string[] {
  const out: string[] = [];
  const collect = (v: unknown, depth: number) => {
    if (typeof v === 'string') out.push(v);
    else if (depth < 4 && v !== null && typeof v === 'object') {
      for (const inner of Object.values(v)) {
        collect(inner, depth + 1);
      }
    }
  };
  for (const [k, v] of Object.entries(env)) {
    // The accounts' own credentials: only their secret fields (an entry's kind or URL is no secret).
    if (k === CREDENTIALS_VARIABLE && v !== null && typeof v === 'object') {
      out.push(...credentialSecrets(v as CredentialsByAccount));
    } else if (/SECRET|TOKEN|API_KEY|WEBHOOK_KEY|SIGNING_KEY/.test(k)) collect(v, 0);
  }
  return out;
}

/** Failed authentication per source (auth-limit.ts): how many failures in how long before 429. */
export const AuthLimitEnv = z.object({
  AUTH_FAILURE_LIMIT: intIn(1, 100_000, 20),
  AUTH_FAILURE_WINDOW_SECONDS: intIn(1, 86_400, 900),
  /**
   * Proxies in front of the functions that append the address they saw to X-Forwarded-For: the
   * source of a failure is the hop this many from the right (default 1, the platform's own proxy;
   * 0: the connection's address, for functions reached directly). See docs/DEPLOY.md.
   */
  TRUSTED_PROXY_HOPS: intIn(0, 10, 1),
});
export type AuthLimitEnv = z.infer<typeof AuthLimitEnv>;

export const authLimitOf = (env: AuthLimitEnv) => ({
  limit: env.AUTH_FAILURE_LIMIT,
  windowSeconds: env.AUTH_FAILURE_WINDOW_SECONDS,
  trustedProxyHops: env.TRUSTED_PROXY_HOPS,
});

/**
 * Browser origins allowed to call a function (CORS): DASHBOARD_ORIGIN, comma-separated origins
 * (`https://scheduler.example.org`), or `*` when asked for explicitly. Unset: no browser origin.
 */
export const DashboardOriginEnv = z.object({
  DASHBOARD_ORIGIN: optionalString.pipe(
    z
      .string()
      .optional()
      .transform((s, ctx) => {
        if (s === undefined) return [] as string[];
        const out: string[] = [];
        for (const part of s.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
          if (part === '*') {
            out.push('*');
            continue;
          }
          let origin: string | undefined;
          try {
            const u = new URL(part);
            if (
              (u.protocol === 'http:' || u.protocol === 'https:') && (u.pathname === '/' || u.pathname === '') && !u.search &&
              !u.hash
            ) origin = u.origin;
          } catch {
            origin = undefined;
          }
          if (!origin) {
            ctx.addIssue({ code: 'custom', message: `not an origin (scheme://host[:port]): ${part}` });
            return z.NEVER;
          }
          out.push(origin);
        }
        return out;
      }),
  ),
});
export type DashboardOriginEnv = z.infer<typeof DashboardOriginEnv>;
