// scheduler-admin: what the dashboard (and scripts) talk to. Every route needs an operator
// credential (operator-auth.ts: ADMIN_TOKEN, ADMIN_TOKEN_PREVIOUS during a rotation, or a named
// operator token), sent as Authorization: Bearer; never the cron secret.
//
//   GET    /status         last run, next run, counts, campaigns, recent runs
//   POST   /trigger        a manual tick (rate-limited in the database); audited as tick.trigger
//   GET    /tokens         the named operator tokens (never a token or its hash)
//   POST   /tokens         {name, expires_in_days?} -> {id, name, token, expires_at}: the token, shown once
//   DELETE /tokens/<name|id>  revokes it
//
// Failed authentication is counted per source (auth-limit.ts): 429 with Retry-After over the limit.
// CORS answers only the configured dashboard origins (DASHBOARD_ORIGIN).

import { z } from 'zod';
import { errorResponse, HttpError, jsonResponse, readBodyLimited } from '../_shared/http.ts';
import { runTick, type TickDeps } from '../_shared/tick.ts';
import {
  createOperatorToken,
  listOperatorTokens,
  readStatus,
  recordOperatorAction,
  revokeOperatorToken,
} from '../_shared/queries.ts';
import { type StatusPayload, tickResponseBody } from '../_shared/status.ts';
import type { Logger } from '../_shared/log.ts';
import { coerceError } from '../_shared/errors.ts';
import { corsHeaders } from '../_shared/cors.ts';
import { authenticateOperator, generateOperatorToken, type OperatorIdentity, sha256 } from '../_shared/operator-auth.ts';
import { type AuthLimitConfig, createAuthFailureLimiter, type ServeInfo } from '../_shared/auth-limit.ts';

export interface AdminHandlerOptions {
  adminToken: string;
  adminTokenPrevious?: string | undefined;
  deps: TickDeps;
  log: Logger;
  /** Browser origins allowed to call (CORS); ['*'] only when configured so; [] none. */
  allowedOrigins: readonly string[];
  authLimit: AuthLimitConfig;
  now?: () => Date;
}

const NewToken = z
  .object({
    name: z.string().regex(
      /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/,
      'name: 1-64 letters, digits, . _ @ - (starting with a letter or digit)',
    ),
    expires_in_days: z.number().positive().max(3650).optional(),
  })
  .strict();

function subPath(req: Request): string {
  const path = new URL(req.url).pathname.replace(/\/+$/, '');
  const i = path.indexOf('/scheduler-admin');
  return i >= 0 ? path.slice(i + '/scheduler-admin'.length) || '/' : path || '/';
}

async function readJson(req: Request): Promise<unknown> {
  const text = await readBodyLimited(req, 4096);
  if (!/^application\/json\b/i.test(req.headers.get('content-type') ?? '')) {
    throw new HttpError(415, 'body must be application/json', 'unsupported_media_type');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not valid JSON', 'bad_request');
  }
}

/** A database refusal the caller can fix (a name taken, a bad value), as a 4xx. */
function asHttpError(err: unknown): HttpError | undefined {
  const code = (err as { code?: unknown })?.code;
  if (code === '23505') return new HttpError(409, coerceError(err).message, 'conflict');
  if (code === '22023' || code === '23514') return new HttpError(400, coerceError(err).message, 'bad_request');
  return undefined;
}

export function createAdminHandler(opts: AdminHandlerOptions): (req: Request, info?: ServeInfo) => Promise<Response> {
  const now = opts.now ?? (() => new Date());
  const limiter = createAuthFailureLimiter({
    db: opts.deps.pool,
    functionName: 'scheduler-admin',
    config: opts.authLimit,
    log: opts.log,
    now,
  });
  const db = opts.deps.pool;

  const routes = async (req: Request, who: OperatorIdentity): Promise<Response> => {
    const route = `${req.method} ${subPath(req)}`;
    const audit = (action: string, subject: string | null, before: unknown, after: unknown) =>
      recordOperatorAction(db, { actor: who.actor, actorTokenId: who.tokenId, action, subject, before, after, now: now() });

    if (route === 'GET /status') {
      const payload: StatusPayload = { now: now().toISOString(), ...(await readStatus(db)) };
      return jsonResponse(payload);
    }
    if (route === 'POST /trigger') {
      await readBodyLimited(req, 1024); // nothing expected; refuse big bodies
      const result = await runTick(opts.deps, { trigger: 'manual', scheduledFor: null, jitterMs: 0 });
      if (result.status === 'rate_limited') {
        const retry = Math.ceil((result.retryAfterMs ?? 1000) / 1000);
        return jsonResponse({ error: 'rate_limited', retry_after_ms: result.retryAfterMs }, 429, {
          'retry-after': String(retry),
        });
      }
      const body = tickResponseBody(result);
      await audit('tick.trigger', body.run_id === null ? null : `run ${body.run_id}`, null, body).catch((err) =>
        opts.log.error('audit_failed', { action: 'tick.trigger', error: coerceError(err).message })
      );
      return jsonResponse(body, result.status === 'failed' ? 500 : 200);
    }
    if (route === 'GET /tokens') {
      return jsonResponse({ tokens: await listOperatorTokens(db, now()) });
    }
    if (route === 'POST /tokens') {
      const parsed = NewToken.safeParse(await readJson(req));
      if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => i.message).join('; '));
      const token = generateOperatorToken();
      const at = now();
      const expiresAt = parsed.data.expires_in_days === undefined
        ? null
        : new Date(at.getTime() + parsed.data.expires_in_days * 86_400_000);
      const row = await createOperatorToken(db, {
        name: parsed.data.name,
        sha256: await sha256(token),
        expiresAt,
        actor: who.actor,
        actorTokenId: who.tokenId,
        now: at,
      });
      // The only time the token is ever shown.
      return jsonResponse({ ...row, token }, 201);
    }
    const revoke = /^DELETE \/tokens\/([^/]{1,192})$/.exec(route);
    if (revoke?.[1]) {
      let which: string;
      try {
        which = decodeURIComponent(revoke[1]);
      } catch {
        throw new HttpError(400, 'the token name is not valid URL encoding', 'bad_request');
      }
      const row = await revokeOperatorToken(db, { token: which, actor: who.actor, actorTokenId: who.tokenId, now: now() });
      return row ? jsonResponse(row) : jsonResponse({ error: 'not_found', message: 'no live token with that name or id' }, 404);
    }
    return jsonResponse({ error: 'not_found' }, 404);
  };

  return async (req: Request, info?: ServeInfo): Promise<Response> => {
    const cors = corsHeaders(req.headers.get('origin'), opts.allowedOrigins);
    const withCors = (res: Response) => {
      for (const [k, v] of Object.entries(cors)) res.headers.set(k, v);
      return res;
    };
    if (req.method === 'OPTIONS') return withCors(new Response(null, { status: 204 }));
    try {
      const who = await authenticateOperator(req.headers, {
        adminToken: opts.adminToken,
        adminTokenPrevious: opts.adminTokenPrevious,
        db,
        now,
      });
      if (!who) return withCors(await limiter.refuse(req, info, () => jsonResponse({ error: 'unauthorized' }, 401)));
      return withCors(await routes(req, who));
    } catch (err) {
      const known = err instanceof HttpError ? err : asHttpError(err);
      if (known) return withCors(errorResponse(known));
      opts.log.error('admin_error', { error: coerceError(err).message });
      return withCors(jsonResponse({ error: 'internal_error' }, 500));
    }
  };
}
