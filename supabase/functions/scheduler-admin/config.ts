// scheduler-admin's configuration: what its index.ts reads from the environment, validated once.
// The manual trigger runs a tick, so it needs what the tick needs except the cron secret.

import { z } from 'zod';
import {
  AuthLimitEnv,
  DashboardOriginEnv,
  DatabaseEnv,
  intIn,
  needsDatabase,
  needsPublicUrl,
  optionalString,
  PublicUrlEnv,
  requiredString,
  TwilioEnv,
  url,
} from '../_shared/config.ts';

export const AdminConfig = z
  .object({
    /** The bootstrap operator credential (never the cron secret); named tokens are made with it. */
    ADMIN_TOKEN: requiredString,
    /** The previous admin token, still accepted while ADMIN_TOKEN is rotated. */
    ADMIN_TOKEN_PREVIOUS: optionalString,
    /** The project's JWT secret: when set, Supabase Auth users with app_metadata.role 'operator' may sign in. */
    SUPABASE_JWT_SECRET: optionalString,
    /**
     * The project's JWKS (asymmetric session signing keys, ES256 / RS256); default
     * <SUPABASE_URL>/auth/v1/.well-known/jwks.json when SUPABASE_URL is set; 'off': none.
     */
    SUPABASE_JWKS_URL: z.union([z.literal('off'), url]).optional(),
    /** How long a fetched JWKS is used before it is fetched again (an unknown kid fetches it at once, at most every 30 s). */
    SUPABASE_JWKS_TTL_SECONDS: intIn(30, 86_400, 600),
    ...DashboardOriginEnv.shape,
    ...AuthLimitEnv.shape,
    ...DatabaseEnv.shape,
    ...PublicUrlEnv.shape,
    ...TwilioEnv.shape,
  })
  .superRefine(needsDatabase)
  .superRefine(needsPublicUrl);
export type AdminConfig = z.infer<typeof AdminConfig>;
