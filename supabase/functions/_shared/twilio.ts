// Twilio adapter: Create Call over Twilio's REST API, Twilio's status values, and Twilio's
// X-Twilio-Signature scheme for status callbacks. Web-standard APIs only (fetch, crypto.subtle),
// so it runs under Deno (the Edge Functions) and Node (tests, benchmark) alike.

import type { CallStatus, CreateCallOutcome, CreateCallRequest, StatusUpdate, TelephonyProvider } from './provider.ts';

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  /** Default https://api.twilio.com; the simulator's URL locally. */
  baseUrl?: string;
  fetch?: typeof fetch;
}

/** Twilio error codes meaning the number itself cannot be called: the contact becomes invalid. */
export const INVALID_NUMBER_CODES = new Set(['21211', '21214', '21217', '21401', '21407', '13223', '13224']);

/** Twilio's CallStatus values, mapped to ours. queued / initiated: the provider is dialling. */
const STATUS_MAP: Record<string, CallStatus> = {
  queued: 'dialing',
  initiated: 'dialing',
  ringing: 'ringing',
  'in-progress': 'in_progress',
  answered: 'in_progress',
  completed: 'completed',
  busy: 'busy',
  'no-answer': 'no_answer',
  failed: 'failed',
  canceled: 'canceled',
};

export function mapTwilioCallStatus(status: string): CallStatus | null {
  return STATUS_MAP[status.trim().toLowerCase()] ?? null;
}

const encoder = new TextEncoder();

function base64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

type Params = URLSearchParams | Record<string, string | string[]>;

function sortedPairs(params: Params): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (params instanceof URLSearchParams) {
    for (const [k, v] of params) pairs.push([k, v]);
  } else {
    for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) pairs.push([k, x]);
  }
  // Sort by name; values of a repeated name keep their order (Array.prototype.sort is stable).
  return pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * Twilio's request signature: HMAC-SHA1, keyed with the auth token, over the full URL Twilio
 * requested (query string included) followed by each POST parameter's name and value, parameters
 * sorted by name; base64-encoded.
 */
export async function computeTwilioSignature(authToken: string, fullUrl: string, params: Params): Promise<string> {
  let data = fullUrl;
  for (const [k, v] of sortedPairs(params)) data += k + v;
  const key = await crypto.subtle.importKey('raw', encoder.encode(authToken), { name: 'HMAC', hash: 'SHA-1' }, false, [
    'sign',
  ]);
  return base64(new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(data))));
}

/** Constant-time check of an X-Twilio-Signature header. */
export async function verifyTwilioSignature(
  authToken: string,
  fullUrl: string,
  params: Params,
  signature: string,
): Promise<boolean> {
  if (!authToken || !signature || signature.length > 200) return false;
  const expected = await computeTwilioSignature(authToken, fullUrl, params);
  // Compare digests of both so the comparison time does not depend on where they differ.
  const [a, b] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(expected)),
    crypto.subtle.digest('SHA-256', encoder.encode(signature)),
  ]);
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Reads a Twilio status callback. Throws on a missing CallSid or an unknown CallStatus. */
export function parseTwilioStatusCallback(params: URLSearchParams, url: URL): StatusUpdate {
  const providerCallId = params.get('CallSid') ?? '';
  if (!providerCallId) throw new Error('CallSid is missing');
  const raw = params.get('CallStatus') ?? '';
  const status = mapTwilioCallStatus(raw);
  if (status === null) throw new Error(`unknown CallStatus: ${raw.slice(0, 40)}`);
  const duration = params.get('CallDuration');
  const sequence = params.get('SequenceNumber');
  const update: StatusUpdate = { callId: url.searchParams.get('call_id'), providerCallId, status };
  if (duration !== null && /^\d{1,9}$/.test(duration)) update.durationSeconds = Number(duration);
  const errorCode = params.get('ErrorCode');
  if (errorCode) update.errorCode = errorCode.slice(0, 20);
  const answeredBy = params.get('AnsweredBy');
  if (answeredBy) update.answeredBy = answeredBy.slice(0, 40);
  const timestamp = params.get('Timestamp');
  if (timestamp) update.timestamp = timestamp.slice(0, 60);
  if (sequence !== null && /^\d{1,9}$/.test(sequence)) update.sequenceNumber = Number(sequence);
  return update;
}

function callAction(settings: Record<string, unknown>): [string, string] | string {
  const actions: Array<[string, string]> = [];
  if (typeof settings.url === 'string' && settings.url) actions.push(['Url', settings.url]);
  if (typeof settings.twiml === 'string' && settings.twiml) actions.push(['Twiml', settings.twiml]);
  if (typeof settings.application_sid === 'string' && settings.application_sid) {
    actions.push(['ApplicationSid', settings.application_sid]);
  }
  if (actions.length !== 1) return 'provider_settings needs exactly one of url, twiml, application_sid';
  return actions[0]!;
}

function isConnectionRefused(err: unknown): boolean {
  // Node (undici): TypeError('fetch failed') with cause.code ECONNREFUSED; Deno: "Connection refused".
  const e = err as { cause?: { code?: string; message?: string }; message?: string; code?: string };
  const text = `${e?.message ?? ''} ${e?.cause?.message ?? ''}`;
  return e?.cause?.code === 'ECONNREFUSED' || e?.code === 'ECONNREFUSED' || /connection refused|ECONNREFUSED/i.test(text);
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 3_600_000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, Math.min(at - Date.now(), 3_600_000)) : undefined;
}

export class TwilioProvider implements TelephonyProvider {
  readonly name = 'twilio';
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;
  private readonly authHeader: string;

  constructor(private readonly opts: TwilioOptions) {
    this.baseUrl = (opts.baseUrl ?? 'https://api.twilio.com').replace(/\/+$/, '');
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
    this.authHeader = `Basic ${btoa(`${opts.accountSid}:${opts.authToken}`)}`;
  }

  async createCall(req: CreateCallRequest): Promise<CreateCallOutcome> {
    const action = callAction(req.settings);
    if (typeof action === 'string') {
      return { kind: 'permanent', reason: `malformed campaign: ${action}`, invalidNumber: false };
    }
    const form = new URLSearchParams();
    form.set('To', req.to);
    form.set('From', req.from);
    form.set(action[0], action[1]);
    form.set('StatusCallback', req.statusCallbackUrl);
    form.set('StatusCallbackMethod', 'POST');
    for (const event of ['initiated', 'ringing', 'answered', 'completed']) form.append('StatusCallbackEvent', event);
    const md = req.settings.machine_detection;
    if (typeof md === 'string' && md) form.set('MachineDetection', md);
    const ring = req.settings.timeout;
    if (typeof ring === 'number' && Number.isInteger(ring) && ring >= 5 && ring <= 600) form.set('Timeout', String(ring));

    const signals = [AbortSignal.timeout(req.timeoutMs)];
    if (req.signal) signals.push(req.signal);
    const url = `${this.baseUrl}/2010-04-01/Accounts/${encodeURIComponent(this.opts.accountSid)}/Calls.json`;

    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method: 'POST',
        headers: {
          authorization: this.authHeader,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          // Lets the provider (and the simulator) tie the request to our call.
          'i-twilio-idempotency-token': `call-${req.callId}`,
        },
        body: form.toString(),
        signal: AbortSignal.any(signals),
        redirect: 'manual',
      });
    } catch (err) {
      if (isConnectionRefused(err)) {
        // Nothing reached the provider: safe to try again later.
        return { kind: 'retryable', reason: 'connection refused by the provider' };
      }
      const name = (err as { name?: string })?.name;
      return {
        kind: 'unknown',
        reason: name === 'TimeoutError' || name === 'AbortError'
          ? `no answer from the provider within ${req.timeoutMs} ms`
          : `request to the provider failed: ${(err as Error)?.message ?? String(err)}`,
      };
    }

    let text = '';
    try {
      text = await res.text();
    } catch (err) {
      if (res.ok) return { kind: 'unknown', reason: `provider response unreadable: ${(err as Error)?.message ?? err}` };
    }
    let body: { sid?: unknown; status?: unknown; code?: unknown; message?: unknown } = {};
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      body = {};
    }

    if (res.status >= 200 && res.status < 300) {
      if (typeof body.sid === 'string' && body.sid) {
        const status = (typeof body.status === 'string' ? mapTwilioCallStatus(body.status) : null) ?? 'dialing';
        return { kind: 'accepted', providerCallId: body.sid, status: status === 'queued' ? 'dialing' : status };
      }
      // A success without a call sid: the call may exist. Never re-send.
      return { kind: 'unknown', reason: `provider answered ${res.status} without a call sid` };
    }

    const code = body.code !== undefined && body.code !== null ? String(body.code) : undefined;
    const message = typeof body.message === 'string' ? body.message.slice(0, 500) : `HTTP ${res.status}`;
    const reason = code ? `Twilio ${code}: ${message}` : `Twilio HTTP ${res.status}: ${message}`;
    if (res.status === 429 || code === '20429') {
      const after = retryAfterMs(res.headers.get('retry-after'));
      return { kind: 'retryable', reason, httpStatus: res.status, ...(code ? { code } : {}), ...(after !== undefined ? { retryAfterMs: after } : {}) };
    }
    if (res.status === 503) {
      const after = retryAfterMs(res.headers.get('retry-after'));
      return { kind: 'retryable', reason, httpStatus: 503, ...(code ? { code } : {}), ...(after !== undefined ? { retryAfterMs: after } : {}) };
    }
    if (res.status >= 500 || (res.status >= 300 && res.status < 400)) {
      // 500 / 502 / 504 (and redirects we do not follow): the call may or may not exist.
      return { kind: 'unknown', reason };
    }
    return {
      kind: 'permanent',
      reason,
      httpStatus: res.status,
      invalidNumber: code !== undefined && INVALID_NUMBER_CODES.has(code),
      ...(code ? { code } : {}),
    };
  }
}
