// One scheduler tick, as the scheduler-tick Edge Function runs it (and npm start, and the tests):
//
//   1. record the run's start (committed at once: a crash leaves a 'running' row that
//      housekeeping later marks failed); a second delivery of the same minute stops here
//   2. jitter, counted inside the time budget; then the calls in doubt (dialing or unknown for
//      provider_check_after) are looked up at the provider and settled from its answer
//      (calls-in-doubt.ts)
//   3. reserve_due_calls(): housekeeping + launch_due_calls() in one statement (reserve within caps)
//   4. dispatch (dispatch/) inside the budget: claim queued calls (FOR UPDATE SKIP LOCKED) just in
//      time, each with a send slot from its provider account's rate bucket in the database (shared
//      by every dispatcher), create them at the provider with bounded concurrency, each request
//      with a timeout, under the circuit breaker, until the queue is empty or the deadline nears;
//      the provider's answers are recorded in batches. A tick that overlaps another one helps: the
//      claims, the rate bucket and the caps are all in the database.
//      A call is reserved when the reservation inserts it and launched when the provider accepts it.
//   5. the answer (startTick resolves), then, when scheduler_settings.background_dispatch_ms > 0,
//      continuous dispatch in the background (EdgeRuntime.waitUntil): the tick takes the 'dispatch'
//      lease over (the previous tick's background dispatcher stops at its next claim) and goes on
//      claiming and sending until background_dispatch_ms after its start, refilling the queue
//      (a reservation without housekeeping) when it runs dry, at most every refill_interval_ms,
//      so a slot freed by a final status callback is used again within about a second
//   6. record the run's end with its status, counts and errors (after the background part)
//
// Every SQL statement is in queries.ts.
// The database enforces every limit; this code only decides how fast to feed the provider.

import type { TelephonyProvider } from './provider.ts';
import type { ProviderSet } from './providers/registry.ts';
import { coerceError } from './errors.ts';
import type { Logger } from './log.ts';
import type { SqlPool } from './db.ts';
import { finishSchedulerRun, readSettings, reserveDueCalls, type RunTrigger, startSchedulerRun } from './queries.ts';
import type { RunError, TickOutcome, TickStatus } from './status.ts';
import { DISPATCH_LEASE, dispatchLeaseTtlMs, holdLease, INSTANCE_ID, isLeaseLost } from './lease.ts';
import { dispatch } from './dispatch/dispatcher.ts';
import { preciseNow, sleepUntil } from './dispatch/rate.ts';
import { onShutdown } from './edge-runtime.ts';
import { type InDoubtCounts, LOOKUP_TIMEOUT_MS, noCallsInDoubt, settleCallsInDoubt } from './calls-in-doubt.ts';
import type { DispatchSettings } from './queries.ts';

export type TickTrigger = RunTrigger;
export type { TickStatus };
export type TickError = RunError;

/** reserve()'s answer when the whole scheduler is paused. */
const PAUSED = -1;

/** The longest the tick waits for its clock to pass the database's (waitForDatabaseClock). */
export const MAX_CLOCK_WAIT_MS = 1000;
/** A wait for the database's clock this long or longer is said in the log: the clocks are set apart. */
const CLOCK_AHEAD_WARN_MS = 100;

/**
 * Waits until `now` has passed the database's clock as read right after a reservation on it
 * (databaseNowMs): the calls reserved are due from the reservation's instant, and a claim made at a
 * time before it would not find them yet (with a database clock ahead of the function's, a tick
 * could reserve and end without sending). At most MAX_CLOCK_WAIT_MS in all. Returns how long it slept.
 */
export async function waitForDatabaseClock(
  databaseNowMs: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
): Promise<number> {
  return await sleepUntil(databaseNowMs, now, sleep, { maxMs: MAX_CLOCK_WAIT_MS, wholeMs: true });
}

/** Errors kept in one run row; the rest are counted. */
export const MAX_RECORDED_ERRORS = 50;

/** What a tick did: the answer's fields (TickOutcome), and what only the caller and the run log need. */
export interface TickResult extends TickOutcome {
  /** Set when a manual trigger came too soon after the previous one. */
  retryAfterMs: number | null;
  errorsTruncated: number;
  /** The background dispatcher stopped because the next tick took the dispatch lease over. */
  handedOver: boolean;
  /** Set when the background dispatcher stopped early for another reason ('shutdown': the runtime's beforeunload). */
  stoppedBy: string | null;
  /** The calls in doubt this tick looked up at the provider, and what became of them. */
  inDoubt: InDoubtCounts;
}

export interface TickDeps {
  pool: SqlPool;
  /** The default adapter (Twilio). */
  provider: TelephonyProvider;
  /** The adapters of the other account kinds that are configured, by kind (providers/registry.ts). */
  providers?: ProviderSet;
  /** The adapters of the accounts with their own credentials, by provider account id. */
  accountProviders?: ProviderSet;
  log: Logger;
  /** Builds the StatusCallback URL for one of our calls (it carries our call id). */
  statusCallbackUrl: (callId: string) => string;
  /** The call's signed opt-out URL (opt-out.ts), handed to the call flow; absent: none. */
  optOutUrl?: (callId: string) => Promise<string>;
  /** The call's signed context URL (call-context.ts), handed to the call flow; absent: none. */
  contextUrl?: (callId: string) => Promise<string>;
  /** The call's signed callback URL (opt-out.ts), handed to the call flow; absent: none. */
  callbackUrl?: (callId: string) => Promise<string>;
  /**
   * Milliseconds since the epoch, with a fraction (default: preciseNow, the send slots' clock).
   * Given (tests state their clock), it is also the reservation's clock; by default the reservation
   * runs on the database's clock, read once it holds its lock, just before its snapshot
   * (reserve_due_calls with p_now null): a time read here would be older by however long the
   * statement waited for a connection.
   */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /**
   * A dispatcher claims ahead for the places about to free only while answers come at least this
   * often a second (default CLAIM_AHEAD_MIN_ANSWERS_PER_S, dispatch/claim-loop.ts); suites that dial
   * a few calls a second set 0 to exercise it.
   */
  claimAheadMinAnswersPerS?: number;
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
    continuesUntil: null,
    durationMs: 0,
    errors: [],
    errorsTruncated: 0,
    handedOver: false,
    stoppedBy: null,
    inDoubt: noCallsInDoubt(),
  };

  error(e: TickError): void {
    if (this.result.errors.length < MAX_RECORDED_ERRORS) this.result.errors.push(e);
    else this.result.errorsTruncated++;
  }
}

/** A tick under way: its answer (inside the budget) and its end (after the background part). */
export interface StartedTick {
  /** What the tick did inside its budget: the HTTP answer. */
  answer: TickResult;
  /** Resolves with the whole run's result once the background part (if any) ended and the run row is finished. */
  finished: Promise<TickResult>;
}

/** Runs one tick to its very end (background dispatch included). Never throws. */
export async function runTick(deps: TickDeps, opts: TickOptions): Promise<TickResult> {
  return await (await startTick(deps, opts)).finished;
}

/**
 * Runs one tick's own part and resolves with its answer; the background part goes on in
 * `finished` (hand it to EdgeRuntime.waitUntil). Never rejects.
 */
export async function startTick(deps: TickDeps, opts: TickOptions): Promise<StartedTick> {
  const now = deps.now ?? preciseNow;
  const sleep = deps.sleep ?? defaultSleep;
  const random = deps.random ?? Math.random;
  const startedMs = now();
  const state = new TickState();
  const r = state.result;
  const done = (): StartedTick => {
    r.durationMs = Math.round(now() - startedMs);
    return { answer: r, finished: Promise.resolve(r) };
  };

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
    return done();
  }
  if (r.runId === null) {
    r.status = 'rate_limited';
    r.skipped = true;
    deps.log.info('tick_rate_limited', { trigger: opts.trigger, retry_after_ms: r.retryAfterMs });
    return done();
  }
  if (r.duplicateOf !== null) {
    r.status = 'duplicate';
    r.skipped = true;
    deps.log.info('tick_duplicate', { run_id: r.runId, duplicate_of: r.duplicateOf, trigger: opts.trigger });
    return done();
  }
  const runId = r.runId;
  deps.log.info('tick_start', {
    run_id: runId,
    trigger: opts.trigger,
    scheduled_for: opts.scheduledFor?.toISOString() ?? null,
  });

  let settings: DispatchSettings | null = null;
  try {
    settings = await readSettings(deps.pool);
    if (settings.paused) {
      // The whole scheduler is paused (set_scheduler_paused()): reserve nothing, send nothing.
      r.status = 'skipped';
      r.skipped = true;
      deps.log.info('tick_paused', { run_id: runId, trigger: opts.trigger });
      await finishRun(deps, state, startedMs, now);
      return { answer: r, finished: Promise.resolve(r) };
    }
    const budgetMs = opts.budgetMs ?? settings.tickBudgetMs;
    const jitterCap = Math.max(0, Math.min(opts.jitterMs ?? 0, budgetMs / 2));
    const jitter = Math.floor(random() * jitterCap);
    if (jitter > 0) await sleep(jitter);

    await lookUpCallsInDoubt(deps, state, settings, now);
    await reserve(deps, state, runId, true, now, sleep);
    await dispatch(deps, state, settings, { deadlineMs: startedMs + budgetMs, leaseToken: null, idle: null }, now, sleep);
    r.status = r.errors.length > 0 || r.errorsTruncated > 0 ? 'partial' : 'ok';
  } catch (err) {
    failed(deps, state, err);
    settings = null;
  }

  const backgroundUntil = settings !== null && settings.backgroundDispatchMs > 0
    ? startedMs + settings.backgroundDispatchMs
    : null;
  if (settings === null || backgroundUntil === null || r.breaker === 'open' || backgroundUntil <= now()) {
    await finishRun(deps, state, startedMs, now);
    return { answer: r, finished: Promise.resolve(r) };
  }
  r.continuesUntil = new Date(backgroundUntil).toISOString();
  r.durationMs = Math.round(now() - startedMs);
  const answer = snapshot(r);
  const background = settings;
  const finished = (async (): Promise<TickResult> => {
    try {
      await dispatchInBackground(deps, state, runId, background, backgroundUntil, now, sleep);
    } catch (err) {
      failed(deps, state, err);
    }
    await finishRun(deps, state, startedMs, now);
    return r;
  })();
  return { answer, finished };
}

/** A copy of the result as it stands (the answer; the background part goes on changing the original). */
function snapshot(r: TickResult): TickResult {
  return { ...r, errors: [...r.errors] };
}

function failed(deps: TickDeps, state: TickState, err: unknown): void {
  const r = state.result;
  const e = coerceError(err);
  r.status = 'failed';
  state.error({ stage: 'tick', message: e.message });
  deps.log.error('tick_error', { run_id: r.runId, error: e.message });
}

/**
 * Continuous dispatch after the answer: takes the dispatch lease over (the previous background
 * dispatcher's next claim is refused, SL001, and it stops), then claims and sends until `untilMs`,
 * refilling the queue when it runs dry. Losing the lease to the next tick is the normal handover.
 */
async function dispatchInBackground(
  deps: TickDeps,
  state: TickState,
  runId: string,
  settings: DispatchSettings,
  untilMs: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  const r = state.result;
  const taken = await holdLease(deps.pool, {
    name: DISPATCH_LEASE,
    holder: `run ${runId} (${INSTANCE_ID})`,
    ttlMs: dispatchLeaseTtlMs(settings.tickBudgetMs),
    takeOver: true,
    now,
    log: deps.log,
    context: { run_id: runId },
  });
  if (taken.held === null) return; // cannot happen with takeOver, but never dispatch unguarded
  const lease = taken.held;
  deps.log.info('background_dispatch_start', { run_id: runId, until: new Date(untilMs).toISOString(), token: lease.token });
  let lastRefillMs = now();
  const pollMs = Math.min(250, settings.refillIntervalMs);
  // Near the wall-clock limit the runtime warns (beforeunload): stop claiming, answer what is in
  // flight, finish the run; the next tick takes over.
  let shuttingDown = false;
  const stopListening = onShutdown(() => {
    shuttingDown = true;
    r.stoppedBy = 'shutdown';
    deps.log.warn('background_dispatch_shutdown', { run_id: runId });
  });
  try {
    await dispatch(
      deps,
      state,
      settings,
      {
        deadlineMs: untilMs,
        leaseToken: lease.token,
        stopped: () => shuttingDown,
        idle: async (t) => {
          // Refill: the slots that final status callbacks freed, through the same atomic reservation.
          if (t - lastRefillMs >= settings.refillIntervalMs) {
            lastRefillMs = t;
            const reserved = await reserve(deps, state, runId, false, now, sleep);
            if (reserved === PAUSED) {
              // The whole scheduler was paused meanwhile: stop; the next tick after the resume takes over.
              r.stoppedBy = 'paused';
              return false;
            }
            if (reserved > 0) return true;
          }
          await sleep(Math.min(pollMs, Math.max(0, untilMs - now())));
          return !shuttingDown;
        },
      },
      now,
      sleep,
    );
  } catch (err) {
    if (!isLeaseLost(err)) throw err;
    // The next tick took over: the normal end of a background dispatcher.
    r.handedOver = true;
    deps.log.info('background_dispatch_handed_over', { run_id: runId, error: coerceError(err).message });
  } finally {
    stopListening();
    await lease.release();
  }
}

/** Settles the calls in doubt at the provider; a failure is recorded and the tick goes on. */
async function lookUpCallsInDoubt(
  deps: TickDeps,
  state: TickState,
  settings: DispatchSettings,
  now: () => number,
): Promise<void> {
  const r = state.result;
  try {
    r.inDoubt = await settleCallsInDoubt(
      deps,
      now,
      (callId, message) => state.error({ stage: 'provider_check', call_id: callId, message }),
      Math.min(settings.providerRequestTimeoutMs, LOOKUP_TIMEOUT_MS),
    );
  } catch (err) {
    const e = coerceError(err);
    state.error({ stage: 'provider_check', message: e.message });
    deps.log.error('provider_check_failed', { run_id: r.runId, error: e.message });
  }
}

/**
 * Housekeeping and the reservation (a refill: the reservation alone); a failure is recorded and
 * dispatch goes on with the calls already queued. Returns the calls reserved, or PAUSED when the
 * whole scheduler is paused (nothing was done). The tick's clock reaches the database only when the
 * tick was given one (deps.now); otherwise the database's clock stamps the reservation, and the
 * tick waits for its own clock to pass the database's before it claims (waitForDatabaseClock).
 */
async function reserve(
  deps: TickDeps,
  state: TickState,
  runId: string,
  housekeeping: boolean,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
): Promise<number> {
  const r = state.result;
  try {
    const res = await reserveDueCalls(deps.pool, runId, deps.now ? new Date(now()) : null, housekeeping);
    if (res.outcome === 'paused') return PAUSED;
    if (!deps.now && res.callsReserved > 0) {
      const waited = await waitForDatabaseClock(res.databaseNowMs, now, sleep);
      if (waited >= CLOCK_AHEAD_WARN_MS) {
        deps.log.warn('database_clock_ahead', { run_id: r.runId, waited_ms: Math.round(waited) });
      }
    }
    r.released += res.callsReleased;
    r.expired += res.callsExpired;
    r.reserved += res.callsReserved;
    r.completed += res.campaignsCompleted;
    if (housekeeping) {
      // The tick's own reservation reports; refills would repeat the same problems every second.
      r.processed += res.campaignsProcessed;
      for (const p of res.problems) state.error({ stage: 'reserve', campaign_id: p.campaign_id, message: p.message });
    }
    return res.callsReserved;
  } catch (err) {
    const e = coerceError(err);
    state.error({ stage: housekeeping ? 'reserve' : 'refill', message: e.message });
    deps.log.error('reserve_failed', { run_id: r.runId, refill: !housekeeping, error: e.message });
    // Calls queued by earlier ticks can still be dispatched.
    return 0;
  }
}

async function finishRun(deps: TickDeps, state: TickState, startedMs: number, now: () => number): Promise<void> {
  const r = state.result;
  r.durationMs = Math.round(now() - startedMs);
  if (r.runId !== null) await writeRunEnd(deps, state);
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
    handed_over: r.handedOver,
    errors: r.errors.length + r.errorsTruncated,
  });
}

async function writeRunEnd(deps: TickDeps, state: TickState): Promise<void> {
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
        details: {
          deadline_reached: r.deadlineReached,
          errors_truncated: r.errorsTruncated,
          continued_until: r.continuesUntil,
          handed_over: r.handedOver,
          stopped_by: r.stoppedBy,
          in_doubt: r.inDoubt,
        },
      },
      errors,
    );
  } catch (err) {
    // The run stays 'running'; housekeeping marks it failed after abandoned_run_timeout.
    deps.log.error('finish_run_failed', { run_id: r.runId, error: coerceError(err).message });
  }
}
