// scheduler-metrics's configuration: what its index.ts reads from the environment, validated once.

import { z } from 'zod';
import { DatabaseEnv, needsDatabase, optionalString } from '../_shared/config.ts';

export const MetricsConfig = z
  .object({
    /** Optional bearer token; unset means the metrics are public. */
    METRICS_TOKEN: optionalString,
    ...DatabaseEnv.shape,
  })
  .superRefine(needsDatabase);
export type MetricsConfig = z.infer<typeof MetricsConfig>;
