// call-status: Twilio status callbacks. Verifies X-Twilio-Signature over the public URL and the
// POST parameters, then applies the status (idempotent, never backwards) through apply_call_status().

import { errorResponse, HttpError, jsonResponse, readBodyLimited } from '../_shared/http.ts';
import { parseTwilioStatusCallback, verifyTwilioSignature } from '../_shared/twilio.ts';
import type { SqlClient } from '../_shared/db.ts';
import { applyCallStatus } from '../_shared/queries.ts';
import type { Logger } from '../_shared/log.ts';
import { coerceError } from '../_shared/errors.ts';
import { type AuthLimitConfig, createAuthFailureLimiter, type ServeInfo } from '../_shared/auth-limit.ts';

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
}

export function createCallStatusHandler(opts: CallStatusHandlerOptions): (req: Request, info?: ServeInfo) => Promise<Response> {
  const limiter = createAuthFailureLimiter({ db: opts.db, functionName: 'call-status', config: opts.authLimit, log: opts.log });
  return async (req: Request, info?: ServeInfo): Promise<Response> => {
    try {
      if (req.method !== 'POST') return jsonResponse({ error: 'method_not_allowed' }, 405, { allow: 'POST' });
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
