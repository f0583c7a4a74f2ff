// scheduler-admin: what the dashboard talks to. GET /status (last run, next run, counts, campaigns,
// recent runs) and POST /trigger (a manual tick, rate-limited in the database). Authenticated with
// the operator's ADMIN_TOKEN (Authorization: Bearer), never with the cron secret.

import { timingSafeEqualStrings } from '../_shared/secrets.ts';
import { errorResponse, HttpError, jsonResponse, readBodyLimited } from '../_shared/http.ts';
import { runTick, type TickDeps } from '../_shared/tick.ts';
import { readStatus } from '../_shared/queries.ts';
import { tickResponseBody, type StatusPayload } from '../_shared/status.ts';
import type { Logger } from '../_shared/log.ts';
import { coerceError } from '../_shared/errors.ts';

export interface AdminHandlerOptions {
  adminToken: string;
  deps: TickDeps;
  log: Logger;
  /** Origin allowed to call from a browser (CORS); '*' by default since auth is a bearer token. */
  allowedOrigin?: string;
}

/** CORS headers of the dashboard API (also on the misconfigured answer, so the browser can read it). */
export function adminCorsHeaders(allowedOrigin = '*'): Record<string, string> {
  return {
    'access-control-allow-origin': allowedOrigin,
    'access-control-allow-headers': 'authorization, content-type',
    'access-control-allow-methods': 'GET, POST, OPTIONS',
    'access-control-max-age': '600',
  };
}

async function authorized(req: Request, token: string): Promise<boolean> {
  const m = /^Bearer[ ]+(\S{1,1024})\s*$/i.exec(req.headers.get('authorization') ?? '');
  return m?.[1] !== undefined && (await timingSafeEqualStrings(m[1], token));
}

function subPath(req: Request): string {
  const path = new URL(req.url).pathname.replace(/\/+$/, '');
  const i = path.indexOf('/scheduler-admin');
  return i >= 0 ? path.slice(i + '/scheduler-admin'.length) || '/' : path || '/';
}

export function createAdminHandler(opts: AdminHandlerOptions): (req: Request) => Promise<Response> {
  const cors = adminCorsHeaders(opts.allowedOrigin);
  const withCors = (res: Response) => {
    for (const [k, v] of Object.entries(cors)) res.headers.set(k, v);
    return res;
  };
  return async (req: Request): Promise<Response> => {
    if (req.method === 'OPTIONS') return withCors(new Response(null, { status: 204 }));
    try {
      if (!(await authorized(req, opts.adminToken))) return withCors(jsonResponse({ error: 'unauthorized' }, 401));
      const deps = opts.deps;
      const route = `${req.method} ${subPath(req)}`;
      if (route === 'GET /status') {
        const payload: StatusPayload = { now: new Date().toISOString(), ...(await readStatus(deps.pool)) };
        return withCors(jsonResponse(payload));
      }
      if (route === 'POST /trigger') {
        await readBodyLimited(req, 1024); // nothing expected; refuse big bodies
        const result = await runTick(deps, { trigger: 'manual', scheduledFor: null, jitterMs: 0 });
        if (result.status === 'rate_limited') {
          const retry = Math.ceil((result.retryAfterMs ?? 1000) / 1000);
          return withCors(jsonResponse({ error: 'rate_limited', retry_after_ms: result.retryAfterMs }, 429, { 'retry-after': String(retry) }));
        }
        return withCors(jsonResponse(tickResponseBody(result), result.status === 'failed' ? 500 : 200));
      }
      return withCors(jsonResponse({ error: 'not_found' }, 404));
    } catch (err) {
      if (err instanceof HttpError) return withCors(errorResponse(err));
      opts.log.error('admin_error', { error: coerceError(err).message });
      return withCors(jsonResponse({ error: 'internal_error' }, 500));
    }
  };
}
