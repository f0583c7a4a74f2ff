// @ts-check
// The scheduler-admin API client: every request to <functionsUrl>/scheduler-admin/... goes through
// adminFetch (the operator's credential as a Bearer token, never cached). api() sends and answers
// JSON; postCsv() sends a CSV body; download() saves what a GET answers as a file. A refused
// request throws HttpError; apiProblem() says what went wrong in a sentence's words (a 403 for a role
// too low: "not allowed for your role (needs operator)").
// Typed with JSDoc (npm run typecheck checks it): the payloads are the types scheduler-admin
// answers with, from supabase/functions/_shared/status.ts.

import { saveFile } from './dom.js';
import { state } from './state.js';

/** @typedef {import('../../supabase/functions/_shared/status.ts').TickResponseBody} TickResponseBody */
/** Error answers: {error} and, for a failed or rate-limited tick, the tick's fields; a refused
 * campaign names its fields (`issues` from the schema, `field` from a database constraint); a role
 * too low for the route names the role held and the one needed (403). */
/**
 * @typedef {{ error?: string, message?: string, retry_after_ms?: number, field?: string, line?: number | null,
 *   role?: string, needed_role?: string,
 *   issues?: Array<{ field: string, message: string }> } & Partial<TickResponseBody>} ErrorBody
 */

export class HttpError extends Error {
  /** @param {number} status @param {ErrorBody | null} body @param {Headers} headers */
  constructor(status, body, headers) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/**
 * A request to scheduler-admin with the credential.
 * @param {'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} method
 * @param {string} subPath
 * @param {{ token?: string, headers?: Record<string, string>, body?: BodyInit }} [opts]
 */
function adminFetch(method, subPath, opts = {}) {
  return fetch(`${state.functionsUrl}/scheduler-admin${subPath}`, {
    method,
    headers: { authorization: `Bearer ${opts.token ?? state.token}`, ...opts.headers },
    cache: 'no-store',
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
}

/** The JSON of an answer, null when it has none. @param {Response} res @returns {Promise<any>} */
const jsonOf = (res) => res.json().catch(() => null);

/**
 * @template T
 * @param {'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} method
 * @param {string} subPath '/status', '/trigger', '/tokens', '/tokens/<id>'
 * @param {string} [token]
 * @param {unknown} [json] a JSON body
 * @returns {Promise<T>}
 */
export async function api(method, subPath, token = state.token, json = undefined) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await adminFetch(method, subPath, {
    token,
    headers,
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
  const body = await jsonOf(res);
  if (!res.ok) throw new HttpError(res.status, body, res.headers);
  return body;
}

/**
 * POSTs a CSV file; answers the status and the JSON body ({} when there is none) without throwing
 * on an error status (an import reports its refused lines with one).
 * @param {string} subPath @param {Blob | string} body
 * @returns {Promise<{ status: number, ok: boolean, headers: Headers, body: any }>}
 */
export async function postCsv(subPath, body) {
  const res = await adminFetch('POST', subPath, {
    headers: { 'content-type': 'text/csv; charset=utf-8', accept: 'application/json' },
    body,
  });
  return { status: res.status, ok: res.ok, headers: res.headers, body: await jsonOf(res) };
}

/** GETs a file (an export) and has the browser save it. @param {string} subPath @param {string} filename */
export async function download(subPath, filename) {
  const res = await adminFetch('GET', subPath);
  if (!res.ok) throw new HttpError(res.status, await jsonOf(res), res.headers);
  saveFile(await res.blob(), filename);
}

/** @param {unknown} err */
export const apiProblem = (err) =>
  err instanceof HttpError
    ? err.status === 403 && err.body?.needed_role
      ? `not allowed for your role (needs ${err.body.needed_role})`
      : err.body?.message ?? err.body?.error ?? `HTTP ${err.status}`
    : 'the scheduler API is unreachable';
