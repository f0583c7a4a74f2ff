// The webhook settings the functions read from the environment (spread into each function's schema).

import { z } from 'zod';
import { optionalString } from '../config.ts';

export const WebhooksEnv = z.object({
  /**
   * WEBHOOKS_ALLOW_PRIVATE_URLS=true (or 1): webhook endpoints may be http:// and resolve to
   * private, loopback or link-local addresses. Local development and tests only; off by default.
   */
  WEBHOOKS_ALLOW_PRIVATE_URLS: optionalString
    .pipe(z.enum(['1', '0', 'true', 'false'], { error: 'must be true or false' }).optional())
    .transform((v) => v === '1' || v === 'true'),
  /** Per delivery request, milliseconds (default 10 s). */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
});
export type WebhooksEnv = z.infer<typeof WebhooksEnv>;
