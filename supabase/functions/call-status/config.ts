// call-status's configuration: what its index.ts reads from the environment, validated once.

import { z } from 'zod';
import { AuthLimitEnv, DatabaseEnv, needsDatabase, needsPublicUrl, PublicUrlEnv, requiredString } from '../_shared/config.ts';

export const CallStatusConfig = z
  .object({
    /** Signs the provider's callbacks (X-Twilio-Signature). */
    TWILIO_AUTH_TOKEN: requiredString,
    ...AuthLimitEnv.shape,
    ...DatabaseEnv.shape,
    ...PublicUrlEnv.shape,
  })
  .superRefine(needsDatabase)
  .superRefine(needsPublicUrl);
export type CallStatusConfig = z.infer<typeof CallStatusConfig>;
