// The Twilio adapter: create a call through the REST Calls API, turn Twilio's status callbacks into
// our status, and check their X-Twilio-Signature. Web-standard APIs only (fetch, crypto.subtle,
// TextEncoder, AbortSignal, URLSearchParams, btoa): Node (vitest) and Deno (Edge Functions) run it.
//
// How an answer to "create this call" becomes an outcome (provider.ts), and why:
//
//   2xx with a call sid           accepted
//   2xx without a readable sid    unknown    Twilio said it created something; the callback (its URL
//                                            carries our call id) finds the row
//   429, or code 20429            retryable  rate limited: Twilio did not create the call; Retry-After
//                                            is honoured
//   503                           retryable  Twilio documents 503 as "not processed, try again later"
//   4xx (not 408, 429)            permanent  Twilio refused it: bad To (invalidNumber), or bad From,
//                                            Url, credentials, account (campaignLevel: the
//                                            campaign pauses, TWILIO_CAMPAIGN_LEVEL_CODES)
//   408                           unknown    only proxies send it; we cannot tell what reached Twilio
//   3xx                           permanent  Twilio's API never redirects: TWILIO_API_BASE_URL is wrong
//   500, 502, 504, other 5xx      unknown    the call may have been created before the error
//   connection refused, DNS       retryable  the request never left this machine (nothing was sent)
//   timeout, reset, aborted       unknown    the request may have reached Twilio
//   caller aborted before sending retryable  nothing was sent
//   malformed campaign            permanent  caught before sending: no Url / Twiml / ApplicationSid,
//                                            or more than one, or a bad machine_detection / timeout

import type {
  CallStatus,
  CreateCallOutcome,
  CreateCallRequest,
  LookupCallOutcome,
  LookupCallRequest,
  StatusUpdate,
  TelephonyProvider,
} from './provider.ts';
import { coerceError } from './errors.ts';
import { isE164 } from './phone.ts';
import { TWIML_PLACEHOLDERS } from './call-context.ts';

export const TWILIO_API_VERSION = '2010-04-01';
export const DEFAULT_TWILIO_BASE_URL = 'https://api.twilio.com';
/** Every call progress event Twilio can report; we ask for all of them. */
export const TWILIO_STATUS_CALLBACK_EVENTS = ['initiated', 'ringing', 'answered', 'completed'] as const;
/** Twilio's limit on inline TwiML. */
export const MAX_TWIML_LENGTH = 4000;
/** Used when a caller passes no usable timeoutMs. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** A Retry-After longer than this is capped: a bogus header must not park the queue for hours. */
export const MAX_RETRY_AFTER_MS = 10 * 60 * 1000;

/**
 * Twilio error codes that mean "this destination cannot be called": the contact's number is bad,
 * not our configuration. 21211 invalid To, 21214 To cannot be reached, 21217 To is not a valid
 * phone number, 21401 invalid phone number, 21407 number not supported, 13223 / 13224 invalid
 * phone number format (TwiML Dial).
 */
export const TWILIO_INVALID_NUMBER_CODES: ReadonlySet<number> = new Set([21211, 21214, 21217, 21401, 21407, 13223, 13224]);

/**
 * Twilio error codes that refuse the campaign (or the whole account), not the contact: every call
 * with the same From / Url / credentials fails the same way, so the campaign pauses with the
 * reason and no contact is charged an attempt (Twilio's error dictionary, twilio.com/docs/api/errors).
 */
export const TWILIO_CAMPAIGN_LEVEL_CODES: ReadonlyMap<number, string> = new Map([
  [10001, 'the Twilio account is not active'],
  [20003, 'Twilio refused the credentials (permission denied)'],
  [20005, 'the Twilio account is not active'],
  [21205, 'the answer URL is not a valid URL'],
  [21210, 'the caller id (From) is not verified for the account'],
  [21212, 'the caller id (From) is not a valid phone number'],
  [21213, 'the caller id (From) is missing'],
]);

// Every other 4xx code is permanent for this call only (21215 geographic permission and 21216
// blocked depend on the destination; 21609 StatusCallback, 21626 StatusCallbackEvent).

/** Twilio's rate-limit error code (with HTTP 429). */
export const TWILIO_RATE_LIMIT_CODE = 20429;

export interface TwilioProviderOptions {
  accountSid: string;
  authToken: string;
  /** Default https://api.twilio.com; the simulator's URL locally. */
  baseUrl?: string;
  /** Default globalThis.fetch. */
  fetch?: typeof fetch;
  /** http:// answer URLs (provider_settings.url) too: ALLOW_INSECURE_URLS, local development only. Default false. */
  allowInsecureUrls?: boolean;
}

const APPLICATION_SID = /^AP[0-9a-fA-F]{32}$/;
/** What we accept as a provider call id (Twilio: CA + 32 hex). */
const PROVIDER_CALL_ID = /^[A-Za-z0-9]{1,64}$/;

// ---------------------------------------------------------------------------------------------
// Status mapping

const STATUS_MAP: Readonly<Record<string, CallStatus>> = {
  // Twilio's queued / initiated both mean "Twilio has it and is dialling": our 'queued' means
  // reserved in our database and not yet sent, so they map to 'dialing'.
  queued: 'dialing',
  initiated: 'dialing',
  ringing: 'ringing',
  'in-progress': 'in_progress',
  completed: 'completed',
  busy: 'busy',
  'no-answer': 'no_answer',
  failed: 'failed',
  canceled: 'canceled',
};

/** Twilio CallStatus -> ours; null for a value Twilio does not document. */
export function mapTwilioCallStatus(s: string): CallStatus | null {
  const key = s.trim().toLowerCase();
  return Object.prototype.hasOwnProperty.call(STATUS_MAP, key) ? (STATUS_MAP[key] ?? null) : null;
}

// ---------------------------------------------------------------------------------------------
// Status callbacks

function nonNegativeInt(v: string | null): number | undefined {
  if (v === null || !/^\s*[0-9]{1,12}\s*$/.test(v)) return undefined;
  return Number(v.trim());
}

/**
 * A date as Twilio and HTTP write them (RFC 2822 / RFC 7231 "Sat, 28 Nov 2026 13:45:01 GMT", or
 * ISO 8601), in ms; NaN otherwise. Date.parse alone is too lenient: V8 reads "-5" as a year.
 */
function parseDate(v: string): number {
  if (!/\b\d{4}\b/.test(v) || !/\d{1,2}:\d{2}/.test(v)) return Number.NaN;
  return Date.parse(v);
}

function nonEmpty(v: string | null): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}

/**
 * A Twilio status callback (its form parameters and the URL it was sent to) as our StatusUpdate.
 * Our call id comes from the callback URL's `call_id` query parameter (null when absent). Throws
 * when CallSid is missing or CallStatus is not a Twilio call status. Verify the signature first.
 */
export function parseTwilioStatusCallback(params: URLSearchParams, url: URL): StatusUpdate {
  const providerCallId = nonEmpty(params.get('CallSid'));
  if (!providerCallId) throw new Error('CallSid is missing');
  const rawStatus = params.get('CallStatus');
  const status = rawStatus === null ? null : mapTwilioCallStatus(rawStatus);
  if (!status) throw new Error(`CallStatus ${JSON.stringify(rawStatus)} is not a Twilio call status`);
  const update: StatusUpdate = { callId: nonEmpty(url.searchParams.get('call_id')) ?? null, providerCallId, status };
  const duration = nonNegativeInt(params.get('CallDuration'));
  if (duration !== undefined) update.durationSeconds = duration;
  const errorCode = nonEmpty(params.get('ErrorCode'));
  if (errorCode) update.errorCode = errorCode;
  const answeredBy = nonEmpty(params.get('AnsweredBy'));
  if (answeredBy) update.answeredBy = answeredBy;
  // Twilio sends RFC 2822 ("Mon, 16 Aug 2010 03:45:01 +0000"); we keep ISO 8601.
  const timestamp = nonEmpty(params.get('Timestamp'));
  if (timestamp) {
    const ms = parseDate(timestamp);
    if (Number.isFinite(ms)) update.timestamp = new Date(ms).toISOString();
  }
  const sequence = nonNegativeInt(params.get('SequenceNumber'));
  if (sequence !== undefined) update.sequenceNumber = sequence;
  return update;
}

// ---------------------------------------------------------------------------------------------
// X-Twilio-Signature

export type TwilioSignatureParams = URLSearchParams | Record<string, string | string[]>;

const encoder = new TextEncoder();

function bytesToBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Parameter names with their values in the order received. */
function groupParams(params: TwilioSignatureParams): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (k: string, v: string) => {
    const list = out.get(k);
    if (list) list.push(v);
    else out.set(k, [v]);
  };
  if (params instanceof URLSearchParams) {
    for (const [k, v] of params) add(k, v);
  } else {
    for (const [k, v] of Object.entries(params)) {
      if (Array.isArray(v)) { for (const item of v) add(k, item); }
      else add(k, v);
    }
  }
  return out;
}

/**
 * How the values of a repeated parameter name are concatenated. Twilio's documentation only says
 * "sorted by name"; Twilio's helper libraries (twilio-node, twilio-python) sort a repeated name's
 * values and drop duplicate values. We sign that way and accept both when verifying.
 */
type RepeatedValues = 'sorted' | 'received';

function signedPayload(fullUrl: string, grouped: Map<string, string[]>, repeated: RepeatedValues): string {
  let data = fullUrl;
  // Names sorted by UTF-16 code units, as Array.prototype.sort does (and Twilio's libraries).
  for (const name of [...grouped.keys()].sort()) {
    const values = grouped.get(name) ?? [];
    const ordered = repeated === 'sorted' ? [...new Set(values)].sort() : values;
    for (const v of ordered) data += name + v;
  }
  return data;
}

async function hmacSha1Base64(key: string, data: string): Promise<string> {
  const k = await crypto.subtle.importKey('raw', encoder.encode(key), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', k, encoder.encode(data));
  return bytesToBase64(new Uint8Array(mac));
}

/**
 * Twilio's X-Twilio-Signature for a request: the full URL Twilio requested (with its query string),
 * then each POST parameter's name immediately followed by its value, names sorted alphabetically;
 * HMAC-SHA1 keyed with the auth token, base64.
 */
export async function computeTwilioSignature(authToken: string, fullUrl: string, params: TwilioSignatureParams): Promise<string> {
  if (!authToken) throw new Error('computeTwilioSignature needs an auth token');
  return hmacSha1Base64(authToken, signedPayload(fullUrl, groupParams(params), 'sorted'));
}

/** Equal strings, in time that depends only on their lengths (never on where they differ). */
function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  if (x.length !== y.length) return false; // a signature's length is public (28 base64 characters)
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * The URL as given, and with its default port written out or left out: Twilio has been seen to sign
 * either form (twilio-node checks both), so both are accepted. Other ports are never changed.
 */
function urlVariants(fullUrl: string): string[] {
  const variants = [fullUrl];
  let u: URL;
  try {
    u = new URL(fullUrl);
  } catch {
    return variants;
  }
  const defaultPort = u.protocol === 'https:' ? '443' : u.protocol === 'http:' ? '80' : null;
  if (!defaultPort) return variants;
  // WHATWG URL drops a default port, so u.port is '' for both "host" and "host:443".
  const hostStart = fullUrl.indexOf('//') + 2;
  const authorityEnd = (() => {
    const rest = fullUrl.slice(hostStart);
    const m = /[/?#]/.exec(rest);
    return hostStart + (m ? m.index : rest.length);
  })();
  const authority = fullUrl.slice(hostStart, authorityEnd);
  if (u.port !== '') return variants;
  if (authority.endsWith(`:${defaultPort}`)) {
    variants.push(fullUrl.slice(0, authorityEnd - defaultPort.length - 1) + fullUrl.slice(authorityEnd));
  } else {
    variants.push(`${fullUrl.slice(0, authorityEnd)}:${defaultPort}${fullUrl.slice(authorityEnd)}`);
  }
  return variants;
}

/**
 * Checks an X-Twilio-Signature header against the URL the request was sent to (as Twilio saw it:
 * the public URL with the query string) and its POST parameters. Constant-time comparison; false
 * for a missing token or header.
 */
export async function verifyTwilioSignature(
  authToken: string,
  fullUrl: string,
  params: TwilioSignatureParams,
  signatureHeader: string | null | undefined,
): Promise<boolean> {
  const given = signatureHeader?.trim();
  if (!authToken || !given) return false;
  const grouped = groupParams(params);
  const hasRepeated = [...grouped.values()].some((v) => v.length > 1);
  const modes: RepeatedValues[] = hasRepeated ? ['sorted', 'received'] : ['sorted'];
  let ok = false;
  for (const url of urlVariants(fullUrl)) {
    for (const mode of modes) {
      const expected = await hmacSha1Base64(authToken, signedPayload(url, grouped, mode));
      // No early exit: every candidate is computed and compared.
      ok = timingSafeEqual(expected, given) || ok;
    }
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Create call: request

export type CreateCallParamsResult =
  | { ok: true; params: URLSearchParams }
  | { ok: false; reason: string; invalidNumber: boolean };

function misconfigured(reason: string): CreateCallParamsResult {
  return { ok: false, reason: `malformed campaign: ${reason}`, invalidNumber: false };
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/** Text or attribute value for XML: the five characters that would end or change it, escaped. */
function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * Inline TwiML with the call's signed URLs in place of {{context_url}} and {{opt_out_url}}
 * (call-context.ts), XML-escaped (a URL's & would otherwise break the document): the way such a
 * flow learns them, typically as <Parameter>s of a <Stream> to an AI agent. A placeholder without
 * its URL (none was made) becomes empty.
 */
function withCallUrls(twiml: string, req: { contextUrl?: string; optOutUrl?: string }): string {
  return twiml
    .split(TWIML_PLACEHOLDERS.contextUrl).join(xmlEscape(req.contextUrl ?? ''))
    .split(TWIML_PLACEHOLDERS.optOutUrl).join(xmlEscape(req.optOutUrl ?? ''));
}

/**
 * The form parameters of a Create Call request, or why none can be sent. Campaign settings:
 * exactly one of `url` (with optional `method` GET/POST; call_id, contact_id, contact_name,
 * opt_out_url, context_url and callback_url are added to its query), `twiml` (its {{context_url}} and
 * {{opt_out_url}} replaced by the call's URLs), `application_sid`; optional
 * `machine_detection` ('Enable', 'DetectMessageEnd', or true for 'Enable'); optional `timeout`
 * (ring seconds, 1..600). No default TwiML: a campaign that says nothing is misconfigured.
 */
export function buildCreateCallParams(
  req:
    & Pick<CreateCallRequest, 'to' | 'from' | 'statusCallbackUrl' | 'settings'>
    & Partial<Pick<CreateCallRequest, 'callId' | 'contactId' | 'contactName' | 'optOutUrl' | 'contextUrl' | 'callbackUrl'>>,
  opts: { allowInsecureUrls?: boolean } = {},
): CreateCallParamsResult {
  const to = typeof req.to === 'string' ? req.to.trim() : '';
  if (!isE164(to)) return { ok: false, reason: `To ${JSON.stringify(req.to)} is not an E.164 number`, invalidNumber: true };
  const from = typeof req.from === 'string' ? req.from.trim() : '';
  if (!from) return misconfigured('no caller id (From)');
  if (!isHttpUrl(req.statusCallbackUrl)) return misconfigured('the status callback URL is not an absolute http(s) URL');

  const s = req.settings ?? {};
  const given = (k: string) => s[k] !== undefined && s[k] !== null && s[k] !== '';
  // Which call action: the database dials only campaigns without a set-up problem
  // (campaigns.set_up_problem: exactly one of url / twiml / application_sid), so there is one.
  const actions = ['url', 'twiml', 'application_sid'].filter(given);
  if (actions.length !== 1) {
    throw new Error(
      `provider_settings names ${
        actions.join(' and ') || 'no call action'
      }: campaigns.set_up_problem should have kept this campaign from dialling`,
    );
  }

  const params = new URLSearchParams();
  params.append('To', to);
  params.append('From', from);
  if (given('url')) {
    if (typeof s.url !== 'string' || !isHttpUrl(s.url)) return misconfigured('url is not an absolute http(s) URL');
    // The answer URL tells the provider what to do with the call (and hears whom it calls): never in
    // clear, except in local development (ALLOW_INSECURE_URLS).
    if (!opts.allowInsecureUrls && new URL(s.url).protocol !== 'https:') {
      return misconfigured('url must be https:// (http:// only with ALLOW_INSECURE_URLS=1, for local development)');
    }
    // The call flow learns whom it calls: our call id, contact id and the contact's name (and the
    // call's signed opt-out URL) as query
    // parameters (URL-encoded by URLSearchParams: a space as +, &, = and non-ASCII as %XX UTF-8),
    // the agent fetches the rest by id; the campaign's own query parameters are kept, ours replace
    // any of the same name. A contact without a name (null, empty, blanks) gets no contact_name.
    // Inline TwiML has no URL to extend: it names the call's URLs by placeholder instead (below).
    // Twilio passes a TwiML App only its standard parameters (CallSid, To, From, ...), so an
    // application finds our call by CallSid (call-status /context?call_sid=, call-context.ts).
    const answerUrl = new URL(s.url);
    if (req.callId) answerUrl.searchParams.set('call_id', req.callId);
    if (req.contactId) answerUrl.searchParams.set('contact_id', req.contactId);
    const contactName = typeof req.contactName === 'string' ? req.contactName.trim() : '';
    if (contactName) answerUrl.searchParams.set('contact_name', contactName);
    else answerUrl.searchParams.delete('contact_name');
    // The signed URL the flow POSTs to when the called person opts out (opt-out.ts).
    if (req.optOutUrl) answerUrl.searchParams.set('opt_out_url', req.optOutUrl);
    // The signed URL the flow GETs to learn whom it calls and why (call-context.ts).
    if (req.contextUrl) answerUrl.searchParams.set('context_url', req.contextUrl);
    // The signed URL the flow POSTs {at} to when the called person asks to be called back (opt-out.ts).
    if (req.callbackUrl) answerUrl.searchParams.set('callback_url', req.callbackUrl);
    params.append('Url', answerUrl.toString());
    if (given('method')) {
      const m = typeof s.method === 'string' ? s.method.toUpperCase() : '';
      if (m !== 'GET' && m !== 'POST') return misconfigured('method must be GET or POST');
      params.append('Method', m);
    }
  } else if (given('twiml')) {
    if (typeof s.twiml !== 'string' || !s.twiml.trim()) return misconfigured('twiml must be a non-empty string');
    const twiml = withCallUrls(s.twiml, req);
    if (twiml.length > MAX_TWIML_LENGTH) {
      return misconfigured(`twiml is longer than ${MAX_TWIML_LENGTH} characters (with the call's URLs in place)`);
    }
    params.append('Twiml', twiml);
  } else {
    if (typeof s.application_sid !== 'string' || !APPLICATION_SID.test(s.application_sid)) {
      return misconfigured('application_sid must look like AP followed by 32 hex digits');
    }
    params.append('ApplicationSid', s.application_sid);
  }

  params.append('StatusCallback', req.statusCallbackUrl);
  for (const event of TWILIO_STATUS_CALLBACK_EVENTS) params.append('StatusCallbackEvent', event);
  params.append('StatusCallbackMethod', 'POST');

  const md = s.machine_detection;
  if (md !== undefined && md !== null && md !== false && md !== '') {
    const value = md === true ? 'Enable' : typeof md === 'string' ? md.trim() : '';
    const normal = value.toLowerCase() === 'enable'
      ? 'Enable'
      : value.toLowerCase() === 'detectmessageend'
      ? 'DetectMessageEnd'
      : null;
    if (!normal) return misconfigured('machine_detection must be "Enable", "DetectMessageEnd" or true');
    params.append('MachineDetection', normal);
  }
  if (s.timeout !== undefined && s.timeout !== null) {
    const t = typeof s.timeout === 'string' && /^[0-9]+$/.test(s.timeout.trim()) ? Number(s.timeout) : s.timeout;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > 600) {
      return misconfigured('timeout must be a whole number of seconds from 1 to 600');
    }
    params.append('Timeout', String(t));
  }
  return { ok: true, params };
}

// ---------------------------------------------------------------------------------------------
// Create call: answer

/** Retry-After (delta-seconds or an HTTP date) in milliseconds, capped; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (!v) return undefined;
  let ms: number;
  if (/^[0-9]+(\.[0-9]+)?$/.test(v)) ms = Math.round(Number(v) * 1000);
  else {
    const at = parseDate(v);
    if (!Number.isFinite(at)) return undefined;
    ms = Math.max(0, at - nowMs);
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

interface TwilioErrorBody {
  code?: number;
  message?: string;
  moreInfo?: string;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Twilio's error body {code, message, more_info, status}; tolerant of missing fields. */
function parseErrorBody(text: string): TwilioErrorBody {
  const body = parseJson(text);
  if (!body || typeof body !== 'object') return {};
  const b = body as Record<string, unknown>;
  const out: TwilioErrorBody = {};
  const code = typeof b.code === 'number'
    ? b.code
    : typeof b.code === 'string' && /^[0-9]+$/.test(b.code)
    ? Number(b.code)
    : undefined;
  if (code !== undefined) out.code = code;
  if (typeof b.message === 'string') out.message = b.message;
  if (typeof b.more_info === 'string') out.moreInfo = b.more_info;
  return out;
}

function describeAnswer(httpStatus: number, err: TwilioErrorBody): string {
  const parts = [`Twilio answered HTTP ${httpStatus}`];
  if (err.code !== undefined) parts.push(`code ${err.code}`);
  return err.message ? `${parts.join(' ')}: ${err.message.slice(0, 300)}` : parts.join(' ');
}

/**
 * The outcome of a Create Call answer (status, headers, body text). Pure, so the table of choices in
 * this file's header is tested without a network.
 */
export function classifyCreateCallResponse(
  httpStatus: number,
  headers: Headers,
  bodyText: string,
  nowMs: number = Date.now(),
): CreateCallOutcome {
  if (httpStatus >= 200 && httpStatus < 300) {
    const body = parseJson(bodyText);
    const b = body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
    const sid = typeof b.sid === 'string' ? b.sid : '';
    if (!PROVIDER_CALL_ID.test(sid)) {
      // Created, most likely, but we cannot name it: the status callback will.
      return { kind: 'unknown', reason: `Twilio answered HTTP ${httpStatus} without a readable call sid` };
    }
    const mapped = typeof b.status === 'string' ? mapTwilioCallStatus(b.status) : null;
    // A call just created is dialling or, rarely, already ringing or answered; any other state is
    // left for the status callback to report.
    const status: CallStatus = mapped === 'ringing' || mapped === 'in_progress' ? mapped : 'dialing';
    return { kind: 'accepted', providerCallId: sid, status };
  }

  const err = parseErrorBody(bodyText);
  const code = err.code !== undefined ? String(err.code) : undefined;
  const withCode = <T extends object>(o: T): T & { code?: string } => (code ? { ...o, code } : o);
  const retryAfterMs = parseRetryAfter(headers.get('retry-after'), nowMs);

  // Rate limited: the call was not created. Not a failure of the call, nor of Twilio.
  if (httpStatus === 429 || err.code === TWILIO_RATE_LIMIT_CODE) {
    return withCode({
      kind: 'retryable' as const,
      reason: describeAnswer(httpStatus, err),
      httpStatus,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  // Service unavailable: Twilio did not process the request.
  if (httpStatus === 503) {
    return withCode({
      kind: 'retryable' as const,
      reason: describeAnswer(httpStatus, err),
      httpStatus,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (httpStatus >= 300 && httpStatus < 400) {
    return withCode({
      kind: 'permanent' as const,
      reason: `${describeAnswer(httpStatus, err)} (a redirect: check TWILIO_API_BASE_URL)`,
      httpStatus,
      invalidNumber: false,
    });
  }
  if (httpStatus === 408) {
    // Only a proxy sends 408; whether Twilio saw the request is unknown.
    return { kind: 'unknown', reason: describeAnswer(httpStatus, err) };
  }
  if (httpStatus >= 400 && httpStatus < 500) {
    const invalidNumber = err.code !== undefined && TWILIO_INVALID_NUMBER_CODES.has(err.code);
    const campaignProblem = err.code !== undefined ? TWILIO_CAMPAIGN_LEVEL_CODES.get(err.code) : undefined;
    if (campaignProblem !== undefined) {
      return withCode({
        kind: 'permanent' as const,
        reason: `${campaignProblem}: ${describeAnswer(httpStatus, err)}`,
        httpStatus,
        invalidNumber: false,
        campaignLevel: true,
      });
    }
    return withCode({ kind: 'permanent' as const, reason: describeAnswer(httpStatus, err), httpStatus, invalidNumber });
  }
  // 500, 502, 504 and any other answer: Twilio may have created the call before failing.
  return { kind: 'unknown', reason: `${describeAnswer(httpStatus, err)} (the call may have been created: not re-sent)` };
}

/** Error codes (Node/undici) that mean the connection was never made, so nothing was sent. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/** The same, as Deno words it ("tcp connect error: Connection refused", "dns error: ..."). */
const NOT_SENT_MESSAGE = /connection refused|tcp connect error|dns error|failed to lookup address|ECONNREFUSED|ENOTFOUND/i;

/** The error and its causes (also the members of an AggregateError, from happy-eyeballs connects). */
function errorChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  const visit = (e: unknown, depth: number) => {
    if (e === null || e === undefined || depth > 6 || out.includes(e)) return;
    out.push(e);
    if (typeof e !== 'object') return;
    visit((e as { cause?: unknown }).cause, depth + 1);
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors)) { for (const inner of errors) visit(inner, depth + 1); }
  };
  visit(err, 0);
  return out;
}

/** True when the error says the connection was never established (so no request reached anyone). */
export function isConnectionNeverMade(err: unknown): boolean {
  const chain = errorChain(err);
  // One "not sent" error is enough when nothing in the chain says a connection broke mid-request.
  const midRequest = chain.some((e) => {
    const code = typeof e === 'object' && e ? (e as { code?: unknown }).code : undefined;
    return code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET';
  });
  if (midRequest) return false;
  return chain.some((e) => {
    if (typeof e !== 'object' || !e) return false;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    return typeof message === 'string' && NOT_SENT_MESSAGE.test(message);
  });
}

function basicAuth(accountSid: string, authToken: string): string {
  return `Basic ${bytesToBase64(encoder.encode(`${accountSid}:${authToken}`))}`;
}

export class TwilioProvider implements TelephonyProvider {
  readonly name = 'twilio';
  readonly #accountSid: string;
  readonly #authToken: string;
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #allowInsecureUrls: boolean;
  /** Computed once: the same for every request (a dispatcher sends thousands per second). */
  readonly #authorization: string;
  readonly #callsUrl: string;

  constructor(opts: TwilioProviderOptions) {
    if (!opts.accountSid) throw new Error('TwilioProvider needs an account SID');
    if (!opts.authToken) throw new Error('TwilioProvider needs an auth token');
    this.#accountSid = opts.accountSid;
    this.#authToken = opts.authToken;
    this.#baseUrl = (opts.baseUrl ?? DEFAULT_TWILIO_BASE_URL).replace(/\/+$/, '');
    // Called unbound: a bare reference to globalThis.fetch loses its receiver in some runtimes.
    this.#fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#allowInsecureUrls = opts.allowInsecureUrls ?? false;
    this.#authorization = basicAuth(this.#accountSid, this.#authToken);
    this.#callsUrl = `${this.#baseUrl}/${TWILIO_API_VERSION}/Accounts/${encodeURIComponent(this.#accountSid)}/Calls.json`;
  }

  get callsUrl(): string {
    return this.#callsUrl;
  }

  /**
   * The Calls resource of a subaccount: created there with the main account's credentials, as
   * Twilio allows a main account to act for its subaccounts.
   */
  callsUrlOf(accountSid: string | null | undefined): string {
    if (!accountSid || accountSid === this.#accountSid) return this.#callsUrl;
    return `${this.#baseUrl}/${TWILIO_API_VERSION}/Accounts/${encodeURIComponent(accountSid)}/Calls.json`;
  }

  async createCall(req: CreateCallRequest): Promise<CreateCallOutcome> {
    let built: CreateCallParamsResult;
    try {
      built = buildCreateCallParams(req, { allowInsecureUrls: this.#allowInsecureUrls });
    } catch (err) {
      // Nothing was sent: a campaign the database should not have let through.
      return { kind: 'permanent', reason: `malformed campaign: ${coerceError(err).message}`, invalidNumber: false };
    }
    if (!built.ok) return { kind: 'permanent', reason: built.reason, invalidNumber: built.invalidNumber };
    if (req.signal?.aborted) {
      // Nothing was sent: the call can safely go back to the queue.
      return { kind: 'retryable', reason: 'aborted before the request was sent' };
    }

    const timeoutMs = Number.isFinite(req.timeoutMs) ? Math.max(1, Math.floor(req.timeoutMs)) : DEFAULT_REQUEST_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;

    let res: Response;
    try {
      res = await this.#fetch(this.callsUrlOf(req.accountSid), {
        method: 'POST',
        headers: {
          authorization: this.#authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: built.params.toString(),
        redirect: 'manual',
        signal,
      });
    } catch (err) {
      if (timeout.aborted) {
        return {
          kind: 'unknown',
          reason: `no answer from Twilio within ${timeoutMs} ms (the call may have been created: not re-sent)`,
        };
      }
      if (req.signal?.aborted) {
        return {
          kind: 'unknown',
          reason: 'aborted while the request was in flight (the call may have been created: not re-sent)',
        };
      }
      const message = coerceError(err).message;
      if (isConnectionNeverMade(err)) {
        // Connection refused / DNS failure: the request never left this machine.
        return { kind: 'retryable', reason: `could not connect to Twilio: ${describeNetworkError(err, message)}` };
      }
      return {
        kind: 'unknown',
        reason: `request to Twilio failed: ${describeNetworkError(err, message)} (the call may have been created: not re-sent)`,
      };
    }

    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      if (res.status >= 200 && res.status < 300) {
        return {
          kind: 'unknown',
          reason: `Twilio answered HTTP ${res.status} but the body was lost: ${coerceError(err).message}`,
        };
      }
      text = '';
    }
    // An opaque redirect (browsers' redirect: 'manual') has status 0.
    const status = res.type === 'opaqueredirect' ? 302 : res.status;
    return classifyCreateCallResponse(status, res.headers, text);
  }

  /**
   * What became of a call in doubt: GET Calls/{Sid}.json when we hold its SID; else the most recent
   * calls to its number from its caller id (GET Calls.json?To=...&From=...), of which the one created
   * closest to when it was dialled is ours (one number is never in two of our calls at once), and
   * none created since then (less LOOKUP_CLOCK_SKEW_MS) means the provider never placed it.
   */
  async lookupCall(req: LookupCallRequest): Promise<LookupCallOutcome> {
    const base = this.callsUrlOf(req.accountSid).replace(/\.json$/, '');
    const url = req.providerCallId
      ? `${base}/${encodeURIComponent(req.providerCallId)}.json`
      : `${base}.json?${new URLSearchParams({ To: req.to, From: req.from, PageSize: String(LOOKUP_PAGE_SIZE) })}`;
    const timeoutMs = Number.isFinite(req.timeoutMs) ? Math.max(1, Math.floor(req.timeoutMs)) : DEFAULT_REQUEST_TIMEOUT_MS;
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(url, {
        method: 'GET',
        headers: { authorization: this.#authorization, accept: 'application/json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      return { kind: 'error', reason: `lookup at Twilio failed: ${coerceError(err).message}` };
    }
    if (res.status === 404 && req.providerCallId) return { kind: 'absent' };
    if (res.status !== 200) return { kind: 'error', reason: `lookup at Twilio answered HTTP ${res.status}` };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { kind: 'error', reason: 'lookup at Twilio: the answer is not JSON' };
    }
    if (req.providerCallId) return foundCall(body) ?? { kind: 'error', reason: 'lookup at Twilio: not a call resource' };
    const calls = (body as { calls?: unknown }).calls;
    if (!Array.isArray(calls)) return { kind: 'error', reason: 'lookup at Twilio: no calls list in the answer' };
    // Ours is the one created closest to when we dialled (within the clock skew either way, or any
    // time after): an earlier attempt to the same number is at least a retry delay older.
    const dialed = req.dialedAt.getTime();
    const ours = calls
      .map((c) => ({ c, created: parseDate(String((c as { date_created?: unknown }).date_created ?? '')) }))
      .filter((x) => Number.isFinite(x.created) && x.created >= dialed - LOOKUP_CLOCK_SKEW_MS)
      .sort((a, b) => Math.abs(a.created - dialed) - Math.abs(b.created - dialed));
    if (ours.length === 0) return { kind: 'absent' };
    return foundCall(ours[0]!.c) ?? { kind: 'error', reason: 'lookup at Twilio: a listed call cannot be read' };
  }
}

/** Calls to one number listed per lookup: a number is called a few times a day at most. */
const LOOKUP_PAGE_SIZE = 20;
/** How much earlier than our dialed_at the provider's clock may date the call it created. */
const LOOKUP_CLOCK_SKEW_MS = 60_000;

/** A Twilio call resource as a 'found' lookup; null when it lacks a SID or a known status. */
function foundCall(resource: unknown): LookupCallOutcome | null {
  if (typeof resource !== 'object' || resource === null) return null;
  const r = resource as Record<string, unknown>;
  const sid = typeof r.sid === 'string' && r.sid ? r.sid : null;
  const status = typeof r.status === 'string' ? mapTwilioCallStatus(r.status) : null;
  if (!sid || !status) return null;
  const out: LookupCallOutcome = { kind: 'found', providerCallId: sid, status };
  const duration = typeof r.duration === 'string' ? nonNegativeInt(r.duration) : undefined;
  if (duration !== undefined) out.durationSeconds = duration;
  if (typeof r.answered_by === 'string' && r.answered_by.trim()) out.answeredBy = r.answered_by.trim();
  return out;
}

function describeNetworkError(err: unknown, message: string): string {
  const codes = errorChain(err)
    .map((e) => (typeof e === 'object' && e ? (e as { code?: unknown }).code : undefined))
    .filter((c): c is string => typeof c === 'string');
  const detail = errorChain(err)
    .map((e) => (typeof e === 'object' && e ? (e as { message?: unknown }).message : undefined))
    .filter((m): m is string => typeof m === 'string' && m !== message);
  const text = [message, ...detail.slice(0, 1)].join(': ');
  return codes.length ? `${text} (${[...new Set(codes)].join(', ')})` : text;
}
