// The one shape of a campaign as an operator writes it: scheduler-admin validates requests with it,
// the CLI (scripts/campaign.ts) checks its arguments with it before sending them. The database's
// CHECK constraints and triggers stay the last word: a violation comes back as a 400 naming the
// field (CAMPAIGN_CONSTRAINT_FIELDS).
//
// Fields (all optional when editing; name required when creating; absent ones keep the table's
// defaults): name, max_concurrent_calls, priority, provider, provider_account (the id of a row of
// provider_accounts: an unknown one is refused by the database, naming it), caller_id (E.164 or null),
// provider_settings ({url} | {twiml} | {application_sid}, plus provider options), time_zone (IANA),
// window_start / window_end ('HH:MM' or 'HH:MM:SS'), window_days (ISO weekdays, 1 = Monday),
// max_attempts (1-100), the retry rules by outcome (RETRY_OUTCOMES): retry_busy / retry_no_answer /
// retry_failed (true: tried again while attempts remain) and retry_busy_delay / retry_no_answer_delay
// / retry_machine_delay / retry_failed_delay ('<n> seconds|minutes|hours|days', at most 30 days, from
// the call's end; a machine answer is retried per machine_answer_policy), starts_at / ends_at (ISO 8601 date-time with offset, or null; ends after starts),
// requires_consent (true: a contact is called only while its consent is valid; see contact-schema.ts),
// purpose (telemarketing, informational, debt_collection, or null: every calling-hours rule applies),
// machine_answer_policy (retry: a call a machine answered is retried like a no-answer; done: a
// message was left, the contact is done; detection itself is provider_settings.machine_detection).
//
// Every column of public.campaigns is here except those the scheduler owns (SERVER_OWNED_CAMPAIGN_COLUMNS):
// test/operator/campaign-columns.test.ts fails when a new column is neither.

import { z } from 'zod';
import { E164_PATTERN } from './phone.ts';
import { ACCOUNT_ID_PATTERN } from './account-schema.ts';

const TIME_OF_DAY = /^(([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?|24:00(:00)?)$/;
const INTERVAL = /^([1-9][0-9]{0,6}) (second|minute|hour|day)s?$/;
const SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86_400 };
const MAX_INT = 2_147_483_647;

/**
 * The outcomes a retry rule is kept for, with their columns: whether (null: machine_answer_policy
 * decides) and the delay from the call's end. The table's defaults are the usual dialer practice
 * (docs/OPERATOR.md, "Retry rules").
 */
export const RETRY_OUTCOMES = [
  { outcome: 'busy', retry: 'retry_busy', delay: 'retry_busy_delay', defaultDelay: '10 minutes' },
  { outcome: 'no answer', retry: 'retry_no_answer', delay: 'retry_no_answer_delay', defaultDelay: '2 hours' },
  { outcome: 'machine', retry: null, delay: 'retry_machine_delay', defaultDelay: '4 hours' },
  { outcome: 'failed', retry: 'retry_failed', delay: 'retry_failed_delay', defaultDelay: '30 minutes' },
] as const;

/** A retry delay: '<n> seconds|minutes|hours|days', more than nothing, at most 30 days. */
function retryDelay(field: string) {
  return z
    .string()
    .regex(INTERVAL, `${field} must look like '30 minutes' (seconds, minutes, hours or days)`)
    .refine((s) => {
      const m = INTERVAL.exec(s);
      return m !== null && Number(m[1]) * SECONDS[m[2]!]! <= 30 * 86_400;
    }, `${field}: at most 30 days`);
}

/** Why a campaign calls: which calling_hours_rules apply to it (their purposes; null: all of them). */
export const CAMPAIGN_PURPOSES = ['telemarketing', 'informational', 'debt_collection'] as const;

/** What a call answered by a machine means for its contact (campaigns.machine_answer_policy). */
export const MACHINE_ANSWER_POLICIES = ['retry', 'done'] as const;

/** Columns of public.campaigns that no request sets: the scheduler's state and bookkeeping. */
export const SERVER_OWNED_CAMPAIGN_COLUMNS = [
  'id',
  'status', // changed by the actions (pause, resume, cancel) and the scheduler, not by an edit
  'set_up_problem', // computed from caller_id and provider_settings
  'paused_reason',
  'paused_at',
  'last_served_at',
  'started_at',
  'completed_at',
  'created_at',
  'updated_at',
] as const;

export const CAMPAIGN_ACTIONS = ['pause', 'resume', 'cancel'] as const;
export type CampaignAction = (typeof CAMPAIGN_ACTIONS)[number];

export const CampaignFields = z.object({
  name: z.string().trim().min(1, 'name must not be blank').max(200, 'name: at most 200 characters'),
  max_concurrent_calls: z.number().int().min(1, 'max_concurrent_calls must be at least 1').max(100_000),
  priority: z.number().int().min(-MAX_INT).max(MAX_INT),
  // Set from the account by the database (campaigns_provider_from_account); accepted when it agrees.
  provider: z.enum(['twilio', 'signalwire', 'vapi', 'retell']),
  provider_account: z.string().regex(
    ACCOUNT_ID_PATTERN,
    'provider_account must be an account id such as default (lower-case letters, digits, _ and -)',
  ),
  caller_id: z.string().regex(E164_PATTERN, 'caller_id must be an E.164 number such as +15551230000').nullable(),
  provider_settings: z
    .record(z.string().max(64), z.unknown())
    .refine(
      (s) => ['url', 'twiml', 'application_sid'].filter((k) => typeof s[k] === 'string' && s[k] !== '').length <= 1,
      'provider_settings: at most one of url, twiml, application_sid',
    )
    // The provider options, refused here rather than at the first dial (twilio.ts reads them).
    .refine(
      (s) =>
        s.machine_detection === undefined || s.machine_detection === null || s.machine_detection === true ||
        (typeof s.machine_detection === 'string' && /^(enable|detectmessageend)$/i.test(s.machine_detection.trim())),
      { message: 'provider_settings.machine_detection must be Enable, DetectMessageEnd or true', path: ['machine_detection'] },
    )
    .refine(
      (s) =>
        s.timeout === undefined || s.timeout === null ||
        (typeof s.timeout === 'number' && Number.isInteger(s.timeout) && s.timeout >= 1 && s.timeout <= 600),
      { message: 'provider_settings.timeout must be a whole number of seconds from 1 to 600', path: ['timeout'] },
    )
    .refine(
      (s) => s.method === undefined || s.method === null || (typeof s.method === 'string' && /^(GET|POST)$/i.test(s.method)),
      { message: 'provider_settings.method must be GET or POST', path: ['method'] },
    ),
  time_zone: z.string().regex(
    /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/,
    'time_zone must be an IANA name such as Europe/Paris',
  )
    .max(64),
  window_start: z.string().regex(TIME_OF_DAY, 'window_start must be HH:MM'),
  window_end: z.string().regex(TIME_OF_DAY, 'window_end must be HH:MM'),
  window_days: z
    .array(z.number().int().min(1).max(7))
    .min(1, 'window_days: at least one day')
    .max(7)
    .refine((d) => new Set(d).size === d.length, 'window_days: each day once'),
  max_attempts: z.number().int().min(1, 'max_attempts: 1 to 100').max(100, 'max_attempts: 1 to 100'),
  retry_busy: z.boolean({ message: 'retry_busy must be true or false' }),
  retry_busy_delay: retryDelay('retry_busy_delay'),
  retry_no_answer: z.boolean({ message: 'retry_no_answer must be true or false' }),
  retry_no_answer_delay: retryDelay('retry_no_answer_delay'),
  retry_machine_delay: retryDelay('retry_machine_delay'),
  retry_failed: z.boolean({ message: 'retry_failed must be true or false' }),
  retry_failed_delay: retryDelay('retry_failed_delay'),
  starts_at: z.string().datetime({ offset: true, message: 'starts_at must be an ISO 8601 date-time' }).nullable(),
  ends_at: z.string().datetime({ offset: true, message: 'ends_at must be an ISO 8601 date-time' }).nullable(),
  purpose: z.enum(CAMPAIGN_PURPOSES, {
    message: 'purpose must be telemarketing, informational or debt_collection (or null)',
  }).nullable(),
  requires_consent: z.boolean({ message: 'requires_consent must be true or false' }),
  machine_answer_policy: z.enum(MACHINE_ANSWER_POLICIES, { message: 'machine_answer_policy must be retry or done' }),
});

/** ends_at after starts_at, when both are given. */
function endsAfterStarts(c: { starts_at?: string | null; ends_at?: string | null }): boolean {
  return !c.starts_at || !c.ends_at || Date.parse(c.ends_at) > Date.parse(c.starts_at);
}

/** A new campaign: name required, every other field optional (the table's defaults). */
export const CampaignCreate = CampaignFields.partial().required({ name: true }).strict()
  .refine((c) => c.window_start === undefined || c.window_start !== c.window_end, {
    message: 'window_start and window_end must differ',
    path: ['window_end'],
  })
  .refine(endsAfterStarts, { message: 'ends_at must be after starts_at', path: ['ends_at'] });
export type CampaignCreate = z.infer<typeof CampaignCreate>;

/** An edit: any of the fields, at least one. */
export const CampaignPatch = CampaignFields.partial().strict()
  .refine((c) => Object.keys(c).length > 0, 'nothing to change: give at least one field')
  .refine((c) => c.window_start === undefined || c.window_start !== c.window_end, {
    message: 'window_start and window_end must differ',
    path: ['window_end'],
  })
  .refine(endsAfterStarts, { message: 'ends_at must be after starts_at', path: ['ends_at'] });
export type CampaignPatch = z.infer<typeof CampaignPatch>;

/** The field each CHECK constraint (or checking trigger) of public.campaigns guards. */
export const CAMPAIGN_CONSTRAINT_FIELDS: Record<string, string> = {
  campaigns_name_is_not_blank: 'name',
  campaigns_cap_is_positive: 'max_concurrent_calls',
  campaigns_caller_id_is_e164: 'caller_id',
  campaigns_provider_is_known: 'provider',
  campaigns_provider_account_fkey: 'provider_account',
  campaigns_provider_matches_account: 'provider',
  campaigns_provider_settings_is_object: 'provider_settings',
  campaigns_window_is_not_empty: 'window_end',
  campaigns_window_days_are_iso_weekdays: 'window_days',
  campaigns_max_attempts_is_positive: 'max_attempts',
  campaigns_retry_busy_delay_is_sane: 'retry_busy_delay',
  campaigns_retry_no_answer_delay_is_sane: 'retry_no_answer_delay',
  campaigns_retry_machine_delay_is_sane: 'retry_machine_delay',
  campaigns_retry_failed_delay_is_sane: 'retry_failed_delay',
  campaigns_time_zone_is_valid: 'time_zone',
  campaigns_ends_after_starts: 'ends_at',
  campaigns_purpose_is_known: 'purpose',
  campaigns_machine_answer_policy_is_known: 'machine_answer_policy',
};

/** zod issues as one line each: "field: message". */
export function describeIssues(error: z.ZodError): Array<{ field: string; message: string }> {
  return error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
}
