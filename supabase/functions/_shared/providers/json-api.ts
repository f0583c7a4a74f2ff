// What the JSON-over-HTTPS platforms (Vapi, Retell) have in common: one POST with a bearer key,
// and the same reading of what its answer (or its failure) says about whether the call exists; a
// GET of the call by the platform's id for a call in doubt; the ids and prompt variables a create
// request carries. JsonApiProvider is the adapter; each platform module (vapi.ts, retell.ts) passes
// in only what differs: its paths, its request body, how its call resource reads, and which 4xx is
// about the number, which about the campaign. Event verification stays in the platform modules
// (each signs its events its own way).
//
//   2xx with a call id           accepted
//   2xx without a readable id    unknown    created, most likely; its events (carrying our call id
//                                           in the metadata) find the row
//   429                          retryable  rate or concurrency limit: the call was not created
//   503                          retryable  not processed
//   401, 402, 403, 404           permanent  campaign level: key, balance, assistant / agent / number
//   other 4xx (not 408)          permanent  the number when the message names it (invalidNumber),
//                                           else the call; some the adapter marks campaign level
//   408, 500, 502, 504, other    unknown    the call may have been created
//   3xx                          permanent  the API never redirects: the base URL is wrong
//   connection refused, DNS      retryable  nothing was sent
//   timeout, reset, aborted      unknown    the request may have arrived

import type {
  CallStatus,
  CreateCallOutcome,
  CreateCallRequest,
  LookupCallOutcome,
  LookupCallRequest,
  TelephonyProvider,
} from '../provider.ts';
import { coerceError } from '../errors.ts';
import { isE164 } from '../phone.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, isConnectionNeverMade, parseRetryAfter } from '../twilio.ts';

export interface JsonAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** Sends one JSON POST; the answer, or the outcome when there is none. Never throws. */
export async function postJson(
  fetchFn: typeof fetch,
  url: string,
  apiKey: string,
  body: unknown,
  timeoutMs: number,
  label: string,
  callerSignal?: AbortSignal,
): Promise<JsonAnswer | CreateCallOutcome> {
  if (callerSignal?.aborted) return { kind: 'retryable', reason: 'aborted before the request was sent' };
  const ms = Number.isFinite(timeoutMs) ? Math.max(1, Math.floor(timeoutMs)) : DEFAULT_REQUEST_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(ms);
  const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetchFn(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal,
    });
  } catch (err) {
    if (timeout.aborted) {
      return { kind: 'unknown', reason: `no answer from ${label} within ${ms} ms (the call may have been created: not re-sent)` };
    }
    if (callerSignal?.aborted) {
      return { kind: 'unknown', reason: 'aborted while the request was in flight (the call may have been created: not re-sent)' };
    }
    const message = coerceError(err).message;
    if (isConnectionNeverMade(err)) return { kind: 'retryable', reason: `could not connect to ${label}: ${message}` };
    return { kind: 'unknown', reason: `request to ${label} failed: ${message} (the call may have been created: not re-sent)` };
  }
  let text = '';
  try {
    text = await res.text();
  } catch (err) {
    if (res.status >= 200 && res.status < 300) {
      return {
        kind: 'unknown',
        reason: `${label} answered HTTP ${res.status} but the body was lost: ${coerceError(err).message}`,
      };
    }
  }
  return { status: res.type === 'opaqueredirect' ? 302 : res.status, headers: res.headers, text };
}

/** GET with a bearer key: the parsed JSON body and status, or why not. Never throws. */
export async function getJson(
  fetchFn: typeof fetch,
  url: string,
  apiKey: string,
  timeoutMs: number,
  label: string,
): Promise<{ status: number; body: unknown } | { error: string }> {
  try {
    const res = await fetchFn(url, {
      method: 'GET',
      headers: { authorization: `Bearer ${apiKey}`, accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(Math.max(1, Math.floor(timeoutMs))),
    });
    const text = await res.text();
    return { status: res.status, body: parseJson(text) };
  } catch (err) {
    return { error: `lookup at ${label} failed: ${coerceError(err).message}` };
  }
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function asRecord(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** The error message of a JSON error body: `message` (a string or a list), else `error`. */
export function errorMessage(text: string): string {
  const b = asRecord(parseJson(text));
  const m = b.message ?? b.error_message ?? b.error;
  if (Array.isArray(m)) return m.filter((x) => typeof x === 'string').join('; ').slice(0, 300);
  return typeof m === 'string' ? m.slice(0, 300) : text.slice(0, 200);
}

export interface ClassifyRules {
  label: string;
  /** The call id in a 2xx body, or null. */
  callId: (body: Record<string, unknown>) => string | null;
  /** A 400 / 422 message about the called number. */
  invalidNumber: RegExp;
  /** A 400 / 422 message about the campaign (caller id, assistant, agent). */
  campaignLevel: RegExp;
}

const PROVIDER_CALL_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The outcome of a create-call answer (pure: tested without a network). */
export function classifyJsonAnswer(a: JsonAnswer, rules: ClassifyRules, nowMs: number = Date.now()): CreateCallOutcome {
  const { status, text } = a;
  if (status >= 200 && status < 300) {
    const id = rules.callId(asRecord(parseJson(text)));
    if (!id || !PROVIDER_CALL_ID.test(id)) {
      return { kind: 'unknown', reason: `${rules.label} answered HTTP ${status} without a readable call id` };
    }
    return { kind: 'accepted', providerCallId: id, status: 'dialing' };
  }
  const message = errorMessage(text);
  const reason = `${rules.label} answered HTTP ${status}${message ? `: ${message}` : ''}`;
  if (status === 429 || status === 503) {
    const retryAfterMs = parseRetryAfter(a.headers.get('retry-after'), nowMs);
    return { kind: 'retryable', reason, httpStatus: status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  if (status >= 300 && status < 400) {
    return {
      kind: 'permanent',
      reason: `${reason} (a redirect: check the API base URL)`,
      httpStatus: status,
      invalidNumber: false,
    };
  }
  if (status === 401 || status === 402 || status === 403 || status === 404) {
    return { kind: 'permanent', reason, httpStatus: status, invalidNumber: false, campaignLevel: true };
  }
  if (status >= 400 && status < 500 && status !== 408) {
    if (rules.campaignLevel.test(message)) {
      return { kind: 'permanent', reason, httpStatus: status, invalidNumber: false, campaignLevel: true };
    }
    return { kind: 'permanent', reason, httpStatus: status, invalidNumber: rules.invalidNumber.test(message) };
  }
  return { kind: 'unknown', reason: `${reason} (the call may have been created: not re-sent)` };
}

/** The request fields a platform's create-call body is built from. */
export type CreateCallFields = Pick<
  CreateCallRequest,
  'callId' | 'contactId' | 'contactName' | 'optOutUrl' | 'to' | 'from' | 'settings'
>;

/** A create-call body, or why none can be sent. */
export type BuiltCreateCall =
  | { ok: true; body: Record<string, unknown> }
  | { ok: false; reason: string; invalidNumber: boolean };

/** A number as sent (trimmed) when it is E.164, else null. */
export function e164OrNull(v: unknown): string | null {
  const s = typeof v === 'string' ? v.trim() : '';
  return isE164(s) ? s : null;
}

/**
 * What every create request carries besides the numbers: the contact's name (trimmed, '' when
 * none), the metadata the platform echoes in its events (our call id and contact id), and the
 * prompt's variables (strings, all of them): call_id, contact_id, contact_name, opt_out_url.
 */
export function callContext(
  req: Pick<CreateCallRequest, 'callId' | 'contactId' | 'contactName' | 'optOutUrl'>,
): { name: string; metadata: Record<string, string>; variables: Record<string, string> } {
  const name = typeof req.contactName === 'string' ? req.contactName.trim() : '';
  const variables: Record<string, string> = { call_id: req.callId };
  if (req.contactId) variables.contact_id = req.contactId;
  if (name) variables.contact_name = name;
  if (req.optOutUrl) variables.opt_out_url = req.optOutUrl;
  const metadata: Record<string, string> = { call_id: req.callId };
  if (req.contactId) metadata.contact_id = req.contactId;
  return { name, metadata, variables };
}

/** Our call id from the metadata a platform echoes back, or null. */
export function ourCallId(metadata: unknown): string | null {
  const ours = asRecord(metadata).call_id;
  return typeof ours === 'string' || typeof ours === 'number' ? String(ours) : null;
}

/** A platform's call status read as ours (and who answered, when a machine did). */
export interface MappedStatus {
  status: CallStatus;
  answeredBy?: string;
}

/** A call resource as a lookup reads it. */
export interface ReadCall extends MappedStatus {
  providerCallId: string;
  durationSeconds?: number;
}

/** What one platform supplies to JsonApiProvider. */
export interface JsonApiPlatform {
  /** The provider name (TelephonyProvider.name). */
  name: string;
  defaultBaseUrl: string;
  /** How a create-call answer reads; rules.label names the platform in every reason. */
  rules: ClassifyRules;
  /** The create-call path (POST). */
  createPath: string;
  /** The get-call path for the platform's call id (already URL-encoded). */
  lookupPath(encodedId: string): string;
  buildCreateCall(req: CreateCallFields): BuiltCreateCall;
  /** A call resource's id and status; null when the body is not a call resource. */
  readCall(call: Record<string, unknown>): ReadCall | null;
}

export interface JsonApiProviderOptions {
  apiKey: string;
  /** Default: the platform's public API; the simulator's URL locally. */
  baseUrl?: string;
  fetch?: typeof fetch;
}

/** The adapter of a JSON platform: create-call and get-call, the platform's parts passed in. */
export class JsonApiProvider implements TelephonyProvider {
  readonly name: string;
  readonly #platform: JsonApiPlatform;
  readonly #apiKey: string;
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;

  constructor(platform: JsonApiPlatform, opts: JsonApiProviderOptions) {
    if (!opts.apiKey) throw new Error(`${platform.rules.label}Provider needs an API key`);
    this.name = platform.name;
    this.#platform = platform;
    this.#apiKey = opts.apiKey;
    this.#baseUrl = (opts.baseUrl ?? platform.defaultBaseUrl).replace(/\/+$/, '');
    this.#fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  async createCall(req: CreateCallRequest): Promise<CreateCallOutcome> {
    const p = this.#platform;
    const built = p.buildCreateCall(req);
    if (!built.ok) return { kind: 'permanent', reason: built.reason, invalidNumber: built.invalidNumber };
    const url = `${this.#baseUrl}${p.createPath}`;
    const answer = await postJson(this.#fetch, url, this.#apiKey, built.body, req.timeoutMs, p.rules.label, req.signal);
    return 'kind' in answer ? answer : classifyJsonAnswer(answer, p.rules);
  }

  /** GET the call by the platform's id; without that id there is nothing to look up by (left to events and the reaper). */
  async lookupCall(req: LookupCallRequest): Promise<LookupCallOutcome> {
    const p = this.#platform;
    const label = p.rules.label;
    if (!req.providerCallId) return { kind: 'error', reason: `no ${label} call id to look the call up by` };
    const url = `${this.#baseUrl}${p.lookupPath(encodeURIComponent(req.providerCallId))}`;
    const got = await getJson(this.#fetch, url, this.#apiKey, req.timeoutMs, label);
    if ('error' in got) return { kind: 'error', reason: got.error };
    if (got.status === 404) return { kind: 'absent' };
    if (got.status !== 200) return { kind: 'error', reason: `lookup at ${label} answered HTTP ${got.status}` };
    const call = p.readCall(asRecord(got.body));
    if (!call) return { kind: 'error', reason: `lookup at ${label}: not a call resource` };
    const out: LookupCallOutcome = { kind: 'found', providerCallId: call.providerCallId, status: call.status };
    if (call.answeredBy) out.answeredBy = call.answeredBy;
    if (call.durationSeconds !== undefined) out.durationSeconds = call.durationSeconds;
    return out;
  }
}
