// Dispatch, composed from its parts: the breaker gate (may we send?), the claim loop (which calls,
// how many at once, each at the send slot the database's rate bucket gave it), the rate hold (a
// provider's 429), the sender (one create-call request and what its answer means) and the result
// batcher (many answers, one round trip). Calls the provider accepted are counted as launched.
// One dispatch() is one phase of a tick: inside its budget, or in the background after it answered
// (guarded by the dispatch lease, refilling the queue when it runs dry).

import { coerceError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CreateCallOutcome } from '../provider.ts';
import { noAdapterOutcome, type ProviderDeps, providerFor } from '../providers/registry.ts';
import {
  acquireDispatchPermit,
  blockedAccounts,
  type ClaimedCall,
  claimQueuedCalls,
  type DispatchResultRow,
  type DispatchSettings,
  queuedCallsDue,
} from '../queries.ts';
import { recordDispatchResultsByProvider } from './record-by-provider.ts';
import type { SqlPool } from '../db.ts';
import type { RunError } from '../status.ts';
import { BreakerGates } from './breaker-gate.ts';
import { runClaimLoop } from './claim-loop.ts';
import { type OutcomeEffect, outcomeEffect, requeueRows } from './outcome.ts';
import { claimHorizonMs, RateHold, slotIntervalMs } from './rate.ts';
import { ResultBatcher } from './result-batcher.ts';

/** Stop claiming when less than this remains of the budget (a request needs time to answer). */
export const MIN_REQUEST_WINDOW_MS = 1000;
/** Time kept at the end of the budget to record results and finish the run. */
export const FINISH_MARGIN_MS = 250;
/**
 * The longest a provider's answer waits to be recorded with others in one round trip
 * (record_dispatch_results). Answers are recorded at once when the batch is full
 * (dispatch_batch_size), when no other request is out, in breaker probe mode, when an answer
 * counts against the breaker, and when dispatch ends. The request's place under the concurrency is
 * free meanwhile, so the wait costs no throughput; a batch's fixed cost in the database (about 1 ms
 * of CPU, each answer about 65 us more: docs/performance.md, "Dispatch") is shared by more answers.
 * At 25 ms a dispatcher sending 600 calls a second recorded batches of 16 on average; at 100 ms
 * they fill up (50) from about 500 answers a second.
 */
export const RECORD_FLUSH_DELAY_MS = 100;

/** The run counts dispatch adds to. */
export interface DispatchCounts {
  runId: string | null;
  launched: number;
  failed: number;
  unknown: number;
  requeued: number;
  released: number;
  breaker: string | null;
  deadlineReached: boolean;
}

export interface DispatchReport {
  readonly result: DispatchCounts;
  error(e: RunError): void;
}

export interface DispatchDeps extends ProviderDeps {
  pool: SqlPool;
  log: Logger;
  statusCallbackUrl: (callId: string) => string;
  /** The call's signed opt-out URL (opt-out.ts), handed to the call flow; absent: none. */
  optOutUrl?: (callId: string) => Promise<string>;
  /** The call's signed context URL (call-context.ts), handed to the call flow; absent: none. */
  contextUrl?: (callId: string) => Promise<string>;
  /** The call's signed callback URL (opt-out.ts), handed to the call flow; absent: none. */
  callbackUrl?: (callId: string) => Promise<string>;
  /** See TickDeps.claimAheadMinAnswersPerS. */
  claimAheadMinAnswersPerS?: number;
}

export interface DispatchPhase {
  /** Every request is answered (or timed out) and recorded by then. */
  deadlineMs: number;
  /** The dispatch lease's fencing token guarding every claim (a background dispatcher), or null. */
  leaseToken: string | null;
  /**
   * The queue is empty: inside a tick, null (stop once the requests in flight are answered); in the
   * background, refill and wait for more (true: go on).
   */
  idle: ((now: number) => Promise<boolean>) | null;
  /** True once this phase should stop claiming (the function is being shut down). */
  stopped?: () => boolean;
}

export async function dispatch(
  deps: DispatchDeps,
  report: DispatchReport,
  settings: DispatchSettings,
  phase: DispatchPhase,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  const r = report.result;
  const deadlineMs = phase.deadlineMs;
  const hold = new RateHold();
  const intervalMs = slotIntervalMs(settings.providerCallsPerSecond, settings.rateMarginMs);
  const claimStopMs = deadlineMs - Math.min(settings.providerRequestTimeoutMs, MIN_REQUEST_WINDOW_MS) - FINISH_MARGIN_MS;

  const gates = new BreakerGates(
    (account) => acquireDispatchPermit(deps.pool, account, new Date(now())),
    (account, reason) => {
      deps.log.warn('breaker_open', { run_id: r.runId, provider: providerOfAccount.get(account), account, reason });
      report.error({
        stage: 'breaker',
        message: `circuit breaker for account ${account} opened: ${reason ?? 'provider failures'}`,
      });
    },
  );
  /** The account of each call sent, for the breaker state its answer reports. */
  const accountOf = new Map<string, string>();
  /** The provider (adapter kind) of each call sent, and of each account: its answers are recorded as that provider's. */
  const providerOf = new Map<string, string>();
  const providerOfAccount = new Map<string, string>();
  let blockedReported = false;
  try {
    /** Create-call requests sent and not answered yet. */
    let sending = 0;
    /** Campaigns the provider refused in this run (reported once each). */
    const pausedCampaigns = new Set<string>();
    const batcher = new ResultBatcher<DispatchResultRow, string | null>({
      batchSize: settings.dispatchBatchSize,
      flushDelayMs: RECORD_FLUSH_DELAY_MS,
      write: (rows) => recordDispatchResultsByProvider(deps.pool, (id) => providerOf.get(id) ?? deps.provider.name, rows),
      applied: (row, state) => {
        const account = accountOf.get(row.call_id);
        accountOf.delete(row.call_id);
        providerOf.delete(row.call_id);
        if (row.breaker_success !== undefined && account !== undefined) {
          gates.note(account, state ?? null, row.breaker_reason ?? null);
        }
      },
      urgent: (row) =>
        sending === 0 || // nothing else is coming soon: waiting would only delay this one
        gates.probing || // the probe's answer decides whether the account goes on
        row.breaker_success === false, // the breaker must learn about failures at once
    });

    /** Answers being recorded (the batcher writes them; the loop does not wait for them to send more). */
    const recording = new Set<Promise<void>>();

    const record = async (call: ClaimedCall, outcome: CreateCallOutcome, effect: OutcomeEffect): Promise<void> => {
      try {
        await batcher.add(effect.row);
        r[effect.count]++;
        if (effect.rateLimitedForMs !== null) {
          deps.log.warn('provider_rate_limited', {
            run_id: r.runId,
            call_id: call.call_id,
            retry_after_ms: effect.rateLimitedForMs,
          });
        }
        if (effect.error?.campaignLevel) {
          // One line per paused campaign, not one per call it would have burnt.
          if (!pausedCampaigns.has(call.campaign_id)) {
            pausedCampaigns.add(call.campaign_id);
            const { campaignLevel: _, ...error } = effect.error;
            report.error({ stage: 'dispatch', campaign_id: call.campaign_id, ...error });
          }
        } else if (effect.error) {
          report.error({ stage: 'dispatch', call_id: call.call_id, campaign_id: call.campaign_id, ...effect.error });
        }
      } catch (err) {
        // The call stays in dialing: never re-sent; the status callback or the reaper settles it.
        const e = coerceError(err);
        report.error({ stage: 'record', call_id: call.call_id, message: e.message });
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

    // One create-call request. It resolves when the provider has answered, which frees the request's
    // place under dispatch_concurrency; the answer is recorded meanwhile (batched), and a 429 holds
    // the next sends back before this returns. A probe's answer is recorded before it returns.
    const send = async (call: ClaimedCall): Promise<void> => {
      accountOf.set(call.call_id, call.provider_account);
      providerOf.set(call.call_id, call.provider);
      providerOfAccount.set(call.provider_account, call.provider);
      // The adapter of the call's account kind (the call row carries it from its campaign).
      const adapter = providerFor(deps, call.provider, call.provider_account);
      const timeoutMs = Math.max(100, Math.min(settings.providerRequestTimeoutMs, deadlineMs - FINISH_MARGIN_MS - now()));
      let outcome: CreateCallOutcome;
      sending++;
      try {
        outcome = !adapter ? noAdapterOutcome(call.provider, call.provider_account, deps) : await adapter.createCall({
          callId: call.call_id,
          contactId: call.contact_id,
          contactName: call.contact_name,
          accountSid: call.account_sid,
          to: call.to_phone,
          from: call.caller_id,
          statusCallbackUrl: deps.statusCallbackUrl(call.call_id),
          ...(deps.optOutUrl ? { optOutUrl: await deps.optOutUrl(call.call_id) } : {}),
          ...(deps.contextUrl ? { contextUrl: await deps.contextUrl(call.call_id) } : {}),
          ...(deps.callbackUrl ? { callbackUrl: await deps.callbackUrl(call.call_id) } : {}),
          settings: call.provider_settings ?? {},
          timeoutMs,
        });
      } catch (err) {
        outcome = { kind: 'unknown', reason: `provider adapter threw: ${coerceError(err).message}` };
      } finally {
        sending--;
      }
      const at = now();
      const effect = outcomeEffect(call, outcome, at, intervalMs);
      // Before the answer is recorded: the next calls must not go out meanwhile.
      if (effect.rateLimitedForMs !== null) hold.holdUntil(at + effect.rateLimitedForMs);
      const p: Promise<void> = record(call, outcome, effect).finally(() => recording.delete(p));
      recording.add(p);
      // A breaker probe stays out until its answer is recorded: that answer decides whether the
      // account's other calls go out.
      if (gates.probing) await p;
    };

    const unclaim = async (calls: ClaimedCall[], reason: string): Promise<void> => {
      if (calls.length === 0) return;
      try {
        // One round trip, no breaker bookkeeping (nothing was sent).
        const kindOf = new Map(calls.map((c) => [c.call_id, c.provider]));
        await recordDispatchResultsByProvider(
          deps.pool,
          (id) => kindOf.get(id) ?? deps.provider.name,
          requeueRows(calls, reason, now()),
        );
        r.requeued += calls.length;
      } catch (err) {
        // Left in dialing without having been sent: the reaper expires them (counted as an attempt).
        const message = coerceError(err).message;
        for (const call of calls) report.error({ stage: 'record', call_id: call.call_id, message });
      }
    };

    try {
      await runClaimLoop({
        concurrency: settings.dispatchConcurrency,
        batchSize: settings.dispatchBatchSize,
        claimStopMs,
        horizonMs: claimHorizonMs(settings.providerCallsPerSecond, settings.rateMarginMs),
        maxLatenessMs: settings.rateMarginMs / 2,
        claimAheadMinAnswersPerS: deps.claimAheadMinAnswersPerS,
        now,
        sleep,
        hold,
        gates,
        claim: (want, t, horizonMs, shiftMs, giveBack) =>
          claimQueuedCalls(deps.pool, {
            limit: want,
            runId: r.runId,
            now: new Date(t),
            leaseToken: phase.leaseToken,
            horizonMs,
            shiftMs,
            giveBack,
          }),
        queuedDue: (t) => queuedCallsDue(deps.pool, new Date(t)),
        idle: async (inFlight, waitForAnswer) => {
          if (phase.idle === null) {
            // Inside a tick: done once the last answers are in (an answer may requeue a call).
            if (inFlight === 0) return false;
            await waitForAnswer();
            return true;
          }
          return await phase.idle(now());
        },
        send,
        unclaim,
        onReleased: (n) => {
          r.released += n;
        },
        onDeadline: () => {
          r.deadlineReached = true;
        },
        // Answers waiting for a batch go now; the last outstanding answer flushes itself (sending === 0).
        beforeDrain: () => batcher.flush(),
        ...(phase.stopped ? { stopped: phase.stopped } : {}),
      });
    } finally {
      // Every answer is recorded before dispatch returns (and before the run is finished), also when
      // claiming failed half-way.
      batcher.flush();
      await Promise.allSettled([...recording]);
    }
    // Calls that wait because their account's breaker is open: one line per account, not one per call.
    for (const b of await blockedAccounts(deps.pool, new Date(now()))) {
      blockedReported = true;
      const until = b.openUntil ? ` until ${b.openUntil.toISOString()}` : '';
      report.error({
        stage: 'dispatch',
        message: `circuit breaker for account ${b.account} is ${
          b.state.replace('_', ' ')
        }${until}: ${b.queuedCalls} queued calls wait`,
      });
      deps.log.warn('dispatch_skipped_breaker_open', { run_id: r.runId, account: b.account, queued_calls: b.queuedCalls });
    }
  } finally {
    r.breaker = blockedReported ? 'open' : gates.state;
  }
}
