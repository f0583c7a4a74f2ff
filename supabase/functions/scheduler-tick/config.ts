// scheduler-tick's configuration: what its index.ts reads from the environment, validated once.

import { z } from 'zod';
import {
  AuthLimitEnv,
  DatabaseEnv,
  InsecureUrlsEnv,
  needsDatabase,
  needsHttps,
  needsPublicUrl,
  optionalSecret,
  OptOutEnv,
  PublicUrlEnv,
  requiredSecret,
  TwilioEnv,
} from '../_shared/config.ts';
import { WebhooksEnv } from '../_shared/webhooks/config.ts';
import { platformsNeedHttps, ProvidersEnv } from '../_shared/providers/env.ts';

export const TickConfig = z
  .object({
    /** Secret the tick requires (Authorization: Bearer or x-cron-secret). */
    CRON_SECRET: requiredSecret,
    /** The previous secret, still accepted during a rotation. */
    CRON_SECRET_PREVIOUS: optionalSecret,
    /** Maximum random delay before a tick starts working, counted inside the budget. */
    TICK_JITTER_MS: z.coerce.number().int().min(0).max(30_000).default(0),
    /** Overrides scheduler_settings.tick_budget_ms when set. */
    TICK_BUDGET_MS: z.coerce.number().int().min(1000).max(300_000).optional(),
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
export type TickConfig = z.infer<typeof TickConfig>;
