// One scheduler tick, as the scheduler-tick Edge Function runs it (and npm start, and the tests):
//
//   1. record the run's start (committed at once: a crash leaves a 'running' row that
//      housekeeping later marks failed); a second delivery of the same minute stops here
//   2. jitter, counted inside the time budget
//   3. single-flight: a session advisory lock; a tick that finds another one running is 'skipped'
//   4. reserve_due_calls(): housekeeping + launch_due_calls() in one transaction (reserve within caps)
//   5. dispatch: claim queued calls (FOR UPDATE SKIP LOCKED) just in time, create them at the
//      provider with bounded concurrency, paced to the provider's calls per second, each request
//      with a timeout, under the circuit breaker, until the queue is empty or the deadline nears;
//      the provider's answers are recorded in batches (one round trip for many answers)
//   6. record the run's end with its status, counts and errors
//
// The database enforces every limit; this code only decides how fast to feed the provider.

import type { CreateCallOutcome, TelephonyProvider } from './provider.ts';
import { coerceError } from './errors.ts';
import type { Logger } from './log.ts';
import { readSettings, type DispatchSettings, type PooledClient, type SqlPool } from './db.ts';

export type TickTrigger = 'pg_cron' | 'pg_net' | 'vercel' | 'manual' | 'local';
/** Run statuses, plus rate_limited: a manual trigger refused before any run row was written. */
export type TickStatus = 'ok' | 'partial' | 'failed' | 'skipped' | 'duplicate' | 'rate_limited';

/** Lock key for the single-flight dispatcher (session-level, released when the connection ends). */
export const DISPATCH_LOCK_KEY = 7345123002;
/** Stop claiming when less than this remains of the budget (a request needs time to answer). */
export const MIN_REQUEST_WINDOW_MS = 1000;
/** Time kept at the end of the budget to record results and finish the run. */
export const FINISH_MARGIN_MS = 250;
/** Errors kept in one run row; the rest are counted. */
export const MAX_RECORDED_ERRORS = 50;
/**
 * The longest a provider's answer waits to be recorded with others in one round trip
 * (record_dispatch_results). Answers are recorded at once when the batch is full
 * (dispatch_batch_size), when no other request is out, in breaker probe mode, when an answer
 * counts against the breaker, and when dispatch ends.
 */
export const RECORD_FLUSH_DELAY_MS = 5;

export interface TickError {
  stage: 'start' | 'reserve' | 'dispatch' | 'record' | 'breaker' | 'tick';
  message: string;
  campaign_id?: string;
  call_id?: string;
  code?: string;
}

export interface TickResult {
  runId: string | null;
  status: TickStatus;
  skipped: boolean;
  duplicateOf: string | null;
  /** Set when a manual trigger came too soon after the previous one. */
  retryAfterMs: number | null;
  processed: number;
  reserved: number;
  launched: number;
  failed: number;
  unknown: number;
  requeued: number;
  released: number;
  expired: number;
  completed: number;
  breaker: string | null;
  deadlineReached: boolean;
  durationMs: number;
  errors: TickError[];
  errorsTruncated: number;
}

export interface TickDeps {
  pool: SqlPool;
  provider: TelephonyProvider;
  log: Logger;
  /** Builds the StatusCallback URL for one of our calls (it carries our call id). */
  statusCallbackUrl: (callId: string) => string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface TickOptions {
  trigger: TickTrigger;
  /** The minute the trigger was scheduled for; a second run for the same trigger and minute is a duplicate. */
  scheduledFor?: Date | null;
  /** Maximum random delay before work starts, counted inside the budget. */
  jitterMs?: number;
  /** Overrides scheduler_settings.tick_budget_ms. */
  budgetMs?: number;
  details?: Record<string, unknown>;
}

/** Provider answers that mean our side is misconfigured (credentials, account, base URL), not the call. */
function isConfigurationFailure(httpStatus: number | undefined): boolean {
  return httpStatus === 401 || httpStatus === 403 || httpStatus === 404 || (httpStatus !== undefined && httpStatus >= 300 && httpStatus < 400);
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** One provider answer as record_dispatch_results() takes it (see its migration). */
interface DispatchResultRow {
  call_id: string;
  outcome: CreateCallOutcome['kind'];
  provider_call_id?: string | null;
  status?: string | null;
  reason?: string | null;
  error_code?: string | null;
  retry_at?: string | null;
  invalid_number?: boolean;
  at: string;
  /** What the answer says about the provider's health (record_provider_result), if anything. */
  breaker_success?: boolean;
  breaker_reason?: string | null;
}

interface PendingRecord {
  row: DispatchResultRow;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface ClaimedCall {
  call_id: string;
  campaign_id: string;
  contact_id: string;
  attempt: number;
  to_phone: string;
  caller_id: string;
  provider: string;
  provider_settings: Record<string, unknown>;
  release_reason: string | null;
}

class TickState {
  readonly result: TickResult = {
    runId: null,
    status: 'ok',
    skipped: false,
    duplicateOf: null,
    retryAfterMs: null,
    processed: 0,
    reserved: 0,
    launched: 0,
    failed: 0,
    unknown: 0,
    requeued: 0,
    released: 0,
    expired: 0,
    completed: 0,
    breaker: null,
    deadlineReached: false,
    durationMs: 0,
    errors: [],
    errorsTruncated: 0,
  };

  error(e: TickError): void {
    if (this.result.errors.length < MAX_RECORDED_ERRORS) this.result.errors.push(e);
    else this.result.errorsTruncated++;
  }
}

/** Runs one tick. Never throws: every failure ends up in the result and in the run log. */
export async function runTick(deps: TickDeps, opts: TickOptions): Promise<TickResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? defaultSleep;
  const random = deps.random ?? Math.random;
  const startedMs = now();
  const state = new TickState();
  const r = state.result;

  try {
    const { rows } = await deps.pool.query<{ run_id: string | null; duplicate_of: string | null; retry_after_ms: number | null }>(
      'select run_id::text, duplicate_of::text, retry_after_ms from public.start_scheduler_run($1, $2, $3, $4)',
      [opts.trigger, opts.scheduledFor ?? null, JSON.stringify(opts.details ?? {}), new Date(startedMs)],
    );
    r.runId = rows[0]?.run_id ?? null;
    r.duplicateOf = rows[0]?.duplicate_of ?? null;
    r.retryAfterMs = rows[0]?.retry_after_ms ?? null;
  } catch (err) {
    // Without a database there is no run row to write: say so loudly and stop.
    const e = coerceError(err);
    r.status = 'failed';
    state.error({ stage: 'start', message: `could not record the run: ${e.message}` });
    deps.log.error('tick_failed', { trigger: opts.trigger, stage: 'start', error: e.message });
    r.durationMs = now() - startedMs;
    return r;
  }
  if (r.runId === null) {
    r.status = 'rate_limited';
    r.skipped = true;
    deps.log.info('tick_rate_limited', { trigger: opts.trigger, retry_after_ms: r.retryAfterMs });
    r.durationMs = now() - startedMs;
    return r;
  }
  if (r.duplicateOf !== null) {
    r.status = 'duplicate';
    r.skipped = true;
    deps.log.info('tick_duplicate', { run_id: r.runId, duplicate_of: r.duplicateOf, trigger: opts.trigger });
    r.durationMs = now() - startedMs;
    return r;
  }
  deps.log.info('tick_start', {
    run_id: r.runId,
    trigger: opts.trigger,
    scheduled_for: opts.scheduledFor?.toISOString() ?? null,
  });

  let lockClient: PooledClient | null = null;
  let lockHeld = false;
  try {
    const settings = await readSettings(deps.pool);
    const budgetMs = opts.budgetMs ?? settings.tickBudgetMs;
    const deadlineMs = startedMs + budgetMs;

    const jitterCap = Math.max(0, Math.min(opts.jitterMs ?? 0, budgetMs / 2));
    const jitter = Math.floor(random() * jitterCap);
    if (jitter > 0) await sleep(jitter);

    lockClient = await deps.pool.connect();
    const lock = await lockClient.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [DISPATCH_LOCK_KEY]);
    lockHeld = lock.rows[0]?.ok === true;
    if (!lockHeld) {
      r.status = 'skipped';
      r.skipped = true;
      deps.log.info('tick_skipped', { run_id: r.runId, reason: 'another tick is running' });
    } else {
      await reserve(lockClient, deps, state, now());
      await dispatch(deps, state, settings, deadlineMs, now, sleep);
      r.status = r.errors.length > 0 || r.errorsTruncated > 0 ? 'partial' : 'ok';
    }
  } catch (err) {
    const e = coerceError(err);
    r.status = 'failed';
    state.error({ stage: 'tick', message: e.message });
    deps.log.error('tick_error', { run_id: r.runId, error: e.message });
  } finally {
    if (lockClient) {
      let broken: Error | undefined;
      if (lockHeld) {
        try {
          await lockClient.query('select pg_advisory_unlock($1)', [DISPATCH_LOCK_KEY]);
        } catch (err) {
          broken = coerceError(err); // drop the connection: the lock goes with it
        }
      }
      lockClient.release(broken);
    }
  }

  r.durationMs = now() - startedMs;
  await finishRun(deps, state);
  deps.log.info('tick_end', {
    run_id: r.runId,
    status: r.status,
    duration_ms: r.durationMs,
    processed: r.processed,
    reserved: r.reserved,
    launched: r.launched,
    failed: r.failed,
    unknown: r.unknown,
    requeued: r.requeued,
    released: r.released,
    breaker: r.breaker,
    errors: r.errors.length + r.errorsTruncated,
  });
  return r;
}

async function reserve(client: PooledClient, deps: TickDeps, state: TickState, nowMs: number): Promise<void> {
  const r = state.result;
  try {
    // Housekeeping + launch_due_calls() in one transaction (one statement, autocommit).
    const { rows } = await client.query<{
      outcome: 'reserved' | 'busy';
      campaigns_processed: number;
      calls_reserved: number;
      campaigns_completed: number;
      calls_released: number;
      calls_expired: number;
      problems: { campaign_id: string; message: string }[];
    }>('select * from public.reserve_due_calls($1, $2)', [r.runId, new Date(nowMs)]);
    const step = rows[0]!;
    // busy: pg_cron's tick is reserving right now; we still dispatch.
    r.released += step.calls_released;
    r.expired += step.calls_expired;
    r.processed += step.campaigns_processed;
    r.reserved += step.calls_reserved;
    r.completed += step.campaigns_completed;
    for (const p of step.problems) state.error({ stage: 'reserve', campaign_id: p.campaign_id, message: p.message });
  } catch (err) {
    const e = coerceError(err);
    state.error({ stage: 'reserve', message: e.message });
    deps.log.error('reserve_failed', { run_id: r.runId, error: e.message });
    // Calls queued by earlier ticks can still be dispatched.
  }
}

async function dispatch(
  deps: TickDeps,
  state: TickState,
  settings: DispatchSettings,
  deadlineMs: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  const r = state.result;
  const provider = deps.provider;
  const intervalMs = 1000 / settings.providerCallsPerSecond;
  // Token bucket: up to 50 ms worth of calls may go out back to back (at least one), so high rates
  // are not throttled by timer granularity while a 1 CPS account still gets one call per second.
  const burst = Math.max(1, Math.floor(settings.providerCallsPerSecond / 20));
  const slackMs = (burst - 1) * intervalMs;
  const claimStopMs = deadlineMs - Math.min(settings.providerRequestTimeoutMs, MIN_REQUEST_WINDOW_MS) - FINISH_MARGIN_MS;
  let nextSendAt = now();
  let breakerOpened = false;

  const permit = async (): Promise<string> => {
    const { rows } = await deps.pool.query<{ p: string }>('select public.acquire_dispatch_permit($1, $2) as p', [
      provider.name,
      new Date(now()),
    ]);
    return rows[0]?.p ?? 'open';
  };
  const noteBreaker = (s: string | null, reason: string | null): void => {
    if (s === 'open' && r.breaker !== 'open') {
      deps.log.warn('breaker_open', { run_id: r.runId, provider: provider.name, reason });
      state.error({ stage: 'breaker', message: `circuit breaker for ${provider.name} opened: ${reason ?? 'provider failures'}` });
    }
    r.breaker = s;
    if (s === 'open') breakerOpened = true;
  };

  let mode = await permit();
  r.breaker = mode === 'probe' ? 'half_open' : mode;
  if (mode === 'open') {
    state.error({ stage: 'dispatch', message: `circuit breaker for ${provider.name} is open: nothing dispatched` });
    deps.log.warn('dispatch_skipped_breaker_open', { run_id: r.runId, provider: provider.name });
    return;
  }

  const inflight = new Set<Promise<void>>();
  /** Create-call requests sent and not answered yet. */
  let sending = 0;

  // The provider's answers, recorded in batches: one round trip (record_dispatch_results) for many
  // answers. A call whose answer waits here is in 'dialing' and holds its concurrency slot; if the
  // write fails it stays in dialing (never re-sent: its callbacks or the reaper settle it).
  const recordBatchSize = Math.max(1, settings.dispatchBatchSize);
  let pendingRecords: PendingRecord[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | null = null;

  const recordResults = async (rows: DispatchResultRow[]): Promise<Array<string | null>> => {
    const { rows: out } = await deps.pool.query<{ breaker_state: string | null }>(
      'select breaker_state from public.record_dispatch_results($1, $2::jsonb)',
      [provider.name, JSON.stringify(rows)],
    );
    if (out.length !== rows.length) throw new Error(`record_dispatch_results answered ${out.length} rows for ${rows.length} results`);
    return out.map((o) => o.breaker_state);
  };

  const flushRecords = (): void => {
    if (flushTimer !== null) {
      clearTimeout(flushTimer);
      flushTimer = null;
    }
    if (pendingRecords.length === 0) return;
    const batch = pendingRecords;
    pendingRecords = [];
    recordResults(batch.map((p) => p.row)).then(
      (states) => {
        try {
          // In the order the database applied them, as one round trip per answer would have seen them.
          for (let i = 0; i < batch.length; i++) {
            const p = batch[i]!;
            if (p.row.breaker_success !== undefined) noteBreaker(states[i] ?? null, p.row.breaker_reason ?? null);
          }
        } finally {
          for (const p of batch) p.resolve();
        }
      },
      (err) => {
        for (const p of batch) p.reject(err);
      },
    );
  };

  /** Resolves when the answer is recorded (with its breaker bookkeeping, if any). */
  const record = (row: DispatchResultRow): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      pendingRecords.push({ row, resolve, reject });
      if (
        pendingRecords.length >= recordBatchSize ||
        sending === 0 || // nothing else is coming soon: waiting would only delay this one
        mode === 'probe' || // the probe's answer decides whether dispatch goes on
        row.breaker_success === false // the breaker must learn about failures at once
      ) {
        flushRecords();
      } else if (flushTimer === null) {
        flushTimer = setTimeout(flushRecords, RECORD_FLUSH_DELAY_MS);
      }
    });

  const send = async (call: ClaimedCall): Promise<void> => {
    const timeoutMs = Math.max(100, Math.min(settings.providerRequestTimeoutMs, deadlineMs - FINISH_MARGIN_MS - now()));
    let outcome: CreateCallOutcome;
    sending++;
    try {
      outcome = await provider.createCall({
        callId: call.call_id,
        to: call.to_phone,
        from: call.caller_id,
        statusCallbackUrl: deps.statusCallbackUrl(call.call_id),
        settings: call.provider_settings ?? {},
        timeoutMs,
      });
    } catch (err) {
      outcome = { kind: 'unknown', reason: `provider adapter threw: ${coerceError(err).message}` };
    } finally {
      sending--;
    }
    const at = new Date(now());
    // The call's outcome and, where it says something about the provider's health, the circuit
    // breaker's bookkeeping (record_provider_result's semantics), in one row of a batch.
    const row = (
      fields: Omit<DispatchResultRow, 'call_id' | 'outcome' | 'at' | 'breaker_success' | 'breaker_reason'>,
      breaker: { success: boolean; reason: string | null } | null,
    ): DispatchResultRow => ({
      call_id: call.call_id,
      outcome: outcome.kind,
      ...fields,
      at: at.toISOString(),
      ...(breaker === null ? {} : { breaker_success: breaker.success, breaker_reason: breaker.reason }),
    });
    try {
      switch (outcome.kind) {
        case 'accepted':
          await record(row({ provider_call_id: outcome.providerCallId, status: outcome.status }, { success: true, reason: null }));
          r.launched++;
          break;
        case 'retryable': {
          const backoffMs = outcome.retryAfterMs ?? Math.max(1000, intervalMs * 2);
          // Rate limited (429): slow down; not a failure of the call, nor of the provider.
          const rateLimited = outcome.httpStatus === 429;
          if (rateLimited) {
            // Before the answer is recorded: the next calls must not go out meanwhile.
            nextSendAt = Math.max(nextSendAt, now() + backoffMs);
          }
          await record(
            row(
              { reason: outcome.reason, error_code: outcome.code ?? null, retry_at: new Date(at.getTime() + backoffMs).toISOString() },
              rateLimited ? null : { success: false, reason: outcome.reason },
            ),
          );
          r.requeued++;
          if (rateLimited) {
            deps.log.warn('provider_rate_limited', { run_id: r.runId, call_id: call.call_id, retry_after_ms: backoffMs });
          }
          break;
        }
        case 'permanent':
          // The provider answered: it is up, unless it refused our credentials or our endpoint is
          // wrong (every call would fail the same way: let the breaker stop the bleeding).
          await record(
            row(
              { reason: outcome.reason, error_code: outcome.code ?? null, invalid_number: outcome.invalidNumber },
              { success: !isConfigurationFailure(outcome.httpStatus), reason: outcome.reason },
            ),
          );
          r.failed++;
          state.error({
            stage: 'dispatch',
            call_id: call.call_id,
            campaign_id: call.campaign_id,
            message: outcome.reason,
            ...(outcome.code ? { code: outcome.code } : {}),
          });
          break;
        case 'unknown':
          await record(row({ reason: outcome.reason }, { success: false, reason: outcome.reason }));
          r.unknown++;
          state.error({ stage: 'dispatch', call_id: call.call_id, campaign_id: call.campaign_id, message: outcome.reason });
          break;
      }
    } catch (err) {
      // The call stays in dialing: never re-sent; the status callback or the reaper settles it.
      const e = coerceError(err);
      state.error({ stage: 'record', call_id: call.call_id, message: e.message });
      deps.log.error('record_failed', { run_id: r.runId, call_id: call.call_id, error: e.message });
    }
    if (outcome.kind !== 'accepted') {
      deps.log.warn('call_not_accepted', {
        run_id: r.runId,
        call_id: call.call_id,
        campaign_id: call.campaign_id,
        outcome: outcome.kind,
        reason: outcome.reason,
      });
    }
  };

  const unclaim = async (calls: ClaimedCall[], reason: string): Promise<void> => {
    if (calls.length === 0) return;
    const at = new Date(now()).toISOString();
    try {
      // One round trip: retryable, due now, no breaker bookkeeping (nothing was sent).
      await recordResults(calls.map((call) => ({ call_id: call.call_id, outcome: 'retryable', reason, retry_at: at, at })));
      r.requeued += calls.length;
    } catch (err) {
      // Left in dialing without having been sent: the reaper expires them (counted as an attempt).
      const message = coerceError(err).message;
      for (const call of calls) state.error({ stage: 'record', call_id: call.call_id, message });
    }
  };

  const track = (p: Promise<void>) => {
    const tracked = p.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  };

  try {
    for (;;) {
      if (breakerOpened) break;
      const t = now();
      if (t >= claimStopMs) {
        r.deadlineReached = true;
        break;
      }
      const concurrency = mode === 'probe' ? 1 : settings.dispatchConcurrency;
      const room = concurrency - inflight.size;
      // Claim in batches: wait for a useful amount of room rather than claiming one call at a time.
      const enough = Math.max(1, Math.min(settings.dispatchBatchSize, Math.ceil(concurrency / 4)));
      if (room <= 0 || (room < enough && inflight.size > 0)) {
        await Promise.race(inflight);
        continue;
      }
      // Claim only what can be sent within the next pacing window, so nothing claimed waits long.
      const horizon = Math.max(200, intervalMs);
      if (nextSendAt > t + horizon) {
        await sleep(Math.min(nextSendAt - t - horizon / 2, claimStopMs - t));
        continue;
      }
      const sendable = Math.max(1, Math.floor((t + horizon - Math.max(nextSendAt, t)) / intervalMs));
      const want = Math.min(room, sendable, settings.dispatchBatchSize, mode === 'probe' ? 1 : Number.MAX_SAFE_INTEGER);
      const { rows } = await deps.pool.query<ClaimedCall>(
        `select call_id::text, campaign_id::text, contact_id::text, attempt, to_phone, caller_id, provider,
                provider_settings, release_reason
           from public.claim_queued_calls($1, $2, $3)`,
        [want, r.runId, new Date(t)],
      );
      const claimed = rows.filter((row) => row.release_reason === null);
      r.released += rows.length - claimed.length;
      if (rows.length === 0) {
        if (inflight.size === 0) break;
        await Promise.race(inflight);
        continue;
      }
      for (let i = 0; i < claimed.length; i++) {
        if (breakerOpened || nextSendAt >= claimStopMs) {
          // Claimed but never sent (the breaker opened, or a 429 pushed the next slot past the
          // deadline): back to the queue, not an attempt.
          await unclaim(claimed.slice(i), breakerOpened ? 'not sent: circuit breaker opened' : 'not sent before the tick deadline');
          break;
        }
        const wait = nextSendAt - now();
        if (wait >= 1) await sleep(wait);
        nextSendAt = Math.max(nextSendAt, now() - slackMs) + intervalMs;
        track(send(claimed[i]!));
      }
      if (mode === 'probe' && claimed.length > 0) {
        await Promise.all(inflight);
        if (r.breaker !== 'closed') break;
        mode = await permit();
        if (mode !== 'closed') break;
      }
    }
  } finally {
    // Also when claiming or recording fails half-way: the requests already sent are answered and
    // recorded before the run is finished (and before the dispatcher lock is released). Answers
    // waiting for a batch go now; the last outstanding answer flushes itself (sending === 0).
    flushRecords();
    await Promise.allSettled(inflight);
  }
}

async function finishRun(deps: TickDeps, state: TickState): Promise<void> {
  const r = state.result;
  if (r.runId === null) return;
  const errors = r.errorsTruncated > 0
    ? [...r.errors, { stage: 'tick', message: `${r.errorsTruncated} more errors not recorded` }]
    : r.errors;
  try {
    await deps.pool.query('select public.finish_scheduler_run($1, $2, $3, $4)', [
      r.runId,
      r.status,
      JSON.stringify({
        campaigns_processed: r.processed,
        calls_reserved: r.reserved,
        calls_dispatched: r.launched,
        calls_failed: r.failed,
        calls_unknown: r.unknown,
        calls_requeued: r.requeued,
        calls_released: r.released,
        calls_expired: r.expired,
        campaigns_completed: r.completed,
        breaker_state: r.breaker,
        details: { deadline_reached: r.deadlineReached, errors_truncated: r.errorsTruncated },
      }),
      JSON.stringify(errors),
    ]);
  } catch (err) {
    // The run stays 'running'; housekeeping marks it failed after abandoned_run_timeout.
    deps.log.error('finish_run_failed', { run_id: r.runId, error: coerceError(err).message });
  }
}
