// The per-call opt-out URL: the call flow (the TwiML or AI agent at the campaign's answer URL)
// receives it as the `opt_out_url` query parameter and POSTs to it when the called person asks not
// to be called again; call-status then puts that call's own number (read from the call row, never
// from the request) on the do-not-call list (public.opt_out_during_call).
//
//   <functions>/call-status/opt-out?call_id=<id>&sig=<base64url HMAC-SHA256(key, "opt-out:" + id)>
//
// The URL names one call and nothing else, so the call flow holds no admin credential: whoever has
// the URL can only list the number that call dialled. The key is OPT_OUT_SECRET (at least 32
// characters) when set, else derived from TWILIO_AUTH_TOKEN (HMAC-SHA256 under a fixed label, so
// the auth token itself never signs a URL). scheduler-tick, scheduler-admin (its manual tick) and
// call-status must see the same value: on Supabase the secrets are the project's, shared by all.
// Rotating it (or the auth token, when it is the source) invalidates the URLs of calls under way.
//
// The same key signs the call's other URLs, one purpose each (signCallUrl): the signed message is
// "<purpose>:<call id>", so a URL signed for one purpose (the read-only context) never passes for
// another (the opt-out, which writes).

const encoder = new TextEncoder();

/** The path call-status answers opt-outs on (after /call-status). */
export const OPT_OUT_SUBPATH = '/opt-out';

/** Our call ids: what a signed URL may name. */
const CALL_ID = /^[1-9][0-9]{0,17}$/;

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function hmacKey(material: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return await crypto.subtle.importKey('raw', material, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

/** The signing key: OPT_OUT_SECRET when set, else one derived from the Twilio auth token. */
export async function optOutKey(secret: string | undefined, twilioAuthToken: string): Promise<CryptoKey> {
  if (secret) return await hmacKey(encoder.encode(secret));
  const derived = await crypto.subtle.sign(
    'HMAC',
    await hmacKey(encoder.encode(twilioAuthToken)),
    encoder.encode('call-scheduler opt-out url key v1'),
  );
  return await hmacKey(new Uint8Array(derived));
}

/** What a per-call URL is for: its path under /call-status and the label its signature covers. */
export interface CallUrlPurpose {
  /** Signed as "<label>:<call id>"; one label per purpose. */
  label: string;
  /** The path call-status serves it on (after /call-status). */
  subpath: string;
}

/** The opt-out URL (POST: list the call's number). */
export const OPT_OUT: CallUrlPurpose = { label: 'opt-out', subpath: OPT_OUT_SUBPATH };

/** The signature of call `callId`'s URL for `purpose` (base64url, 43 characters). */
export async function signCallUrl(key: CryptoKey, purpose: CallUrlPurpose, callId: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(`${purpose.label}:${callId}`))));
}

/** Call `callId`'s signed URL for `purpose`, under the functions' public base URL. */
export async function callUrl(functionsUrl: string, key: CryptoKey, purpose: CallUrlPurpose, callId: string): Promise<string> {
  const u = new URL(`${functionsUrl}/call-status${purpose.subpath}`);
  u.searchParams.set('call_id', callId);
  u.searchParams.set('sig', await signCallUrl(key, purpose, callId));
  return u.toString();
}

/**
 * True when `sig` is the signature of `callId` for `purpose`. Constant-time: the expected signature
 * is always computed and compared byte by byte without an early exit, whatever was presented.
 */
export async function verifyCallUrl(
  key: CryptoKey,
  purpose: CallUrlPurpose,
  callId: string | null,
  sig: string | null,
): Promise<boolean> {
  const validId = callId !== null && CALL_ID.test(callId);
  const expected = encoder.encode(await signCallUrl(key, purpose, validId ? callId : '0'));
  const given = encoder.encode(sig ?? '');
  let diff = given.length === expected.length ? 0 : 1;
  for (let i = 0; i < expected.length; i++) diff |= expected[i]! ^ (given[i] ?? 0);
  return validId && diff === 0;
}

/** The signature of call `callId`'s opt-out URL (base64url, 43 characters). */
export async function signOptOut(key: CryptoKey, callId: string): Promise<string> {
  return await signCallUrl(key, OPT_OUT, callId);
}

/** The opt-out URL of call `callId`, under the functions' public base URL. */
export async function optOutUrl(functionsUrl: string, key: CryptoKey, callId: string): Promise<string> {
  return await callUrl(functionsUrl, key, OPT_OUT, callId);
}

/** True when `sig` is the signature of `callId`'s opt-out URL (constant-time, verifyCallUrl). */
export async function verifyOptOut(key: CryptoKey, callId: string | null, sig: string | null): Promise<boolean> {
  return await verifyCallUrl(key, OPT_OUT, callId, sig);
}

// The per-call callback URL, signed the same way with the same key under its own label: the call
// flow receives it as the `callback_url` query parameter and POSTs {at} to it when the called person
// asks to be called again at an instant ("tomorrow at 15:00"); call-status schedules that call's own
// contact's callback (public.callback_during_call): whoever has the URL can only move that one
// contact's next call.
//
//   <functions>/call-status/callback?call_id=<id>&sig=<base64url HMAC-SHA256(key, "callback:" + id)>

/** The path call-status answers callback requests on (after /call-status). */
export const CALLBACK_SUBPATH = '/callback';

/** The callback URL (POST {at}: the contact's next call at that instant). */
export const CALLBACK: CallUrlPurpose = { label: 'callback', subpath: CALLBACK_SUBPATH };

/** The signature of call `callId`'s callback URL (base64url, 43 characters). */
export async function signCallback(key: CryptoKey, callId: string): Promise<string> {
  return await signCallUrl(key, CALLBACK, callId);
}

/** The callback URL of call `callId`, under the functions' public base URL. */
export async function callbackUrl(functionsUrl: string, key: CryptoKey, callId: string): Promise<string> {
  return await callUrl(functionsUrl, key, CALLBACK, callId);
}

/** True when `sig` is the signature of `callId`'s callback URL (constant-time, verifyCallUrl). */
export async function verifyCallback(key: CryptoKey, callId: string | null, sig: string | null): Promise<boolean> {
  return await verifyCallUrl(key, CALLBACK, callId, sig);
}
