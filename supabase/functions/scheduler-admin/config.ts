// scheduler-admin's configuration: what its index.ts reads from the environment, validated once.
// The manual trigger runs a tick, so it needs what the tick needs except the cron secret.

import { z } from 'zod';
import {
  AuthLimitEnv,
  DashboardOriginEnv,
  DatabaseEnv,
  needsDatabase,
  needsPublicUrl,
  optionalString,
  PublicUrlEnv,
  requiredString,
  TwilioEnv,
} from '../_shared/config.ts';

export const AdminConfig = z
  .object({
    /** The bootstrap operator credential (never the cron secret); named tokens are made with it. */
    ADMIN_TOKEN: requiredString,
    /** The previous admin token, still accepted while ADMIN_TOKEN is rotated. */
    ADMIN_TOKEN_PREVIOUS: optionalString,
    /** The project's JWT secret: when set, Supabase Auth users with app_metadata.role 'operator' may sign in. */
    SUPABASE_JWT_SECRET: optionalString,
    ...DashboardOriginEnv.shape,
    ...AuthLimitEnv.shape,
    ...DatabaseEnv.shape,
    ...PublicUrlEnv.shape,
    ...TwilioEnv.shape,
  })
  .superRefine(needsDatabase)
  .superRefine(needsPublicUrl);
export type AdminConfig = z.infer<typeof AdminConfig>;
