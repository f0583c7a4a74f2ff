// scheduler-metrics's configuration: what its index.ts reads from the environment, validated once.
// Closed by default: without METRICS_TOKEN every request gets 401, unless METRICS_PUBLIC=true says
// the metrics may be read by anyone.

import { z } from 'zod';
import { AuthLimitEnv, DatabaseEnv, needsDatabase, optionalSecret, optionalString } from '../_shared/config.ts';

export const MetricsConfig = z
  .object({
    /** Bearer token a scraper presents. */
    METRICS_TOKEN: optionalSecret,
    /** 'true': anyone may read the metrics without a token (an explicit choice; default false). */
    METRICS_PUBLIC: optionalString.pipe(z.enum(['true', 'false']).optional()).transform((v) => v === 'true'),
    ...AuthLimitEnv.shape,
    ...DatabaseEnv.shape,
  })
  .superRefine(needsDatabase);
export type MetricsConfig = z.infer<typeof MetricsConfig>;
