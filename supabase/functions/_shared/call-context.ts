// The per-call context URL: the call flow (the TwiML or AI agent handling the call) GETs it to learn
// whom it is calling and why: the contact's name, number, zones and metadata, the campaign's name
// and purpose, the attempt and what became of the one before (public.call_context()).
//
//   <functions>/call-status/context?call_id=<id>&sig=<base64url HMAC-SHA256(key, "context:" + id)>
//
// Signed with the opt-out URLs' key (opt-out.ts) under its own label, so it grants reading this
// call's context and nothing else. How the call flow receives it depends on the campaign's call
// action (twilio.ts buildCreateCallParams): `url` gets it as the context_url query parameter of the
// answer URL; `twiml` gets it where the TwiML says {{context_url}} (e.g. a <Parameter> of a
// <Stream>); an `application_sid` (a TwiML App, which Twilio tells only the CallSid) asks
// /call-status/context?call_sid=CA… with its account's SID and auth token (HTTP Basic).

import type { CallUrlPurpose } from './opt-out.ts';
import type { SqlClient } from './db.ts';

/** The path call-status serves the call context on (after /call-status). */
export const CONTEXT_SUBPATH = '/context';

/** The context URL (GET: read the call's context). */
export const CALL_CONTEXT: CallUrlPurpose = { label: 'context', subpath: CONTEXT_SUBPATH };

/**
 * How long after a call ended its context is still handed out: long enough for the flow to finish
 * its own work (a summary, a transfer's hand-over), short enough that an old URL found in a log
 * stops revealing the contact.
 */
export const CONTEXT_GRACE_SECONDS = 3600;

/** The placeholders a campaign's inline TwiML may carry, replaced per call (XML-escaped). */
export const TWIML_PLACEHOLDERS = { contextUrl: '{{context_url}}', optOutUrl: '{{opt_out_url}}' } as const;

/** What call_context() answers. */
export type CallContextResult =
  | { result: 'ok'; call: Record<string, unknown>; contact: Record<string, unknown>; campaign: Record<string, unknown> }
  | { result: 'no_such_call'; call_id: number }
  | { result: 'ended'; call_id: number; ended_at: string };

/** Call `callId`'s context as of `now` (public.call_context()). */
export async function readCallContext(db: SqlClient, callId: string, now: Date): Promise<CallContextResult> {
  const { rows } = await db.query<{ r: CallContextResult }>(
    'select public.call_context($1, $2, make_interval(secs => $3)) as r',
    [callId, now, CONTEXT_GRACE_SECONDS],
  );
  return rows[0]!.r;
}

/** Our call id for a provider CallSid under `accountSid` (null: the main account), or null. */
export async function callIdByProviderSid(db: SqlClient, callSid: string, accountSid: string | null): Promise<string | null> {
  const { rows } = await db.query<{ id: string | null }>(
    'select public.call_id_by_provider_sid($1, $2)::text as id',
    [callSid, accountSid],
  );
  return rows[0]?.id ?? null;
}
