// Response shapes shared by more than one function, as they travel in JSON: the tick's answer
// (scheduler-tick and scheduler-admin's manual trigger) and the dashboard's status payload
// (scheduler-admin GET /status; the dashboard's modules, public/js/, import these types through JSDoc).
//
// Words: a call is *reserved* when the reservation (launch_due_calls) inserts it, and *launched*
// when the provider accepts it. The run log keeps the launched count in calls_launched.
//
// node-postgres turns bigint and numeric into strings, and timestamps travel as ISO strings.

import type { DbEnum } from './db-types.ts';

/** A bigint or numeric value as it arrives in JSON (node-postgres keeps them as text). */
export type BigintText = string;
/** A timestamptz as it arrives in JSON. */
export type IsoTime = string;

export type RunTriggerName = 'pg_cron' | 'pg_net' | 'vercel' | 'manual' | 'local';
export type RunStatus = DbEnum<'scheduler_run_status'>;
export type CampaignStatus = DbEnum<'campaign_status'>;
export type BreakerState = 'closed' | 'open' | 'half_open';

/** One error of a run (scheduler_runs.errors, TickResult.errors). */
export interface RunError {
  stage: 'start' | 'reserve' | 'refill' | 'dispatch' | 'record' | 'breaker' | 'tick' | 'provider_check';
  message: string;
  campaign_id?: string;
  call_id?: string;
  code?: string;
}

/** The one row of public.scheduler_status. */
export interface SchedulerStatusRow {
  last_run_id: BigintText | null;
  last_run_trigger: RunTriggerName | null;
  last_run_status: RunStatus | null;
  last_run_started_at: IsoTime | null;
  last_run_finished_at: IsoTime | null;
  last_run_duration_ms: number | null;
  last_run_calls_reserved: number | null;
  /** Calls the provider accepted in the last run. */
  last_run_calls_launched: number | null;
  last_run_error_count: number | null;
  last_run_errors: RunError[] | null;
  next_run_at: IsoTime | null;
  cron_job_active: boolean | null;
  calls_launched_last_hour: BigintText;
  calls_launched_last_day: BigintText;
  calls_completed_last_day: BigintText;
  runs_last_hour: BigintText | null;
  failed_runs_last_hour: BigintText | null;
  skipped_runs_last_hour: BigintText | null;
  duplicate_runs_last_hour: BigintText | null;
  run_error_rate_last_hour: BigintText | null;
  active_calls: BigintText | null;
  global_max_concurrent_calls: number | null;
  queued_calls: BigintText;
  active_campaigns: BigintText;
  breaker_state: BreakerState;
  breaker_open_until: IsoTime | null;
  /** Calls answered by a machine (AnsweredBy machine_* or fax) that ended in the last hour / day. */
  machine_answers_last_hour: BigintText;
  machine_answers_last_day: BigintText;
}

/** One row of public.scheduler_campaign_progress. */
export interface CampaignProgressRow {
  campaign_id: BigintText;
  name: string;
  status: CampaignStatus;
  priority: number;
  max_concurrent_calls: number;
  active_calls: BigintText;
  queued_calls: BigintText;
  contacts_total: BigintText;
  contacts_pending: BigintText;
  contacts_in_progress: BigintText;
  contacts_done: BigintText;
  contacts_exhausted: BigintText;
  contacts_invalid: BigintText;
  contacts_do_not_call: BigintText;
  contacts_remaining: BigintText;
  last_served_at: IsoTime | null;
  started_at: IsoTime | null;
  completed_at: IsoTime | null;
  /** The campaign's dates (campaigns.starts_at / ends_at): nothing reserved before the start nor from the end. */
  starts_at: IsoTime | null;
  ends_at: IsoTime | null;
  /** Why the scheduler paused the campaign (the provider refused it as a whole), or null. */
  paused_reason: string | null;
  paused_at: IsoTime | null;
  /** The campaign's calls answered by a machine (AnsweredBy machine_* or fax) that ended in the last hour / day. */
  machine_answers_last_hour: BigintText;
  machine_answers_last_day: BigintText;
}

/** Why a campaign's contacts are not being called now (public.contact_wait_reasons). */
export type WaitReason =
  | 'campaign paused'
  | 'campaign not started'
  | 'campaign ended'
  | 'campaign set-up problem'
  | 'do-not-call'
  | 'attempts used'
  | 'scheduled callback'
  | 'retry later'
  | 'window closed'
  | 'quiet hours'
  | 'number in a call'
  | 'frequency cap'
  | 'due';

/**
 * The reasons of a campaign with requires_consent (public.contact_wait_reasons): no consent (none
 * recorded, or given only from a later moment: opens_at), consent expired (detail: when, in the
 * campaign's zone). Kept apart from WaitReason (and ContactWaitRow.reason) until the dashboard's
 * labels, a Record over WaitReason, list them; meanwhile it shows their text.
 */
export type ConsentWaitReason = 'no consent' | 'consent expired';

/** One row of public.contact_wait_reasons: the contacts of an open campaign waiting for one reason. */
export interface ContactWaitRow {
  campaign_id: BigintText;
  campaign_name: string;
  /** For a campaign with requires_consent also a ConsentWaitReason (not in the union yet: see there). */
  reason: WaitReason;
  /**
   * The paused reason, the set-up problem, or for quiet hours the zone the rules keep them waiting
   * in and where it comes from ("in America/Los_Angeles (from the number's prefix +1415) until 08:00").
   */
  detail: string | null;
  contacts: BigintText;
  /** The earliest next_attempt_at of these contacts. */
  next_attempt_at: IsoTime | null;
  /** Until when: the next moment the window and rules allow one of them, the start, or the earliest retry. */
  opens_at: IsoTime | null;
  /** The campaign's zone, to show opens_at in. */
  time_zone: string;
  /** How many of them have no zone data for their number and no typed zone: the rules use the campaign's zone. */
  no_zone_data: BigintText;
}

/** scheduler-admin GET /wait-reasons (why not now). */
export interface WaitReasonsPayload {
  now: IsoTime;
  reasons: ContactWaitRow[];
}

/** The counts of one run, as the run log's columns name them (scheduler_runs). */
export interface RunCountColumns {
  campaigns_processed: number;
  calls_reserved: number;
  /** Calls the provider accepted (launched) in this run. */
  calls_launched: number;
  calls_failed: number;
  calls_unknown: number;
  calls_requeued: number;
  calls_released: number;
  calls_expired: number;
  campaigns_completed: number;
  breaker_state: string | null;
}

/** One row of public.scheduler_recent_runs. */
export interface RunRow extends RunCountColumns {
  id: BigintText;
  trigger: RunTriggerName;
  scheduled_for: IsoTime | null;
  status: RunStatus;
  started_at: IsoTime;
  finished_at: IsoTime | null;
  duration_ms: number | null;
  duplicate_of: BigintText | null;
  error_count: number;
  errors: RunError[];
}

/** Whether the whole scheduler is paused (scheduler_settings.paused_at / paused_reason). */
export interface SchedulerPause {
  paused_at: IsoTime | null;
  paused_reason: string | null;
}

/** scheduler-admin GET /status. */
export interface StatusPayload {
  /** The server's clock when it answered. */
  now: IsoTime;
  /** The scheduler's version (package.json, through _shared/version.ts). */
  version: string;
  /** The whole scheduler paused (nothing reserved, nothing dialled), or both null. */
  pause: SchedulerPause;
  status: SchedulerStatusRow | null;
  campaigns: CampaignProgressRow[];
  runs: RunRow[];
}

/** Statuses a tick answers with: a run status, or rate_limited (a manual trigger refused before any run row was written). */
export type TickStatus = 'ok' | 'partial' | 'failed' | 'skipped' | 'duplicate' | 'rate_limited';

/** The JSON a tick answers (scheduler-tick, and scheduler-admin POST /trigger). */
export interface TickResponseBody {
  run_id: string | null;
  status: TickStatus;
  skipped: boolean;
  duplicate_of: string | null;
  /** Campaigns the reservation examined. */
  processed: number;
  /** Calls the provider accepted. */
  launched: number;
  /** Calls the reservation inserted (queued). */
  reserved: number;
  failed: number;
  unknown: number;
  requeued: number;
  released: number;
  expired: number;
  completed: number;
  breaker: string | null;
  deadline_reached: boolean;
  /** When dispatch goes on in the background after this answer (ISO time), or null. */
  continues_until: string | null;
  duration_ms: number;
  errors: RunError[];
}

/** The subset of a tick's result the response carries (structurally TickResult). */
export interface TickOutcome {
  runId: string | null;
  status: TickStatus;
  skipped: boolean;
  duplicateOf: string | null;
  processed: number;
  launched: number;
  reserved: number;
  failed: number;
  unknown: number;
  requeued: number;
  released: number;
  expired: number;
  completed: number;
  breaker: string | null;
  deadlineReached: boolean;
  /** When dispatch goes on in the background after this answer (ISO time), or null. */
  continuesUntil: string | null;
  durationMs: number;
  errors: RunError[];
}

export function tickResponseBody(result: TickOutcome): TickResponseBody {
  return {
    run_id: result.runId,
    status: result.status,
    skipped: result.skipped,
    duplicate_of: result.duplicateOf,
    processed: result.processed,
    launched: result.launched,
    reserved: result.reserved,
    failed: result.failed,
    unknown: result.unknown,
    requeued: result.requeued,
    released: result.released,
    expired: result.expired,
    completed: result.completed,
    breaker: result.breaker,
    deadline_reached: result.deadlineReached,
    continues_until: result.continuesUntil,
    duration_ms: result.durationMs,
    errors: result.errors,
  };
}
