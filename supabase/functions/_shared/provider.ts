// The one narrow telephony seam: create a call, and (per adapter) turn a status callback into ours.
// Every outcome of a create-call request is one of four kinds, because each needs different care:
//
//   accepted  - the provider created the call.
//   retryable - the provider certainly did NOT create it (429 rate limit, 503, connection refused
//               before anything was sent): the call goes back to the queue; not an attempt.
//   permanent - the provider refused it for good (bad number, bad caller id, bad credentials);
//               campaignLevel when the refusal is about the campaign or account, not the contact.
//   unknown   - we cannot know (timeout, reset after sending, 500/502/504): never re-sent
//               automatically, because double-dialling a person is worse than a missed attempt.
//               The status callback (its URL carries our call id) reconciles the row later.
//
// When in doubt between retryable and unknown, an adapter answers unknown (invariant 4 in docs/ARCHITECTURE.md).
// Adapters never throw for a provider's answer; the dispatcher still treats a throw as unknown.
// Each adapter also exports its callback parser (e.g. parseTwilioStatusCallback in twilio.ts).

import type { DbEnum } from './db-types.ts';

/** A call's status: the database's call_status enum (queued, dialing, ringing, in_progress, completed, busy, no_answer, failed, canceled, unknown). */
export type CallStatus = DbEnum<'call_status'>;

export interface CreateCallRequest {
  /** Our calls.id, as text. */
  callId: string;
  /** Our contacts.id, as text: with callId, tells the call flow whom it calls (the answer URL carries both). */
  contactId?: string;
  /** The contact's name (contacts.name), null or absent when it has none: the answer URL carries it too. */
  contactName?: string | null;
  /** The (sub)account to create the call under, when not the provider's main account. */
  accountSid?: string | null;
  to: string;
  from: string;
  /**
   * The call's signed opt-out URL (opt-out.ts): the answer URL carries it as opt_out_url, so the call
   * flow can list the called number without any other credential.
   */
  optOutUrl?: string;
  /**
   * The call's signed context URL (call-context.ts): the answer URL carries it as context_url (inline
   * TwiML where it says {{context_url}}), so the call flow can read whom it calls and why.
   */
  contextUrl?: string;
  /**
   * The call's signed callback URL (opt-out.ts): the answer URL carries it as callback_url, so the
   * call flow can schedule the person's next call at the instant they ask for.
   */
  callbackUrl?: string;
  /** Where the provider sends status callbacks; it already carries our call id. */
  statusCallbackUrl: string;
  /** The campaign's provider_settings (url / twiml / application_sid, machine_detection, timeout). */
  settings: Record<string, unknown>;
  timeoutMs: number;
  signal?: AbortSignal;
}

export type CreateCallOutcome =
  | { kind: 'accepted'; providerCallId: string; status: CallStatus }
  | { kind: 'retryable'; reason: string; code?: string; retryAfterMs?: number; httpStatus?: number }
  | {
    kind: 'permanent';
    reason: string;
    code?: string;
    httpStatus?: number;
    invalidNumber: boolean;
    /**
     * The refusal is about the campaign or the account (caller id, answer URL, credentials), not this
     * contact: every call of the campaign would fail the same way. The campaign pauses; the contact
     * keeps its attempt.
     */
    campaignLevel?: boolean;
  }
  | { kind: 'unknown'; reason: string };

export interface StatusUpdate {
  /** Our call id from the callback URL, when present. */
  callId: string | null;
  providerCallId: string;
  status: CallStatus;
  durationSeconds?: number;
  errorCode?: string;
  answeredBy?: string;
  timestamp?: string;
  sequenceNumber?: number;
}

/** A call in doubt (dialing or unknown for a while), to look up at the provider. */
export interface LookupCallRequest {
  /** The provider's call id when we hold one: looked up by it. */
  providerCallId: string | null;
  /** Else the calls to this number from this caller id, created since `dialedAt` (less clock skew). */
  to: string;
  from: string;
  dialedAt: Date;
  accountSid?: string | null;
  timeoutMs: number;
}

export type LookupCallOutcome =
  /** The provider placed the call: its status (and duration, who answered) as a callback would say. */
  | { kind: 'found'; providerCallId: string; status: CallStatus; durationSeconds?: number; answeredBy?: string }
  /** The provider has no such call: by id, no record; by number, no call created since it was dialled. */
  | { kind: 'absent' }
  /** The lookup itself failed (timeout, 5xx, an answer we cannot read): nothing is concluded. */
  | { kind: 'error'; reason: string };

export interface TelephonyProvider {
  readonly name: string;
  createCall(req: CreateCallRequest): Promise<CreateCallOutcome>;
  /**
   * Asks the provider what became of a call in doubt (optional: an adapter without it leaves such
   * calls to their callbacks and the reaper). Never throws for the provider's answer.
   */
  lookupCall?(req: LookupCallRequest): Promise<LookupCallOutcome>;
}
