// What one provider answer means for the database and for the run's counts: the row
// record_dispatch_results() takes (the call's outcome and, where the answer says something about
// the provider's health, the circuit breaker's bookkeeping), the count it adds to, and how long a
// 429 holds the account's sends back. Pure.

import type { CreateCallOutcome } from '../provider.ts';
import type { ClaimedCall, DispatchResultRow } from '../queries.ts';

/** The run count an answer adds to: launched means the provider accepted the call. */
export type OutcomeCount = 'launched' | 'requeued' | 'failed' | 'unknown' | 'released';

export interface OutcomeEffect {
  row: DispatchResultRow;
  count: OutcomeCount;
  /** Set on a 429: how long no request may go out (ms from the answer), not even before the row is written. */
  rateLimitedForMs: number | null;
  /**
   * Set when the answer is a failure the run reports. campaignLevel: the provider refused the
   * campaign (the run reports it once per campaign, not once per call).
   */
  error: { message: string; code?: string; campaignLevel?: boolean } | null;
}

/** Provider answers that mean our side is misconfigured (credentials, account, base URL), not the call. */
export function isConfigurationFailure(httpStatus: number | undefined): boolean {
  return httpStatus === 401 || httpStatus === 403 || httpStatus === 404 ||
    (httpStatus !== undefined && httpStatus >= 300 && httpStatus < 400);
}

/**
 * The effect of `outcome` for `call`, answered at `atMs`. A retryable answer comes back after the
 * provider's Retry-After, or after two pacing intervals (at least a second).
 */
export function outcomeEffect(call: ClaimedCall, outcome: CreateCallOutcome, atMs: number, intervalMs: number): OutcomeEffect {
  const at = new Date(atMs);
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
  switch (outcome.kind) {
    case 'accepted':
      return {
        row: row({ provider_call_id: outcome.providerCallId, status: outcome.status }, { success: true, reason: null }),
        count: 'launched',
        rateLimitedForMs: null,
        error: null,
      };
    case 'retryable': {
      const backoffMs = outcome.retryAfterMs ?? Math.max(1000, intervalMs * 2);
      // Rate limited (429): slow down; not a failure of the call, nor of the provider.
      const rateLimited = outcome.httpStatus === 429;
      return {
        row: row(
          {
            reason: outcome.reason,
            error_code: outcome.code ?? null,
            retry_at: new Date(atMs + backoffMs).toISOString(),
            ...(rateLimited ? { hold_until: new Date(atMs + backoffMs).toISOString() } : {}),
          },
          rateLimited ? null : { success: false, reason: outcome.reason },
        ),
        count: 'requeued',
        rateLimitedForMs: rateLimited ? backoffMs : null,
        error: null,
      };
    }
    case 'permanent':
      if (outcome.campaignLevel) {
        // Not this contact's fault: the call is released (not an attempt) and the campaign pauses
        // with the reason. The breaker sees it as for any permanent answer.
        return {
          row: {
            call_id: call.call_id,
            outcome: 'campaign_rejected',
            reason: outcome.reason,
            error_code: outcome.code ?? null,
            at: at.toISOString(),
            breaker_success: !isConfigurationFailure(outcome.httpStatus),
            breaker_reason: outcome.reason,
          },
          count: 'released',
          rateLimitedForMs: null,
          error: {
            message: `campaign ${call.campaign_id} paused: ${outcome.reason}`,
            ...(outcome.code ? { code: outcome.code } : {}),
            campaignLevel: true,
          },
        };
      }
      // The provider answered: it is up, unless it refused our credentials or our endpoint is
      // wrong (every call would fail the same way: let the breaker stop the bleeding).
      return {
        row: row(
          { reason: outcome.reason, error_code: outcome.code ?? null, invalid_number: outcome.invalidNumber },
          { success: !isConfigurationFailure(outcome.httpStatus), reason: outcome.reason },
        ),
        count: 'failed',
        rateLimitedForMs: null,
        error: { message: outcome.reason, ...(outcome.code ? { code: outcome.code } : {}) },
      };
    case 'unknown':
      return {
        row: row({ reason: outcome.reason }, { success: false, reason: outcome.reason }),
        count: 'unknown',
        rateLimitedForMs: null,
        error: { message: outcome.reason },
      };
  }
}

/**
 * Rows that put claimed calls that were never sent back in the queue: retryable, due now, no
 * breaker bookkeeping (nothing was sent, so it is not an attempt).
 */
export function requeueRows(calls: readonly ClaimedCall[], reason: string, atMs: number): DispatchResultRow[] {
  const at = new Date(atMs).toISOString();
  return calls.map((call) => ({ call_id: call.call_id, outcome: 'retryable', reason, retry_at: at, at }));
}
