// One scheduler tick, as the scheduler-tick Edge Function runs it (and npm start, and the tests):
//
//   1. record the run's start (committed at once: a crash leaves a 'running' row that
//      housekeeping later marks failed); a second delivery of the same minute stops here
//   2. jitter, counted inside the time budget
//   3. single-flight (single-flight.ts): the 'dispatch' lease, a row with an owner, an expiry and a
//      fencing token, renewed while dispatch runs; a tick that finds it held is 'skipped'
//   4. reserve_due_calls(): housekeeping + launch_due_calls() in one statement (reserve within caps)
//   5. dispatch (dispatch/): claim queued calls (FOR UPDATE SKIP LOCKED) just in time, create them
//      at the provider with bounded concurrency, paced to the provider's calls per second, each
//      request with a timeout, under the circuit breaker, until the queue is empty or the deadline
//      nears; the provider's answers are recorded in batches (one round trip for many answers).
//      A call is reserved when the reservation inserts it and launched when the provider accepts it.
//
// Every SQL statement is in queries.ts.
//   6. record the run's end with its status, counts and errors
//
// The database enforces every limit; this code only decides how fast to feed the provider.

import type { TelephonyProvider } from './provider.ts';
import { coerceError } from './errors.ts';
import type { Logger } from './log.ts';
import type { SqlPool } from './db.ts';
import { finishSchedulerRun, readSettings, reserveDueCalls, type RunTrigger, startSchedulerRun } from './queries.ts';
import type { RunError, TickOutcome, TickStatus } from './status.ts';
import { acquireSingleFlight } from './single-flight.ts';
import { isLeaseLost } from './lease.ts';
import { dispatch } from './dispatch/dispatcher.ts';

export type TickTrigger = RunTrigger;
export type { TickStatus };
export type TickError = RunError;

/** Errors kept in one run row; the rest are counted. */
export const MAX_RECORDED_ERRORS = 50;

/** What a tick did: the answer's fields (TickOutcome), and what only the caller and the run log need. */
export interface TickResult extends TickOutcome {
  /** Set when a manual trigger came too soon after the previous one. */
  retryAfterMs: number | null;
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

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

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
    const start = await startSchedulerRun(deps.pool, {
      trigger: opts.trigger,
      scheduledFor: opts.scheduledFor ?? null,
      details: opts.details ?? {},
      now: new Date(startedMs),
    });
    r.runId = start.runId;
    r.duplicateOf = start.duplicateOf;
    r.retryAfterMs = start.retryAfterMs;
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

  try {
    const settings = await readSettings(deps.pool);
    const budgetMs = opts.budgetMs ?? settings.tickBudgetMs;
    const deadlineMs = startedMs + budgetMs;

    const jitterCap = Math.max(0, Math.min(opts.jitterMs ?? 0, budgetMs / 2));
    const jitter = Math.floor(random() * jitterCap);
    if (jitter > 0) await sleep(jitter);

    const flight = await acquireSingleFlight(deps.pool, { runId: String(r.runId), budgetMs, now, log: deps.log });
    if (flight === null) {
      r.status = 'skipped';
      r.skipped = true;
      deps.log.info('tick_skipped', { run_id: r.runId, reason: 'another tick is running' });
    } else {
      try {
        await reserve(deps, state, r.runId, now());
        await dispatch(deps, state, settings, deadlineMs, now, sleep, flight.token);
        r.status = r.errors.length > 0 || r.errorsTruncated > 0 ? 'partial' : 'ok';
      } finally {
        await flight.release();
      }
    }
  } catch (err) {
    const e = coerceError(err);
    if (isLeaseLost(err)) {
      // Another dispatcher holds the lease now: this one stopped before claiming more.
      r.status = 'partial';
      state.error({ stage: 'dispatch', message: e.message });
      deps.log.warn('dispatch_lease_lost', { run_id: r.runId, error: e.message });
    } else {
      r.status = 'failed';
      state.error({ stage: 'tick', message: e.message });
      deps.log.error('tick_error', { run_id: r.runId, error: e.message });
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

/** Housekeeping and the reservation; a failure is recorded and dispatch goes on with the calls already queued. */
async function reserve(deps: TickDeps, state: TickState, runId: string, nowMs: number): Promise<void> {
  const r = state.result;
  try {
    const res = await reserveDueCalls(deps.pool, runId, new Date(nowMs));
    r.released += res.callsReleased;
    r.expired += res.callsExpired;
    r.processed += res.campaignsProcessed;
    r.reserved += res.callsReserved;
    r.completed += res.campaignsCompleted;
    for (const p of res.problems) state.error({ stage: 'reserve', campaign_id: p.campaign_id, message: p.message });
  } catch (err) {
    const e = coerceError(err);
    state.error({ stage: 'reserve', message: e.message });
    deps.log.error('reserve_failed', { run_id: r.runId, error: e.message });
    // Calls queued by earlier ticks can still be dispatched.
  }
}

async function finishRun(deps: TickDeps, state: TickState): Promise<void> {
  const r = state.result;
  if (r.runId === null) return;
  const errors = r.errorsTruncated > 0
    ? [...r.errors, { stage: 'tick', message: `${r.errorsTruncated} more errors not recorded` }]
    : r.errors;
  try {
    await finishSchedulerRun(
      deps.pool,
      r.runId,
      r.status,
      {
        campaigns_processed: r.processed,
        calls_reserved: r.reserved,
        calls_launched: r.launched,
        calls_failed: r.failed,
        calls_unknown: r.unknown,
        calls_requeued: r.requeued,
        calls_released: r.released,
        calls_expired: r.expired,
        campaigns_completed: r.completed,
        breaker_state: r.breaker,
        details: { deadline_reached: r.deadlineReached, errors_truncated: r.errorsTruncated },
      },
      errors,
    );
  } catch (err) {
    // The run stays 'running'; housekeeping marks it failed after abandoned_run_timeout.
    deps.log.error('finish_run_failed', { run_id: r.runId, error: coerceError(err).message });
  }
}
