// Every SQL statement the Edge Functions send, with the types of the rows they read (pgflow's edge
// worker keeps its Queries.ts the same way). Handlers and the tick call these functions; no other
// module writes SQL. Numbers that node-postgres returns as strings (bigint, numeric) are converted
// here, once.

import type { SqlClient } from './db.ts';
import type { Columns, FunctionRow, KeysAreColumns } from './db-types.ts';
import type { OperatorRole } from './roles.ts';
import type { ImportRow } from './contacts-csv.ts';
import type {
  CampaignProgressRow,
  ContactWaitRow,
  RunCountColumns,
  RunRow,
  SchedulerPause,
  SchedulerStatusRow,
  StatusPayload,
} from './status.ts';

// ---------------------------------------------------------------------------------------------
// Settings

/** Scheduler settings the dispatcher needs, read from public._settings(). */
export interface DispatchSettings {
  globalMaxConcurrentCalls: number;
  campaignsPerTick: number;
  providerCallsPerSecond: number;
  dispatchConcurrency: number;
  dispatchBatchSize: number;
  providerRequestTimeoutMs: number;
  tickBudgetMs: number;
  manualTriggerMinIntervalMs: number;
  /** How long after its start a tick's dispatcher goes on in the background (0: only inside the tick). */
  backgroundDispatchMs: number;
  /** A background dispatcher with an empty queue reserves again at most this often. */
  refillIntervalMs: number;
  /** Slack kept in every one-second window of the provider rate; a slot missed by more than half of it is given up. */
  rateMarginMs: number;
  /** The whole scheduler is paused (scheduler_settings.paused_at): the tick does nothing. */
  paused: boolean;
}

export async function readSettings(db: SqlClient): Promise<DispatchSettings> {
  const { rows } = await db.query<Record<string, string | number | boolean>>(
    `select global_max_concurrent_calls, campaigns_per_tick, provider_calls_per_second::float8 as cps,
            dispatch_concurrency, dispatch_batch_size, provider_request_timeout_ms, tick_budget_ms,
            (extract(epoch from manual_trigger_min_interval) * 1000)::float8 as manual_ms,
            background_dispatch_ms, refill_interval_ms, rate_margin_ms, paused_at is not null as paused
       from public._settings()`,
  );
  const r = rows[0];
  if (!r) throw new Error('scheduler settings are missing');
  return {
    globalMaxConcurrentCalls: Number(r.global_max_concurrent_calls),
    campaignsPerTick: Number(r.campaigns_per_tick),
    providerCallsPerSecond: Number(r.cps),
    dispatchConcurrency: Number(r.dispatch_concurrency),
    dispatchBatchSize: Number(r.dispatch_batch_size),
    providerRequestTimeoutMs: Number(r.provider_request_timeout_ms),
    tickBudgetMs: Number(r.tick_budget_ms),
    manualTriggerMinIntervalMs: Number(r.manual_ms),
    backgroundDispatchMs: Number(r.background_dispatch_ms),
    refillIntervalMs: Number(r.refill_interval_ms),
    rateMarginMs: Number(r.rate_margin_ms),
    paused: r.paused === true,
  };
}

// ---------------------------------------------------------------------------------------------
// The run log

export type RunTrigger = 'pg_cron' | 'pg_net' | 'vercel' | 'manual' | 'local';

export interface RunStart {
  /** null: a manual trigger came too soon after the previous one (no row was written). */
  runId: string | null;
  /** Set when another run already holds this trigger and minute. */
  duplicateOf: string | null;
  retryAfterMs: number | null;
}

export async function startSchedulerRun(
  db: SqlClient,
  run: { trigger: RunTrigger; scheduledFor: Date | null; details: Record<string, unknown>; now: Date },
): Promise<RunStart> {
  const { rows } = await db.query<{ run_id: string | null; duplicate_of: string | null; retry_after_ms: number | null }>(
    'select run_id::text, duplicate_of::text, retry_after_ms from public.start_scheduler_run($1, $2, $3, $4)',
    [run.trigger, run.scheduledFor, JSON.stringify(run.details), run.now],
  );
  return {
    runId: rows[0]?.run_id ?? null,
    duplicateOf: rows[0]?.duplicate_of ?? null,
    retryAfterMs: rows[0]?.retry_after_ms ?? null,
  };
}

/** The counts finish_scheduler_run() writes into the run row (its column names). */
export interface RunCounts extends RunCountColumns {
  details: Record<string, unknown>;
}

export async function finishSchedulerRun(
  db: SqlClient,
  runId: string,
  status: string,
  counts: RunCounts,
  errors: ReadonlyArray<object>,
): Promise<void> {
  await db.query('select public.finish_scheduler_run($1, $2, $3, $4)', [
    runId,
    status,
    JSON.stringify(counts),
    JSON.stringify(errors),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Leases (see lease.ts): taken, renewed and released in one statement each.

export interface LeaseState {
  acquired: boolean;
  /** The holder's fencing token (bigint as text), or the current holder's when not acquired. */
  token: string | null;
  holder: string | null;
  expiresAt: Date | null;
}

/** Takes the lease when free, or from anyone when takeOver (the handover to the newest dispatcher). */
export async function acquireLease(
  db: SqlClient,
  name: string,
  holder: string,
  ttlMs: number,
  now: Date,
  takeOver = false,
): Promise<LeaseState> {
  const { rows } = await db.query<{ acquired: boolean; token: string | null; holder: string | null; expires_at: Date | null }>(
    'select acquired, token::text as token, holder, expires_at from public.acquire_scheduler_lease($1, $2, $3, $4, $5)',
    [name, holder, Math.ceil(ttlMs), now, takeOver],
  );
  const r = rows[0];
  return { acquired: r?.acquired === true, token: r?.token ?? null, holder: r?.holder ?? null, expiresAt: r?.expires_at ?? null };
}

/** False when the lease is no longer held with this token (expired, released, taken over). */
export async function renewLease(db: SqlClient, name: string, token: string, ttlMs: number, now: Date): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>('select public.renew_scheduler_lease($1, $2, $3, $4) as ok', [
    name,
    token,
    Math.ceil(ttlMs),
    now,
  ]);
  return rows[0]?.ok === true;
}

export async function releaseLease(db: SqlClient, name: string, token: string): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>('select public.release_scheduler_lease($1, $2) as ok', [name, token]);
  return rows[0]?.ok === true;
}

// ---------------------------------------------------------------------------------------------
// The reservation (housekeeping + launch_due_calls)

export type ReservationOutcome = 'reserved' | 'busy' | 'paused';

/** What reserve_due_calls() answers (contract C1): one row of counts. */
export interface Reservation {
  /** busy: another reservation held the lock; nothing was reserved this time (queued calls can still be dispatched). */
  outcome: ReservationOutcome;
  campaignsProcessed: number;
  callsReserved: number;
  campaignsCompleted: number;
  callsReleased: number;
  callsExpired: number;
  /** Campaigns that cannot be called as set up (e.g. no caller id), with why. */
  problems: Array<{ campaign_id: string; message: string }>;
  /** The database's clock once the statement had run (ms since the epoch, with a fraction). */
  databaseNowMs: number;
}

/**
 * Housekeeping and the reservation: public.reserve_due_calls(p_run_id, p_now, p_housekeeping), one
 * typed row. A refill (housekeeping false) only reserves. now null: the database's clock, read as
 * each step runs.
 */
export async function reserveDueCalls(
  db: SqlClient,
  runId: string,
  now: Date | null,
  housekeeping = true,
): Promise<Reservation> {
  // Housekeeping + launch_due_calls() in one statement (one transaction, autocommit).
  const { rows } = await db.query<{
    outcome: ReservationOutcome;
    campaigns_processed: number;
    calls_reserved: number;
    campaigns_completed: number;
    calls_released: number;
    calls_expired: number;
    problems: Array<{ campaign_id: string; message: string }>;
    db_now_ms: number;
  }>(
    `select r.*, (extract(epoch from pg_catalog.clock_timestamp()) * 1000)::float8 as db_now_ms
       from public.reserve_due_calls($1, $2, $3) r`,
    [runId, now, housekeeping],
  );
  const step = rows[0];
  if (!step) throw new Error('reserve_due_calls() answered no row');
  return {
    outcome: step.outcome,
    campaignsProcessed: step.campaigns_processed,
    callsReserved: step.calls_reserved,
    campaignsCompleted: step.campaigns_completed,
    callsReleased: step.calls_released,
    callsExpired: step.calls_expired,
    problems: step.problems,
    databaseNowMs: step.db_now_ms,
  };
}

// ---------------------------------------------------------------------------------------------
// Dispatch

/** A call claim_queued_calls() hands to the dispatcher (release_reason set: released, not to send). */
export interface ClaimedCall {
  call_id: string;
  campaign_id: string;
  contact_id: string;
  attempt: number;
  to_phone: string;
  caller_id: string;
  provider: string;
  provider_settings: Record<string, unknown>;
  release_reason: string | null;
  /** The provider account the call is created under. */
  provider_account: string;
  /**
   * The call's send slot from its account's rate bucket, in milliseconds since the epoch with the
   * database's microseconds as a fraction (slots at high rates are a fraction of a millisecond apart;
   * a Date would truncate them); null for a released call. Never send before it.
   */
  send_at: number | null;
  /** The contact's name (contacts.name), for the call flow. */
  contact_name: string | null;
  /** The Twilio subaccount the call is created under (null: the main account). */
  account_sid: string | null;
  /**
   * The account's bucket after this claim (provider_accounts.next_send_at, as exact text; null for a
   * released call): what a give-back names, so that it applies only while nobody claimed after it.
   */
  bucket_until: string | null;
}

/** Every key of ClaimedCall is a column claim_queued_calls() answers (db-types.ts). */
export type ClaimedCallColumns = Columns<KeysAreColumns<ClaimedCall, FunctionRow<'claim_queued_calls'>>>;

/** The part of a claim's shift an account did not use, handed back by the next claim. */
export interface ShiftGiveBack {
  account: string;
  /** The account's bucket_until from the claim that took the shift. */
  until: string;
  ms: number;
}

/**
 * Claims up to `limit` queued calls for this run (checked at `now`), each with a send slot from its
 * account's rate bucket, from `now` to `horizonMs` after it; each account's slots may go out up to
 * `shiftMs` late (a shift that never decreases along the claim), and `giveBack` returns the shift
 * the previous claim did not use. `leaseToken`: the dispatch lease's fencing token when
 * the claim is guarded by it (claim_queued_calls raises SL001 once it is lost), or null.
 */
export async function claimQueuedCalls(
  db: SqlClient,
  claim: {
    limit: number;
    runId: string | null;
    now: Date;
    leaseToken: string | null;
    horizonMs: number;
    shiftMs: number;
    giveBack: ShiftGiveBack[];
  },
): Promise<ClaimedCall[]> {
  const { rows } = await db.query<ClaimedCall>(
    `select call_id::text, campaign_id::text, contact_id::text, attempt, to_phone, caller_id, provider,
            provider_settings, release_reason, provider_account,
            (extract(epoch from send_at) * 1000)::float8 as send_at, contact_name, account_sid, bucket_until::text
       from public.claim_queued_calls($1, $2, $3, $4, $5, $6, $7)`,
    [
      claim.limit,
      claim.runId,
      claim.now,
      claim.leaseToken,
      Math.max(0, Math.round(claim.horizonMs)),
      Math.max(0, Math.round(claim.shiftMs)),
      claim.giveBack.length > 0 ? JSON.stringify(claim.giveBack) : null,
    ],
  );
  return rows;
}

/** Whether queued calls wait for a send slot now (never while the whole scheduler is paused: nothing is claimed then). */
export async function queuedCallsDue(db: SqlClient, now: Date): Promise<boolean> {
  const { rows } = await db.query<{ due: boolean }>(
    `select not public.scheduler_paused() and exists (
       select 1 from public.calls cl
        where cl.status = 'queued' and cl.dispatch_after <= $1
          and cl.campaign_id <> all (public._dispatch_blocked_campaigns($1, (select s.breaker_cooldown from public._settings() s)))
     ) as due`,
    [now],
  );
  return rows[0]?.due === true;
}

/** A provider account whose circuit breaker holds due calls back. */
export interface BlockedAccount {
  account: string;
  state: string;
  openUntil: Date | null;
  queuedCalls: number;
}

/** The accounts whose breaker is open (or probing) while calls of theirs are queued: what a run reports. */
export async function blockedAccounts(db: SqlClient, now: Date): Promise<BlockedAccount[]> {
  const { rows } = await db.query<{ account: string; state: string; open_until: Date | null; due: number }>(
    `select b.account, b.state, b.open_until, count(*)::int as due
       from public.calls cl
       join public.campaigns c on c.id = cl.campaign_id
       join public.provider_circuit_breakers b on b.account = c.provider_account
      where cl.status = 'queued'
        and public._account_dispatch_blocked(b.account, $1, (select s.breaker_cooldown from public._settings() s))
      group by b.account, b.state, b.open_until
      order by b.account`,
    [now],
  );
  return rows.map((r) => ({ account: r.account, state: r.state, openUntil: r.open_until, queuedCalls: r.due }));
}

/** One provider answer as record_dispatch_results() takes it (see its migration). */
export interface DispatchResultRow {
  call_id: string;
  /** campaign_rejected: a campaign-level refusal (the call released, the campaign paused). */
  outcome: 'accepted' | 'retryable' | 'permanent' | 'unknown' | 'campaign_rejected';
  provider_call_id?: string | null;
  status?: string | null;
  reason?: string | null;
  error_code?: string | null;
  retry_at?: string | null;
  invalid_number?: boolean;
  at: string;
  /** A 429: the account's rate bucket is held until then (Retry-After), for every dispatcher. */
  hold_until?: string | null;
  /** What the answer says about the provider's health (record_provider_result), if anything. */
  breaker_success?: boolean;
  breaker_reason?: string | null;
}

/** A call in doubt that calls_to_check_at_provider() handed out (marked looked up). */
export interface CallToCheck {
  call_id: string;
  provider: string;
  provider_call_id: string | null;
  to_phone: string;
  caller_id: string;
  account_sid: string | null;
  dialed_at: Date;
  status: string;
}

/** Every key of CallToCheck is a column calls_to_check_at_provider() answers. */
export type CallToCheckColumns = Columns<KeysAreColumns<CallToCheck, FunctionRow<'calls_to_check_at_provider'>>>;

/** Up to `limit` calls in doubt to look up at the provider now (each marked, so no other tick asks too). */
export async function callsToCheckAtProvider(
  db: SqlClient,
  now: Date,
  limit: number,
): Promise<Array<CallToCheck & { provider_account: string }>> {
  // The call's provider account (its campaign's) picks the adapter of an account with its own credentials.
  const { rows } = await db.query<CallToCheck & { provider_account: string }>(
    `select t.call_id::text, t.provider, t.provider_call_id, t.to_phone, t.caller_id, t.account_sid, t.dialed_at,
            t.status::text, cp.provider_account
       from public.calls_to_check_at_provider($1, $2) t
       join public.calls cl on cl.id = t.call_id
       join public.campaigns cp on cp.id = cl.campaign_id`,
    [now, limit],
  );
  return rows;
}

/** Applies what the provider said about a call in doubt (settle_call_from_provider); returns its verdict. */
export async function settleCallFromProvider(
  db: SqlClient,
  provider: string,
  callId: string,
  found: { providerCallId: string; status: string; durationSeconds?: number; answeredBy?: string } | null,
  now: Date,
): Promise<string> {
  const { rows } = await db.query<{ verdict: string }>(
    `select public.settle_call_from_provider($1, $2, $3, $4, $5::public.call_status, $6, $7, $8) as verdict`,
    [
      callId,
      provider,
      found !== null,
      found?.providerCallId ?? null,
      found?.status ?? null,
      found?.durationSeconds ?? null,
      found?.answeredBy ?? null,
      now,
    ],
  );
  return rows[0]?.verdict ?? 'not_found';
}

/** Records many answers in one round trip; returns the breaker state after each, in order. */
export async function recordDispatchResults(
  db: SqlClient,
  provider: string,
  rows: DispatchResultRow[],
): Promise<Array<string | null>> {
  const { rows: out } = await db.query<{ breaker_state: string | null }>(
    'select breaker_state from public.record_dispatch_results($1, $2::jsonb)',
    [provider, JSON.stringify(rows)],
  );
  if (out.length !== rows.length) {
    throw new Error(`record_dispatch_results answered ${out.length} rows for ${rows.length} results`);
  }
  return out.map((o) => o.breaker_state);
}

/** What the circuit breaker allows now: send ('closed'), one probe call ('probe'), or nothing ('open'). */
export type DispatchPermit = 'closed' | 'probe' | 'open';

/** What the circuit breaker of provider account `account` allows now. */
export async function acquireDispatchPermit(db: SqlClient, account: string, now: Date): Promise<DispatchPermit> {
  const { rows } = await db.query<{ p: string }>('select public.acquire_dispatch_permit($1, $2) as p', [account, now]);
  return (rows[0]?.p ?? 'open') as DispatchPermit;
}

// ---------------------------------------------------------------------------------------------
// call-status

export interface CallStatusChange {
  callId: string | null;
  provider: string;
  providerCallId: string;
  status: string;
  durationSeconds: number | null;
  errorCode: string | null;
  /** The provider's AnsweredBy, when it reported one. */
  answeredBy?: string | null;
  /**
   * The account the callback comes from (its AccountSid, which the signature was verified for);
   * null: the main account. apply_call_status() answers 'wrong_account' unless it is the call's.
   */
  accountSid: string | null;
}

/** apply_call_status()'s answer: 'applied', 'ignored', 'not_found', 'mismatch', 'wrong_account'. */
/**
 * The provider account of a call (its campaign's), found by our id or else by the platform's call id;
 * null when there is no such call.
 */
export async function providerAccountOfCall(
  db: SqlClient,
  callId: string | null,
  provider: string,
  providerCallId: string,
): Promise<string | null> {
  const { rows } = await db.query<{ provider_account: string }>(
    callId !== null
      ? `select cp.provider_account from public.calls cl join public.campaigns cp on cp.id = cl.campaign_id
          where cl.id = $1::bigint`
      : `select cp.provider_account from public.calls cl join public.campaigns cp on cp.id = cl.campaign_id
          where cl.provider = $1 and cl.provider_call_id = $2`,
    callId !== null ? [callId] : [provider, providerCallId],
  );
  return rows[0]?.provider_account ?? null;
}

export async function applyCallStatus(db: SqlClient, c: CallStatusChange): Promise<string> {
  const { rows } = await db.query<{ r: string }>(
    'select public.apply_call_status($1, $2, $3, $4, $5, $6, p_answered_by => $7, p_account_sid => $8) as r',
    [
      c.callId,
      c.provider,
      c.providerCallId,
      c.status,
      c.durationSeconds,
      c.errorCode,
      c.answeredBy ?? null,
      c.accountSid,
    ],
  );
  return rows[0]?.r ?? 'not_found';
}

// ---------------------------------------------------------------------------------------------
// scheduler-admin

/** The dashboard's status payload (without `now`, which the handler adds). */
export async function readStatus(db: SqlClient): Promise<Omit<StatusPayload, 'now' | 'version'>> {
  const [status, campaigns, runs, pause] = await Promise.all([
    db.query<SchedulerStatusRow>('select * from public.scheduler_status'),
    db.query<CampaignProgressRow>(
      `select * from public.scheduler_campaign_progress
        order by (status in ('QUEUED', 'RUNNING')) desc, campaign_id limit 100`,
    ),
    db.query<RunRow>('select * from public.scheduler_recent_runs limit 20'),
    db.query<SchedulerPause>('select paused_at, paused_reason from public._settings()'),
  ]);
  return {
    status: status.rows[0] ?? null,
    campaigns: campaigns.rows,
    runs: runs.rows,
    pause: pause.rows[0] ?? { paused_at: null, paused_reason: null },
  };
}

/** Pauses (with a reason) or resumes the whole scheduler (set_scheduler_paused()); answers the new state. */
export async function setSchedulerPaused(db: SqlClient, paused: boolean, reason: string | null): Promise<SchedulerPause> {
  const { rows } = await db.query<SchedulerPause>(
    'select paused_at, paused_reason from public.set_scheduler_paused($1, $2)',
    [paused, reason],
  );
  const row = rows[0];
  if (!row) throw new Error('set_scheduler_paused() answered no row');
  return row;
}

/**
 * Why not now (public.contact_wait_reasons), for the dashboard: evaluated per contact at now(), so
 * read on its own route and less often than the status.
 */
export async function readWaitReasons(db: SqlClient): Promise<ContactWaitRow[]> {
  const { rows } = await db.query<ContactWaitRow>(
    `select campaign_id::text as campaign_id, campaign_name, reason, detail, contacts::text as contacts,
            next_attempt_at, opens_at, time_zone, no_zone_data::text as no_zone_data
       from public.contact_wait_reasons
      order by campaign_id, contacts desc, reason
      limit 1000`,
  );
  return rows;
}

// ---------------------------------------------------------------------------------------------
// scheduler-metrics

export interface MetricsRunGroup {
  trigger: string;
  status: string;
  n: number;
  /** Calls the provider accepted (launched), summed over the group's runs. */
  launched: number;
  reserved: number;
  failed: number;
}

export interface MetricsCampaign {
  campaign_id: string;
  name: string;
  active_calls: number;
  max_concurrent_calls: number;
  contacts_remaining: number;
  machine_answers_last_day: number;
}

export async function readMetrics(
  db: SqlClient,
): Promise<{ status: Record<string, unknown>; runs: MetricsRunGroup[]; campaigns: MetricsCampaign[] }> {
  const [status, runs, campaigns] = await Promise.all([
    db.query<Record<string, unknown>>('select * from public.scheduler_status'),
    db.query<MetricsRunGroup>(
      `select trigger::text, status::text, count(*)::float8 as n, coalesce(sum(calls_launched), 0)::float8 as launched,
              coalesce(sum(calls_reserved), 0)::float8 as reserved, coalesce(sum(calls_failed), 0)::float8 as failed
         from public.scheduler_runs group by 1, 2`,
    ),
    db.query<MetricsCampaign>(
      `select campaign_id::text, name, active_calls::float8, max_concurrent_calls::float8, contacts_remaining::float8,
              machine_answers_last_day::float8
         from public.scheduler_campaign_progress where status in ('QUEUED', 'RUNNING') order by campaign_id limit 500`,
    ),
  ]);
  return { status: status.rows[0] ?? {}, runs: runs.rows, campaigns: campaigns.rows };
}

// ---------------------------------------------------------------------------------------------
// Operator credentials and the audit trail (operator-auth.ts, scheduler-admin, npm run operator)

/** Bytes as hex text (bytea goes over the wire as decode($n, 'hex')). */
const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** A named operator token as the API and the CLI list it (never its hash). */
export interface OperatorTokenRow {
  id: string;
  name: string;
  role: OperatorRole;
  created_at: Date;
  created_by: string;
  created_by_token_id: string | null;
  expires_at: Date;
  revoked_at: Date | null;
  revoked_by: string | null;
  last_used_at: Date | null;
  /** 'valid', 'expired' or 'revoked' at the time of the query. */
  state: 'valid' | 'expired' | 'revoked';
}

/** The named token whose SHA-256 this is, when valid at now (neither revoked nor expired). */
export async function authenticateOperatorToken(
  db: SqlClient,
  sha256: Uint8Array,
  now: Date,
): Promise<{ id: string; name: string; role: OperatorRole } | null> {
  const { rows } = await db.query<{ id: string; name: string; role: OperatorRole }>(
    "select id::text, name, role from public.authenticate_operator_token(decode($1, 'hex'), $2)",
    [hex(sha256), now],
  );
  return rows[0] ?? null;
}

/**
 * Stores a new token (public.create_operator_token): expiresAt null is 90 days; at most 365 days;
 * never later than the creating token's; role never above the actor's (42501) nor the creating token's.
 */
export async function createOperatorToken(
  db: SqlClient,
  t: { name: string; sha256: Uint8Array; expiresAt: Date | null; role: OperatorRole } & Actor,
): Promise<{ id: string; name: string; role: OperatorRole; created_at: Date; expires_at: Date }> {
  const { rows } = await db.query<{ id: string; name: string; role: OperatorRole; created_at: Date; expires_at: Date }>(
    `select id::text, name, role, created_at, expires_at
       from public.create_operator_token($1, decode($2, 'hex'), $3, $4, $5, $6, $7, $8)`,
    [t.name, hex(t.sha256), t.expiresAt, t.role, t.actor, t.actorRole, t.actorTokenId, t.now],
  );
  if (!rows[0]) throw new Error('create_operator_token() answered no row');
  return rows[0];
}

/** Revokes the live token with this id (never a name); null when none matched. */
export async function revokeOperatorToken(
  db: SqlClient,
  r: { id: string } & Actor,
): Promise<{ id: string; name: string; revoked_at: Date } | null> {
  const { rows } = await db.query<{ id: string; name: string; revoked_at: Date }>(
    'select id::text, name, revoked_at from public.revoke_operator_token($1, $2, $3, $4, $5)',
    [r.id, r.actor, r.actorRole, r.actorTokenId, r.now],
  );
  return rows[0] ?? null;
}

/**
 * Revokes every live token the credential `creator` made (created_by, or its leading part up to a
 * colon: operator:<id>, user:<sub>), and the tokens those made; the tokens revoked.
 */
export async function revokeOperatorTokensByCreator(
  db: SqlClient,
  r: { creator: string } & Actor,
): Promise<Array<{ id: string; name: string; created_by: string; revoked_at: Date }>> {
  const { rows } = await db.query<{ id: string; name: string; created_by: string; revoked_at: Date }>(
    'select id::text, name, created_by, revoked_at from public.revoke_operator_tokens_by_creator($1, $2, $3, $4, $5)',
    [r.creator, r.actor, r.actorRole, r.actorTokenId, r.now],
  );
  return rows;
}

export async function listOperatorTokens(db: SqlClient, now: Date): Promise<OperatorTokenRow[]> {
  const { rows } = await db.query<OperatorTokenRow>(
    `select id::text, name, role, created_at, created_by, created_by_token_id::text, expires_at, revoked_at, revoked_by,
            last_used_at,
            case when revoked_at is not null then 'revoked'
                 when expires_at <= $1 then 'expired'
                 else 'valid' end as state
       from public.operator_tokens
      order by id`,
    [now],
  );
  return rows;
}

/** Appends one operator action to the audit trail. */
export async function recordOperatorAction(
  db: SqlClient,
  a: {
    actor: string;
    actorTokenId: string | null;
    actorRole: OperatorRole | null;
    action: string;
    subject: string | null;
    before: unknown;
    after: unknown;
    now: Date;
  },
): Promise<void> {
  await db.query('select public.record_operator_action($1, $2, $3, $4, $5, $6, $7, $8)', [
    a.actor,
    a.actorTokenId,
    a.action,
    a.subject,
    a.before === null || a.before === undefined ? null : JSON.stringify(a.before),
    a.after === null || a.after === undefined ? null : JSON.stringify(a.after),
    a.now,
    a.actorRole,
  ]);
}

// ---------------------------------------------------------------------------------------------
// Failed authentication per source (auth-limit.ts)

export interface AuthFailureCount {
  failures: number;
  /** Over the limit in this window: answer 429. */
  limited: boolean;
  retryAfterMs: number;
}

export async function recordAuthFailure(
  db: SqlClient,
  f: { source: string; functionName: string; limit: number; windowSeconds: number; now: Date },
): Promise<AuthFailureCount> {
  const { rows } = await db.query<{ failures: number; limited: boolean; retry_after_ms: number }>(
    `select failures, limited, retry_after_ms from public.record_auth_failure($1, $2, $3, $4 * interval '1 second', $5)`,
    [f.source, f.functionName, f.limit, f.windowSeconds, f.now],
  );
  const r = rows[0];
  return { failures: r?.failures ?? 0, limited: r?.limited === true, retryAfterMs: r?.retry_after_ms ?? 0 };
}

// ---------------------------------------------------------------------------------------------
// Campaigns from the admin API (scheduler-admin /campaigns; the CLI through it). Each write is one
// statement: the change and its operator_audit_log row commit together.

/** A campaign row as the admin API answers it (JSON from to_jsonb(campaigns)). */
export type CampaignJson = Record<string, unknown> & { id: number; name: string; status: string };

export interface Actor {
  actor: string;
  actorTokenId: string | null;
  /** The role the credential holds (operator_audit_log.actor_role). */
  actorRole: OperatorRole;
  now: Date;
}

export async function listCampaigns(db: SqlClient): Promise<CampaignJson[]> {
  const { rows } = await db.query<{ c: CampaignJson }>(
    'select to_jsonb(c) as c from public.campaigns c order by c.id desc limit 1000',
  );
  return rows.map((r) => r.c);
}

export async function readCampaign(db: SqlClient, id: string): Promise<CampaignJson | null> {
  const { rows } = await db.query<{ c: CampaignJson }>('select to_jsonb(c) as c from public.campaigns c where c.id = $1', [id]);
  return rows[0]?.c ?? null;
}

export async function createCampaign(db: SqlClient, fields: Record<string, unknown>, a: Actor): Promise<CampaignJson> {
  const { rows } = await db.query<{ c: CampaignJson }>('select public.admin_create_campaign($1, $2, $3, $4, $5) as c', [
    JSON.stringify(fields),
    a.actor,
    a.actorTokenId,
    a.now,
    a.actorRole,
  ]);
  if (!rows[0]?.c) throw new Error('admin_create_campaign() answered no row');
  return rows[0].c;
}

export async function updateCampaign(
  db: SqlClient,
  id: string,
  fields: Record<string, unknown>,
  a: Actor,
): Promise<CampaignJson | null> {
  const { rows } = await db.query<{ c: CampaignJson | null }>(
    'select public.admin_update_campaign($1, $2, $3, $4, $5, $6) as c',
    [
      id,
      JSON.stringify(fields),
      a.actor,
      a.actorTokenId,
      a.now,
      a.actorRole,
    ],
  );
  return rows[0]?.c ?? null;
}

/** What pause / resume / cancel would do now (allowed, status_after, counts), or null: no such campaign. */
export interface CampaignActionPreview {
  campaign_id: number;
  action: string;
  status: string;
  allowed: boolean;
  reason: string | null;
  status_after: string;
  queued_calls_released: number;
  active_calls_finishing: number;
  pending_contacts_ended: number;
  pending_contacts: number;
}

export async function previewCampaignAction(db: SqlClient, id: string, action: string): Promise<CampaignActionPreview | null> {
  const { rows } = await db.query<{ p: CampaignActionPreview | null }>('select public.campaign_action_preview($1, $2) as p', [
    id,
    action,
  ]);
  return rows[0]?.p ?? null;
}

export interface CampaignActionResult {
  campaign: CampaignJson;
  queued_calls_released: number;
  active_calls_finishing: number;
  pending_contacts_ended: number;
}

export async function applyCampaignAction(
  db: SqlClient,
  id: string,
  action: string,
  a: Actor,
): Promise<CampaignActionResult | null> {
  const { rows } = await db.query<{ r: CampaignActionResult | null }>(
    'select public.admin_campaign_action($1, $2, $3, $4, $5, $6) as r',
    [id, action, a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]?.r ?? null;
}

/** The latest operator actions, newest first. */
export async function listAuditLog(db: SqlClient, limit: number): Promise<Array<Record<string, unknown>>> {
  const { rows } = await db.query(
    `select id::text, at, actor, actor_role, action, subject, before, after
       from public.operator_audit_log order by id desc limit $1`,
    [limit],
  );
  return rows;
}

/** The calling-hours rules (public.calling_hours_rules), federal ones first, then by state and prefix. */
export async function listCallingHoursRules(db: SqlClient): Promise<Array<Record<string, unknown>>> {
  const { rows } = await db.query<{ r: Record<string, unknown> }>(
    `select public._calling_hours_rule_json(r) as r
       from public.calling_hours_rules r order by r.state nulls first, r.prefix, r.id`,
  );
  return rows.map((row) => row.r);
}

/**
 * Enables or disables one calling-hours rule (id) or every rule of a state (public.
 * admin_set_calling_hours_rule_enabled), with a reason; each change audited calling_hours_rule.enable
 * / .disable.
 */
export async function setCallingHoursRuleEnabled(
  db: SqlClient,
  which: { id: number | null; state: string | null },
  enabled: boolean,
  reason: string,
  a: Actor,
): Promise<{ enabled: boolean; reason: string; changed: number[]; rules: number }> {
  const { rows } = await db.query<{ r: { enabled: boolean; reason: string; changed: number[]; rules: number } }>(
    'select public.admin_set_calling_hours_rule_enabled($1, $2, $3, $4, $5, $6, $7, $8) as r',
    [which.id, which.state, enabled, reason, a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]!.r;
}

/** One batch of CSV contacts (public.import_contacts): each line's outcome. */
export async function importContactsBatch(
  db: SqlClient,
  campaignId: string,
  rows: ImportRow[],
  now: Date,
): Promise<Array<{ line: number; outcome: string }>> {
  const { rows: out } = await db.query<{ line: number; outcome: string }>(
    'select line, outcome from public.import_contacts($1, $2, $3)',
    [campaignId, JSON.stringify(rows), now],
  );
  return out;
}

/** Records a contact's consent evidence (public.admin_set_contact_consent), audited; null: no such contact. */
export async function setContactConsent(
  db: SqlClient,
  campaignId: string,
  contactId: string,
  fields: Record<string, unknown>,
  a: Actor,
): Promise<Record<string, unknown> | null> {
  const { rows } = await db.query<{ c: Record<string, unknown> | null }>(
    'select public.admin_set_contact_consent($1, $2, $3, $4, $5, $6, $7) as c',
    [campaignId, contactId, JSON.stringify(fields), a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]?.c ?? null;
}

/**
 * A campaign's contacts with their outcomes and consent evidence, in id order, after contact id
 * `after` (keyset pages).
 * calling_zones / zone_source: the zones in which the calling-hours rules are checked for the
 * contact (space-separated) and where they come from (public.calling_hours_zones(): number,
 * contact, contact+number, or campaign when the number has no zone data and no zone is typed).
 */
export async function exportContactsPage(
  db: SqlClient,
  campaignId: string,
  after: string,
  limit: number,
): Promise<Array<Record<string, unknown> & { id: string }>> {
  const { rows } = await db.query(
    `select ct.id::text, ct.phone, ct.name, ct.time_zone, ct.status::text, ct.attempts, ct.last_call_status::text,
            ct.last_error, ct.next_attempt_at, ct.metadata, ct.created_at, ct.updated_at,
            ct.consent_at, ct.consent_method, ct.consent_source, ct.consent_expires_at,
            array_to_string(hz.time_zones, ' ') as calling_zones, hz.zone_source
       from public.contacts ct
       join public.campaigns c on c.id = ct.campaign_id
      cross join lateral public.calling_hours_zones(ct.phone, ct.time_zone, c.time_zone) as hz
      where ct.campaign_id = $1 and ct.id > $2
      order by ct.id
      limit $3`,
    [campaignId, after, limit],
  );
  return rows;
}

/**
 * A campaign's calls, one row per attempt, in id order after call id `after` (keyset pages): its
 * times, outcome and provider call id, and the evidence of what allowed it (calls.dial_evidence:
 * the zones checked and their source, the matching rules, the consent record).
 */
export async function exportCallsPage(
  db: SqlClient,
  campaignId: string,
  after: string,
  limit: number,
): Promise<Array<Record<string, unknown> & { call_id: string }>> {
  const { rows } = await db.query(
    `select cl.id::text as call_id, cl.contact_id::text as contact_id, cl.to_phone as phone, cl.attempt,
            cl.status::text as status, cl.queued_at, cl.dialed_at, cl.provider_accepted_at, cl.ringing_at,
            cl.answered_at, cl.ended_at, cl.released_at, cl.duration_seconds, cl.answered_by, cl.error_code,
            cl.error, cl.provider_call_id,
            cl.dial_evidence ->> 'checked_at' as checked_at,
            (select string_agg(z, ' ') from jsonb_array_elements_text(cl.dial_evidence -> 'zones') as z) as checked_zones,
            cl.dial_evidence ->> 'zone_source' as zone_source,
            (select string_agg(format('%s %s %s-%s', r ->> 'id', coalesce(nullif(r ->> 'prefix', ''), 'every number'),
                                      left(r ->> 'from', 5), left(r ->> 'until', 5)), '; ')
               from jsonb_array_elements(cl.dial_evidence -> 'rules') as r) as rules,
            cl.dial_evidence -> 'consent' ->> 'at' as consent_at,
            cl.dial_evidence -> 'consent' ->> 'method' as consent_method,
            cl.dial_evidence -> 'consent' ->> 'source' as consent_source,
            cl.dial_evidence -> 'consent' ->> 'expires_at' as consent_expires_at
       from public.calls cl
      where cl.campaign_id = $1 and cl.id > $2
      order by cl.id
      limit $3`,
    [campaignId, after, limit],
  );
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Provider accounts from the admin API (scheduler-admin /accounts; the CLI through it). Reads go
// through the view scheduler_account_status; each write is one statement with its audit row.

/** An account as the admin API answers it (a scheduler_account_status row as JSON). */
export type AccountJson = Record<string, unknown> & {
  id: string;
  provider: string;
  account_sid: string | null;
  calls_per_second: number;
  own_calls_per_second: number | null;
  max_concurrent_calls: number | null;
  active_calls: number;
  queued_calls: number;
  breaker_state: 'closed' | 'open' | 'half_open';
  breaker_open_until: string | null;
  campaigns: number;
  live_campaigns: number;
  campaign_ids: number[];
};

export async function listAccounts(db: SqlClient): Promise<AccountJson[]> {
  const { rows } = await db.query<{ a: AccountJson }>(
    'select to_jsonb(v) as a from public.scheduler_account_status v order by v.id limit 1000',
  );
  return rows.map((r) => r.a);
}

export async function readAccount(db: SqlClient, id: string): Promise<AccountJson | null> {
  const { rows } = await db.query<{ a: AccountJson | null }>('select public._provider_account_json($1) as a', [id]);
  return rows[0]?.a ?? null;
}

export async function createAccount(db: SqlClient, fields: Record<string, unknown>, a: Actor): Promise<AccountJson> {
  const { rows } = await db.query<{ a: AccountJson }>('select public.admin_create_provider_account($1, $2, $3, $4, $5) as a', [
    JSON.stringify(fields),
    a.actor,
    a.actorTokenId,
    a.now,
    a.actorRole,
  ]);
  if (!rows[0]?.a) throw new Error('admin_create_provider_account() answered no row');
  return rows[0].a;
}

export async function updateAccount(
  db: SqlClient,
  id: string,
  fields: Record<string, unknown>,
  a: Actor,
): Promise<AccountJson | null> {
  const { rows } = await db.query<{ a: AccountJson | null }>(
    'select public.admin_update_provider_account($1, $2, $3, $4, $5, $6) as a',
    [id, JSON.stringify(fields), a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]?.a ?? null;
}

/** Deletes an account no campaign uses; the row deleted, or null: no such account (55000: in use). */
export async function deleteAccount(db: SqlClient, id: string, a: Actor): Promise<Record<string, unknown> | null> {
  const { rows } = await db.query<{ a: Record<string, unknown> | null }>(
    'select public.admin_delete_provider_account($1, $2, $3, $4, $5) as a',
    [id, a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]?.a ?? null;
}

// ---------------------------------------------------------------------------------------------
// The do-not-call list (migration 20261128002500_add_do_not_call_admin.sql)

export interface DoNotCallRow {
  phone: string;
  reason: string | null;
  added_at: string;
  added_by: string | null;
}

/** The called person of call `callId` opted out: 'added', 'already_listed' or 'no_such_call'. */
export async function optOutDuringCall(db: SqlClient, callId: string, now: Date): Promise<string> {
  const { rows } = await db.query<{ r: { result: string } }>('select public.opt_out_during_call($1, $2) as r', [callId, now]);
  return rows[0]!.r.result;
}

/**
 * A page of the list in phone order after `after`: every number when `query` is empty, else the
 * numbers containing it (digits, with or without +) or whose reason contains it (any case).
 */
export async function searchDoNotCall(
  db: SqlClient,
  p: { query: string; after: string | null; limit: number },
): Promise<DoNotCallRow[]> {
  const like = `%${p.query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const { rows } = await db.query<DoNotCallRow>(
    `select d.phone, d.reason, to_char(d.added_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as added_at, d.added_by
       from public.do_not_call_numbers d
      where ($1 = '' or d.phone like $2 or d.reason ilike $2)
        and ($3::text is null or d.phone > $3)
      order by d.phone
      limit $4`,
    [p.query, like, p.after, p.limit],
  );
  return rows;
}

export async function addDoNotCall(
  db: SqlClient,
  phone: string,
  reason: string,
  a: Actor,
): Promise<{ added: boolean; row: DoNotCallRow; contacts_marked?: number }> {
  const { rows } = await db.query<{ r: { added: boolean; row: DoNotCallRow; contacts_marked?: number } }>(
    'select public.admin_add_do_not_call($1, $2, $3, $4, $5, $6) as r',
    [phone, reason, a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]!.r;
}

/** Null when the number was not listed. */
export async function removeDoNotCall(
  db: SqlClient,
  phone: string,
  reason: string,
  a: Actor,
): Promise<{ removed: DoNotCallRow; reason: string; contacts_still_do_not_call: number } | null> {
  const { rows } = await db.query<{ r: { removed: DoNotCallRow; reason: string; contacts_still_do_not_call: number } | null }>(
    'select public.admin_remove_do_not_call($1, $2, $3, $4, $5, $6) as r',
    [phone, reason, a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]?.r ?? null;
}

/** One batch of CSV rows (public.admin_import_do_not_call): each line's outcome. */
export async function importDoNotCallBatch(
  db: SqlClient,
  rows: Array<{ line: number; phone: string; reason: string | null }>,
  a: Actor,
): Promise<Array<{ line: number; phone: string; outcome: string }>> {
  const { rows: out } = await db.query<{ line: number; phone: string; outcome: string }>(
    'select line, phone, outcome from public.admin_import_do_not_call($1, $2, $3, $4, $5)',
    [JSON.stringify(rows), a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// One person's story

/**
 * Everything known about one phone number (contact_story()): its do-not-call entry, every contact
 * with that number and every attempt of each. By contact id: that contact's number. Null when the
 * id names no contact.
 */
export async function readContactStory(
  db: SqlClient,
  who: { phone: string } | { contactId: string },
): Promise<Record<string, unknown> | null> {
  const { rows } = await db.query<{ story: Record<string, unknown> | null }>(
    'select public.contact_story($1, $2) as story',
    ['phone' in who ? who.phone : null, 'contactId' in who ? who.contactId : null],
  );
  return rows[0]?.story ?? null;
}
