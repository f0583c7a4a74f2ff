// scheduler-admin's configuration: what its index.ts reads from the environment, validated once.
// The manual trigger runs a tick, so it needs what the tick needs except the cron secret.

import { z } from 'zod';
import {
  AuthLimitEnv,
  DashboardOriginEnv,
  DatabaseEnv,
  InsecureUrlsEnv,
  intIn,
  needsDatabase,
  needsHttps,
  needsPublicUrl,
  optionalSecret,
  optionalString,
  OptOutEnv,
  PublicUrlEnv,
  requiredSecret,
  TwilioEnv,
  url,
} from '../_shared/config.ts';
import { WebhooksEnv } from '../_shared/webhooks/config.ts';
import { platformsNeedHttps, ProvidersEnv } from '../_shared/providers/env.ts';

export const AdminConfig = z
  .object({
    /** The bootstrap operator credential (never the cron secret); named tokens are made with it. */
    ADMIN_TOKEN: requiredSecret,
    /** The previous admin token, still accepted while ADMIN_TOKEN is rotated. */
    ADMIN_TOKEN_PREVIOUS: optionalSecret,
    // Supabase Auth sessions (operator-auth.ts). Hosted Supabase reserves the SUPABASE_ prefix for
    // the secrets it sets itself (`supabase secrets set` skips such names), hence the plain aliases.
    /** The project's (legacy) JWT secret: HS256 sessions of users with app_metadata.role viewer, operator or admin sign in. */
    SUPABASE_JWT_SECRET: optionalString,
    /** The same, under a name a hosted project can set (self-hosted Supabase gives functions JWT_SECRET). */
    JWT_SECRET: optionalString,
    /**
     * The project's JWKS (asymmetric session signing keys, ES256 / RS256); default
     * <SUPABASE_URL>/auth/v1/.well-known/jwks.json when SUPABASE_URL is set; 'off': none.
     */
    SUPABASE_JWKS_URL: z.union([z.literal('off'), url]).optional(),
    /** The project's JWKS itself (Supabase sets it for Edge Functions): seeds the cache when the URL is the project's. */
    SUPABASE_JWKS: optionalString,
    /** The same, under a name a hosted project can set. */
    JWKS_URL: z.union([z.literal('off'), url]).optional(),
    /** How long a fetched JWKS is used before it is fetched again (an unknown kid fetches it at once, at most every 30 s). */
    JWKS_TTL_SECONDS: intIn(30, 86_400, 600),
    ...DashboardOriginEnv.shape,
    ...AuthLimitEnv.shape,
    ...DatabaseEnv.shape,
    ...OptOutEnv.shape,
    ...PublicUrlEnv.shape,
    ...TwilioEnv.shape,
    ...ProvidersEnv.shape,
    ...InsecureUrlsEnv.shape,
    ...WebhooksEnv.shape,
  })
  .superRefine(needsDatabase)
  .superRefine(needsPublicUrl)
  .superRefine(needsHttps)
  .superRefine(platformsNeedHttps);
export type AdminConfig = z.infer<typeof AdminConfig>;
