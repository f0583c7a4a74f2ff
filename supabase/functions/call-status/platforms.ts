// call-status for the platforms besides Twilio, one path each:
//
//   POST /call-status/vapi        Vapi server messages (JSON). Authenticated by the server URL
//                                 secret (x-vapi-secret, or Authorization: Bearer): VAPI_SERVER_SECRET.
//                                 status-update and end-of-call-report are applied; other message
//                                 types are acknowledged and ignored.
//   POST /call-status/retell      Retell webhook events (JSON). x-retell-signature checked over the
//                                 raw body with RETELL_WEBHOOK_KEY (default RETELL_API_KEY).
//                                 call_started, call_ended, call_analyzed are applied; others ignored.
//   POST /call-status/signalwire  SignalWire LaML status callbacks (form-encoded, as Twilio's),
//                                 X-SignalWire-Signature checked with SIGNALWIRE_SIGNING_KEY.
//
// An account with its own key in PROVIDER_ACCOUNT_CREDENTIALS (serverSecret, webhookKey or its
// apiKey, signingKey) has its events verified with that key; the kind-level key above stands for
// the accounts without one. Every configured key is tried; the event is applied only when a key
// that verified it is the key of the account the call row names (its campaign's provider account),
// else 403 wrong_account, counted as a failure: one account's key never moves another's call.
//
// Our call id comes from the metadata we set when creating the call (Vapi, Retell) or from the
// callback URL (SignalWire). The status goes through apply_call_status() as Twilio's does
// (idempotent, never backwards, only for a call of that platform). A platform that is not
// configured answers 404; a missing or wrong secret 401 (counted per source like forged Twilio
// signatures); an unreadable body 400; a database failure 503 (the platform may retry).

import { HttpError, jsonResponse, readBodyLimited } from '../_shared/http.ts';
import type { SqlClient } from '../_shared/db.ts';
import type { StatusUpdate } from '../_shared/provider.ts';
import { applyCallStatus, providerAccountOfCall } from '../_shared/queries.ts';
import {
  type CredentialsByAccount,
  eventKeysOf,
  hasEventKeys,
  mayMoveCallOf,
  type VerifiedFor,
  verifiedNothing,
  verifyWithKeys,
} from '../_shared/providers/credentials.ts';
import type { Logger } from '../_shared/log.ts';
import { coerceError } from '../_shared/errors.ts';
import type { ServeInfo } from '../_shared/auth-limit.ts';
import { parseVapiServerMessage, verifyVapiServerSecret } from '../_shared/providers/vapi.ts';
import { parseRetellEvent, verifyRetellSignature } from '../_shared/providers/retell.ts';
import { parseTwilioStatusCallback, verifyTwilioSignature } from '../_shared/twilio.ts';

export const PLATFORM_PATHS = ['vapi', 'retell', 'signalwire'] as const;
export type Platform = typeof PLATFORM_PATHS[number];

export interface PlatformOptions {
  db: SqlClient;
  log: Logger;
  vapiServerSecret?: string;
  retellWebhookKey?: string;
  signalwireSigningKey?: string;
  /** Each provider account's own credentials: its own event key verifies its calls' events, and only those. */
  accountCredentials?: CredentialsByAccount;
  /** Public URL of call-status as the platforms call it (SignalWire signs the URL). */
  publicUrl: string;
  maxBodyBytes: number;
  /** Answers a failed authentication, counted per source (the handler's limiter). */
  refuse: (req: Request, info: ServeInfo | undefined, answer: () => Response) => Promise<Response>;
}

/** The platform a path names (…/call-status/vapi), or null. */
export function platformOf(pathname: string): Platform | null {
  const last = pathname.replace(/\/+$/, '').split('/').pop() ?? '';
  return (PLATFORM_PATHS as readonly string[]).includes(last) ? (last as Platform) : null;
}

const CALL_ID = /^[1-9][0-9]{0,17}$/;

export async function handlePlatformEvent(
  platform: Platform,
  req: Request,
  info: ServeInfo | undefined,
  opts: PlatformOptions,
): Promise<Response> {
  const body = await readBodyLimited(req, opts.maxBodyBytes);
  const unauthorized = () => jsonResponse({ error: 'unauthorized' }, 401);
  const keys = eventKeysOf(opts.accountCredentials ?? {}, {
    vapi: opts.vapiServerSecret,
    retell: opts.retellWebhookKey,
    signalwire: opts.signalwireSigningKey,
  })[platform];
  if (!hasEventKeys(keys)) return jsonResponse({ error: 'not_found', message: `${platform} is not configured` }, 404);
  let update: StatusUpdate | null;
  let verified: VerifiedFor;
  if (platform === 'signalwire') {
    const params = new URLSearchParams(body);
    const url = new URL(req.url);
    const signedUrl = `${opts.publicUrl}/signalwire${url.search}`;
    const signature = req.headers.get('x-signalwire-signature') ?? '';
    verified = await verifyWithKeys(
      keys,
      async (key) => !!signature && (await verifyTwilioSignature(key, signedUrl, params, signature)),
    );
    if (verifiedNothing(verified)) {
      opts.log.warn('callback_signature_invalid', { platform });
      return await opts.refuse(req, info, unauthorized);
    }
    update = parseOrBadRequest(() => parseTwilioStatusCallback(params, new URL(signedUrl)));
  } else {
    let parsed: unknown;
    if (platform === 'vapi') {
      verified = await verifyWithKeys(keys, (key) => verifyVapiServerSecret(req.headers, key));
    } else {
      const signature = req.headers.get('x-retell-signature') ?? '';
      verified = await verifyWithKeys(keys, async (key) => !!signature && (await verifyRetellSignature(key, body, signature)));
    }
    if (verifiedNothing(verified)) {
      opts.log.warn('callback_signature_invalid', { platform });
      return await opts.refuse(req, info, unauthorized);
    }
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new HttpError(400, 'the body is not JSON', 'bad_request');
    }
    update = parseOrBadRequest(() => (platform === 'vapi' ? parseVapiServerMessage(parsed) : parseRetellEvent(parsed)));
  }
  // A message about something else than the call's status (a transcript, a tool call): acknowledged.
  if (update === null) return jsonResponse({ result: 'ignored' });
  if (update.callId !== null && !CALL_ID.test(update.callId)) {
    throw new HttpError(400, 'the call id in the metadata must be a positive integer', 'bad_request');
  }
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(update.providerCallId)) {
    throw new HttpError(400, 'the provider call id is missing or malformed', 'bad_request');
  }
  let result: string;
  try {
    // The key that verified must be the call's own account's (its own key, or the kind's key for an
    // account without one): a key of account A never moves a call of account B. Without any
    // account key of this kind, the kind's key is every account's: nothing to look up.
    const account = Object.keys(keys.accounts).length === 0
      ? null
      : await providerAccountOfCall(opts.db, update.callId, platform, update.providerCallId);
    if (account !== null && !mayMoveCallOf(keys, verified, account)) {
      opts.log.warn('callback_wrong_account', { platform, call_id: update.callId, account });
      return await opts.refuse(req, info, () => jsonResponse({ error: 'wrong_account' }, 403));
    }
    result = await applyCallStatus(opts.db, {
      callId: update.callId,
      provider: platform,
      providerCallId: update.providerCallId,
      status: update.status,
      durationSeconds: update.durationSeconds ?? null,
      errorCode: update.errorCode ?? null,
      answeredBy: update.answeredBy ?? null,
      accountSid: null,
    });
  } catch (err) {
    opts.log.error('callback_db_error', { platform, call_id: update.callId, error: coerceError(err).message });
    return jsonResponse({ error: 'database_unavailable' }, 503);
  }
  if (result === 'wrong_account') {
    // A valid secret, for a call of another platform or account: refused like a forged one.
    opts.log.warn('callback_wrong_account', { platform, call_id: update.callId });
    return await opts.refuse(req, info, () => jsonResponse({ error: 'wrong_account' }, 403));
  }
  opts.log.info('callback_applied', { platform, call_id: update.callId, status: update.status, result });
  return jsonResponse({ result });
}

function parseOrBadRequest(parse: () => StatusUpdate | null): StatusUpdate | null {
  try {
    return parse();
  } catch (err) {
    throw new HttpError(400, coerceError(err).message, 'bad_request');
  }
}
