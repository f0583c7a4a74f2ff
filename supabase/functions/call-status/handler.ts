// call-status: Twilio status callbacks. Verifies X-Twilio-Signature over the public URL and the
// POST parameters, then applies the status (idempotent, never backwards) through apply_call_status().
//
// POST /call-status/opt-out?call_id=<id>&sig=<sig>: the called person opted out during the call. The
// call flow got this URL as opt_out_url (opt-out.ts); sig is verified in constant time, then the
// call's own number (from the call row) goes on the do-not-call list (opt_out_during_call(),
// audited with the call id). Any body is accepted and ignored (a <Gather> action posts its form).
//   200 {result: 'added' | 'already_listed'}  (a second request adds nothing)
//   ?reply=twiml: 200 text/xml TwiML instead (a short confirmation, then hang up): for a <Gather>
//                 whose action is the opt-out URL itself
//   401 {error: 'unauthorized'} for a missing or wrong signature (nothing written; counted per
//       source like the callbacks' forged signatures, 429 over the limit); 404 when the call is gone.
//
// GET /call-status/context?call_id=<id>&sig=<sig>: the call's context for the call flow (whom it
// calls and why, public.call_context()); the flow got this URL as context_url (call-context.ts).
// GET /call-status/context?call_sid=CA…, with HTTP Basic <AccountSid>:<auth token> of the call's
// own account (the main one or a subaccount in TWILIO_SUBACCOUNT_AUTH_TOKENS): the same, for a
// TwiML App, which Twilio tells only the CallSid. Reads only; GET only.
//   200 {call, contact, campaign}
//   400 a malformed call_sid; 401 {error: 'unauthorized'} for a missing or wrong signature (a URL
//       signed for another call id is wrong) or credential, counted like forged callbacks (429
//       over the limit); 404 no such call; 410 {error: 'ended'} once the call ended more than
//       CONTEXT_GRACE_SECONDS ago.
//
// POST /call-status/callback?call_id=<id>&sig=<sig>: the called person asked to be called again at an
// instant. The call flow got this URL as callback_url (opt-out.ts) and sends the instant as `at` (ISO
// 8601 with its offset): a JSON body {at}, a form field at, or the query parameter at. The call's own
// contact (from the call row) gets the callback (callback_during_call(), audited with the call id):
// after this call it waits for that instant and is then called before the campaign's other contacts.
//   200 {result: 'scheduled', callback_at}; ?reply=twiml: a short confirmation as TwiML
//   400 for a missing or malformed at (nothing written); 401 for a bad signature (as above);
//   404 when the call is gone; 409 when the contact may not be called again (do-not-call, invalid,
//   cancelled) or its campaign is over.

import type { CredentialsByAccount } from '../_shared/providers/credentials.ts';
import { errorResponse, HttpError, jsonResponse, readBodyLimited } from '../_shared/http.ts';
import { parseTwilioStatusCallback, verifyTwilioSignature } from '../_shared/twilio.ts';
import type { SqlClient } from '../_shared/db.ts';
import { applyCallStatus, optOutDuringCall } from '../_shared/queries.ts';
import type { Logger } from '../_shared/log.ts';
import { coerceError } from '../_shared/errors.ts';
import { timingSafeEqualStrings } from '../_shared/secrets.ts';
import { type AuthLimitConfig, createAuthFailureLimiter, type ServeInfo } from '../_shared/auth-limit.ts';
import { CALLBACK_SUBPATH, OPT_OUT_SUBPATH, verifyCallback, verifyCallUrl, verifyOptOut } from '../_shared/opt-out.ts';
import {
  CALL_CONTEXT,
  callIdByProviderSid,
  CONTEXT_GRACE_SECONDS,
  CONTEXT_SUBPATH,
  readCallContext,
} from '../_shared/call-context.ts';
import { handlePlatformEvent, platformOf } from './platforms.ts';
import { callbackDuringCall, NewCallback } from '../_shared/callbacks.ts';

/** What ?reply=twiml answers: a confirmation, then the call ends. */
export const OPT_OUT_TWIML =
  '<?xml version="1.0" encoding="UTF-8"?><Response><Say>You will not be called again. Goodbye.</Say><Hangup/></Response>';

/** What ?reply=twiml answers after a callback was scheduled. */
export const CALLBACK_TWIML =
  '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Thank you. We will call you back then. Goodbye.</Say><Hangup/></Response>';

export const MAX_CALLBACK_BODY_BYTES = 64 * 1024;

export interface CallStatusHandlerOptions {
  db: SqlClient;
  /** The main account's SID (TWILIO_ACCOUNT_SID): callbacks signed with authToken come from it. */
  accountSid: string;
  authToken: string;
  /** Subaccount SID -> auth token: a subaccount's callbacks are signed with its own token. */
  subaccountTokens?: Readonly<Record<string, string>>;
  /** Public URL of this function as the provider calls it, without query string. */
  publicUrl: string;
  log: Logger;
  /** Forged signatures per source before 429. */
  authLimit: AuthLimitConfig;
  /** The key of the per-call opt-out URLs (opt-out.ts optOutKey). */
  optOutKey: Promise<CryptoKey>;
  /** Vapi, Retell and SignalWire events (platforms.ts); absent: their paths answer 404. */
  vapiServerSecret?: string;
  retellWebhookKey?: string;
  signalwireSigningKey?: string;
  /**
   * Each provider account's own credentials (PROVIDER_ACCOUNT_CREDENTIALS): an account with its own
   * event key has its events verified with that key only (platforms.ts).
   */
  accountCredentials?: CredentialsByAccount;
}

export function createCallStatusHandler(opts: CallStatusHandlerOptions): (req: Request, info?: ServeInfo) => Promise<Response> {
  const limiter = createAuthFailureLimiter({ db: opts.db, functionName: 'call-status', config: opts.authLimit, log: opts.log });
  const optOut = async (req: Request, info?: ServeInfo): Promise<Response> => {
    await readBodyLimited(req, MAX_CALLBACK_BODY_BYTES); // ignored (a <Gather> action's Digits, an agent's JSON)
    const q = new URL(req.url).searchParams;
    const callId = q.get('call_id');
    if (!(await verifyOptOut(await opts.optOutKey, callId, q.get('sig')))) {
      opts.log.warn('opt_out_signature_invalid', {});
      return limiter.refuse(req, info, () => jsonResponse({ error: 'unauthorized' }, 401));
    }
    let result: string;
    try {
      result = await optOutDuringCall(opts.db, callId!, new Date());
    } catch (err) {
      opts.log.error('opt_out_db_error', { call_id: callId, error: coerceError(err).message });
      return jsonResponse({ error: 'database_unavailable' }, 503);
    }
    opts.log.info('opt_out', { call_id: callId, result });
    if (result === 'no_such_call') return jsonResponse({ error: 'not_found', message: 'no such call' }, 404);
    if (q.get('reply') === 'twiml') {
      return new Response(OPT_OUT_TWIML, { headers: { 'content-type': 'text/xml; charset=utf-8', 'cache-control': 'no-store' } });
    }
    return jsonResponse({ result });
  };

  const unauthorized = (req: Request, info: ServeInfo | undefined, message: string, basic: boolean) =>
    limiter.refuse(
      req,
      info,
      () =>
        jsonResponse({ error: 'unauthorized', message }, 401, basic ? { 'www-authenticate': 'Basic realm="call-status"' } : {}),
    );

  /** The account HTTP Basic proves (null: the main one), or undefined when it proves none. */
  const basicAccount = async (req: Request): Promise<string | null | undefined> => {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers.get('authorization') ?? '');
    if (!m) return undefined;
    let decoded: string;
    try {
      decoded = atob(m[1]!);
    } catch {
      return undefined;
    }
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const sid = decoded.slice(0, colon);
    const token = decoded.slice(colon + 1);
    if (sid === opts.accountSid) return (await timingSafeEqualStrings(token, opts.authToken)) ? null : undefined;
    if (opts.subaccountTokens !== undefined && Object.hasOwn(opts.subaccountTokens, sid)) {
      return (await timingSafeEqualStrings(token, opts.subaccountTokens[sid]!)) ? sid : undefined;
    }
    await timingSafeEqualStrings(token, opts.authToken); // the same work for an unknown account
    return undefined;
  };

  const context = async (req: Request, info?: ServeInfo): Promise<Response> => {
    if (req.method !== 'GET') return jsonResponse({ error: 'method_not_allowed' }, 405, { allow: 'GET' });
    const q = new URL(req.url).searchParams;
    const callSid = q.get('call_sid');
    let callId: string | null;
    if (callSid !== null) {
      if (!/^CA[0-9a-fA-F]{32}$/.test(callSid)) {
        throw new HttpError(400, 'call_sid must be CA followed by 32 hex digits', 'bad_request');
      }
      const account = await basicAccount(req);
      if (account === undefined) {
        opts.log.warn('context_credential_invalid', {});
        return await unauthorized(req, info, "call_sid needs HTTP Basic with the call's account SID and auth token", true);
      }
      try {
        callId = await callIdByProviderSid(opts.db, callSid, account);
      } catch (err) {
        opts.log.error('context_db_error', { call_sid: callSid, error: coerceError(err).message });
        return jsonResponse({ error: 'database_unavailable' }, 503);
      }
      if (callId === null) return jsonResponse({ error: 'not_found', message: 'no such call in this account' }, 404);
    } else {
      callId = q.get('call_id');
      if (!(await verifyCallUrl(await opts.optOutKey, CALL_CONTEXT, callId, q.get('sig')))) {
        opts.log.warn('context_signature_invalid', {});
        return await unauthorized(req, info, 'the signature does not match this call id', false);
      }
    }
    let found;
    try {
      found = await readCallContext(opts.db, callId!, new Date());
    } catch (err) {
      opts.log.error('context_db_error', { call_id: callId, error: coerceError(err).message });
      return jsonResponse({ error: 'database_unavailable' }, 503);
    }
    if (found.result === 'no_such_call') return jsonResponse({ error: 'not_found', message: 'no such call' }, 404);
    if (found.result === 'ended') {
      return jsonResponse({
        error: 'ended',
        message:
          `the call ended at ${found.ended_at}; its context is served until ${CONTEXT_GRACE_SECONDS} seconds after it ends`,
      }, 410);
    }
    opts.log.info('context_read', { call_id: callId });
    const { call, contact, campaign } = found;
    return jsonResponse({ call, contact, campaign });
  };

  /** The instant a callback request names: JSON {at}, a form field at, or the query's at. */
  const requestedAt = (req: Request, body: string): unknown => {
    const type = req.headers.get('content-type') ?? '';
    if (/^application\/json\b/i.test(type)) {
      try {
        return (JSON.parse(body) as { at?: unknown } | null)?.at;
      } catch {
        return undefined;
      }
    }
    if (/^application\/x-www-form-urlencoded\b/i.test(type)) {
      const at = new URLSearchParams(body).get('at');
      if (at !== null) return at;
    }
    return new URL(req.url).searchParams.get('at') ?? undefined;
  };

  const callback = async (req: Request, info?: ServeInfo): Promise<Response> => {
    const body = await readBodyLimited(req, MAX_CALLBACK_BODY_BYTES);
    const q = new URL(req.url).searchParams;
    const callId = q.get('call_id');
    if (!(await verifyCallback(await opts.optOutKey, callId, q.get('sig')))) {
      opts.log.warn('callback_request_signature_invalid', {});
      return limiter.refuse(req, info, () => jsonResponse({ error: 'unauthorized' }, 401));
    }
    const parsed = NewCallback.safeParse({ at: requestedAt(req, body) });
    if (!parsed.success) {
      return jsonResponse({
        error: 'bad_request',
        message: 'at: the instant to call back, as a date-time with its offset (2026-12-03T15:00:00+01:00)',
      }, 400);
    }
    let row;
    try {
      row = await callbackDuringCall(opts.db, callId!, parsed.data.at, new Date());
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === '55000') return jsonResponse({ error: 'conflict', message: coerceError(err).message }, 409);
      if (code === '22023') return jsonResponse({ error: 'bad_request', message: coerceError(err).message }, 400);
      opts.log.error('callback_request_db_error', { call_id: callId, error: coerceError(err).message });
      return jsonResponse({ error: 'database_unavailable' }, 503);
    }
    if (!row) return jsonResponse({ error: 'not_found', message: 'no such call' }, 404);
    opts.log.info('callback_scheduled', { call_id: callId, callback_at: row.callback_at });
    if (q.get('reply') === 'twiml') {
      return new Response(CALLBACK_TWIML, {
        headers: { 'content-type': 'text/xml; charset=utf-8', 'cache-control': 'no-store' },
      });
    }
    return jsonResponse({ result: 'scheduled', callback_at: row.callback_at });
  };

  return async (req: Request, info?: ServeInfo): Promise<Response> => {
    try {
      if (new URL(req.url).pathname.replace(/\/+$/, '').endsWith(CONTEXT_SUBPATH)) return await context(req, info);
      if (req.method !== 'POST') return jsonResponse({ error: 'method_not_allowed' }, 405, { allow: 'POST' });
      if (new URL(req.url).pathname.replace(/\/+$/, '').endsWith(OPT_OUT_SUBPATH)) return await optOut(req, info);
      if (new URL(req.url).pathname.replace(/\/+$/, '').endsWith(CALLBACK_SUBPATH)) return await callback(req, info);
      const platform = platformOf(new URL(req.url).pathname);
      if (platform) {
        return await handlePlatformEvent(platform, req, info, {
          ...opts,
          maxBodyBytes: MAX_CALLBACK_BODY_BYTES,
          refuse: (r, i, answer) => limiter.refuse(r, i, answer),
        });
      }
      const type = req.headers.get('content-type') ?? '';
      if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
        throw new HttpError(415, 'body must be application/x-www-form-urlencoded', 'unsupported_media_type');
      }
      const body = await readBodyLimited(req, MAX_CALLBACK_BODY_BYTES);
      const params = new URLSearchParams(body);
      const requestUrl = new URL(req.url);
      const signedUrl = `${opts.publicUrl}${requestUrl.search}`;
      const signature = req.headers.get('x-twilio-signature') ?? '';
      // The callback names its account (AccountSid): a subaccount signs with its own token.
      const accountSid = params.get('AccountSid') ?? '';
      const subaccount = opts.subaccountTokens !== undefined && Object.hasOwn(opts.subaccountTokens, accountSid);
      const token = subaccount ? opts.subaccountTokens![accountSid]! : opts.authToken;
      if (!signature || !(await verifyTwilioSignature(token, signedUrl, params, signature))) {
        opts.log.warn('callback_signature_invalid', { path: requestUrl.pathname });
        return limiter.refuse(req, info, () => jsonResponse({ error: 'invalid_signature' }, 403));
      }

      const callIdParam = requestUrl.searchParams.get('call_id');
      if (callIdParam !== null && !/^[1-9][0-9]{0,17}$/.test(callIdParam)) {
        throw new HttpError(400, 'call_id must be a positive integer', 'bad_request');
      }
      let update;
      try {
        update = parseTwilioStatusCallback(params, new URL(signedUrl));
      } catch (err) {
        throw new HttpError(400, coerceError(err).message, 'bad_request');
      }
      if (!update.providerCallId || !/^[A-Za-z0-9]{1,64}$/.test(update.providerCallId)) {
        throw new HttpError(400, 'CallSid is missing or malformed', 'bad_request');
      }

      // The account the signature proves: the subaccount whose token verified it, else the main
      // account (whose token may sign for any of its subaccounts: it is theirs to create calls
      // under). apply_call_status() refuses it unless it is the call's own account, so one
      // subaccount's token cannot complete another account's calls.
      const signedFor = subaccount ? accountSid : accountSid === '' || accountSid === opts.accountSid ? null : accountSid;

      let result: string;
      try {
        result = await applyCallStatus(opts.db, {
          callId: callIdParam,
          provider: 'twilio',
          providerCallId: update.providerCallId,
          status: update.status,
          durationSeconds: update.durationSeconds ?? null,
          errorCode: update.errorCode ?? null,
          answeredBy: update.answeredBy ?? null,
          accountSid: signedFor,
        });
      } catch (err) {
        // Tell the provider to try again later; nothing was changed.
        opts.log.error('callback_db_error', { call_id: callIdParam, error: coerceError(err).message });
        return jsonResponse({ error: 'database_unavailable' }, 503);
      }
      if (result === 'wrong_account') {
        // A valid signature, for another account's call: refused and counted like a forged one.
        opts.log.warn('callback_wrong_account', { call_id: callIdParam, account_sid: accountSid, path: requestUrl.pathname });
        return limiter.refuse(req, info, () => jsonResponse({ error: 'wrong_account' }, 403));
      }
      if (result === 'not_found' || result === 'mismatch') {
        opts.log.warn('callback_unmatched', { call_id: callIdParam, provider_call_id: update.providerCallId, result });
      } else {
        opts.log.info('callback_applied', { call_id: callIdParam, status: update.status, result });
      }
      return jsonResponse({ result });
    } catch (err) {
      if (err instanceof HttpError) return errorResponse(err);
      opts.log.error('callback_error', { error: coerceError(err).message });
      return jsonResponse({ error: 'internal_error' }, 500);
    }
  };
}
