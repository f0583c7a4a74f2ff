// scheduler-admin's configuration: what its index.ts reads from the environment, validated once.
// The manual trigger runs a tick, so it needs what the tick needs except the cron secret.

import { z } from 'zod';
import { DatabaseEnv, needsDatabase, needsPublicUrl, PublicUrlEnv, requiredString, TwilioEnv } from '../_shared/config.ts';

export const AdminConfig = z
  .object({
    /** Token the dashboard's operator types in to trigger a tick and read status (never the cron secret). */
    ADMIN_TOKEN: requiredString,
    ...DatabaseEnv.shape,
    ...PublicUrlEnv.shape,
    ...TwilioEnv.shape,
  })
  .superRefine(needsDatabase)
  .superRefine(needsPublicUrl);
export type AdminConfig = z.infer<typeof AdminConfig>;
