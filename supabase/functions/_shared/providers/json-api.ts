// What the JSON-over-HTTPS platforms (Vapi, Retell) have in common: one POST with a bearer key,
// and the same reading of what its answer (or its failure) says about whether the call exists.
// The platform-specific parts (which 4xx is about the number, which about the campaign) are passed
// in by each adapter.
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

import type { CreateCallOutcome } from '../provider.ts';
import { coerceError } from '../errors.ts';
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
