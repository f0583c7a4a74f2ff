// The one shape of a provider account as an operator writes it: scheduler-admin validates
// POST / PATCH /accounts with it, the CLI (scripts/campaign.ts accounts ...) checks its arguments
// with it before sending them. Bounds are the table's CHECKs (migration 20261128000250), which stay
// the last word (a violation comes back as a 400 naming the field: ACCOUNT_CONSTRAINT_FIELDS).
//
//   id                    slug: lower-case letter or digit first, then letters, digits, _ and -; 1-63
//   provider              the kind: 'twilio' (default), 'signalwire', 'vapi' or 'retell'; it picks the
//                         adapter and cannot change once created
//   account_sid           twilio: the subaccount SID (AC + 32 hex digits) the calls are created under,
//                         or null: the functions' TWILIO_ACCOUNT_SID (its callbacks are verified with
//                         the subaccount's token from TWILIO_SUBACCOUNT_AUTH_TOKENS); signalwire: a
//                         project id (UUID) or null (SIGNALWIRE_PROJECT_ID); vapi, retell: null
//   calls_per_second      > 0 and <= 10000, or null: scheduler_settings.provider_calls_per_second
//   max_concurrent_calls  1 to 1,000,000, or null: no cap of its own (only the global cap); not given
//                         on creation: 10 for vapi, 20 for retell (their plans' defaults)
//
// The rate bucket (next_send_at) is not an operator's field: only the dispatcher writes it.

import { z } from 'zod';

/** The kinds of provider account: each has its own adapter (supabase/functions/_shared/providers/). */
export const PROVIDER_KINDS = ['twilio', 'signalwire', 'vapi', 'retell'] as const;
export type ProviderKind = typeof PROVIDER_KINDS[number];

export const ACCOUNT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const AccountFields = z.object({
  id: z.string().regex(
    ACCOUNT_ID_PATTERN,
    'id: 1-63 lower-case letters, digits, _ and -, starting with a letter or digit',
  ),
  provider: z.enum(PROVIDER_KINDS),
  account_sid: z
    .string()
    .regex(
      /^(AC[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/,
      'account_sid: a Twilio account SID (AC and 32 lower-case hex digits) or a SignalWire project id (a UUID), or null',
    )
    .nullable(),
  calls_per_second: z
    .number()
    .gt(0, 'calls_per_second: more than 0 and at most 10000 (null: the global setting)')
    .max(10_000, 'calls_per_second: more than 0 and at most 10000 (null: the global setting)')
    .nullable(),
  max_concurrent_calls: z
    .number()
    .int('max_concurrent_calls: a whole number')
    .min(1, 'max_concurrent_calls: 1 to 1000000 (null: no cap of its own)')
    .max(1_000_000, 'max_concurrent_calls: 1 to 1000000 (null: no cap of its own)')
    .nullable(),
});

/** A new account: id required; provider, rate and cap optional (twilio, inherited, the kind's default). */
export const AccountCreate = AccountFields.partial().required({ id: true }).strict().refine(
  (a) => a.account_sid == null || (a.provider ?? 'twilio') === (a.account_sid.startsWith('AC') ? 'twilio' : 'signalwire'),
  {
    message: 'account_sid: an AC... SID for twilio, a project UUID for signalwire, none for vapi and retell',
    path: ['account_sid'],
  },
);
export type AccountCreate = z.infer<typeof AccountCreate>;

/** A change of subaccount, rate and/or cap (null: TWILIO_ACCOUNT_SID / the global rate / no own cap); at least one. */
export const AccountPatch = AccountFields.pick({ account_sid: true, calls_per_second: true, max_concurrent_calls: true })
  .partial()
  .strict()
  .refine(
    (a) => Object.keys(a).length > 0,
    'nothing to change: give account_sid, calls_per_second and/or max_concurrent_calls',
  );
export type AccountPatch = z.infer<typeof AccountPatch>;

/** The field each CHECK constraint of public.provider_accounts guards. */
export const ACCOUNT_CONSTRAINT_FIELDS: Record<string, string> = {
  provider_accounts_id_is_a_slug: 'id',
  provider_accounts_provider_is_known: 'provider',
  provider_accounts_sid_is_twilio: 'account_sid',
  provider_accounts_rate_is_sane: 'calls_per_second',
  provider_accounts_cap_is_positive: 'max_concurrent_calls',
};
