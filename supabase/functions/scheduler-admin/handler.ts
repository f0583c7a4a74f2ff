// scheduler-admin: what the dashboard (and scripts) talk to, routed by Hono. Every route needs an
// operator credential (operator-auth.ts: ADMIN_TOKEN, ADMIN_TOKEN_PREVIOUS during a rotation, or a
// named operator token, or a Supabase Auth access token of a user with app_metadata.role 'viewer',
// 'operator' or 'admin': HS256 when SUPABASE_JWT_SECRET is set, ES256 / RS256 with the project's
// JWKS), sent as Authorization: Bearer; never the cron secret. No credential, or a bad one: 401
// (counted per source, auth-limit.ts: 429 with Retry-After over the limit); a valid session of a
// user without a scheduler role: 403 {error: 'forbidden', message}. Sign-in comes first, so a
// stranger learns nothing, not even which paths exist.
//
// Every route needs a role (ROUTES below; roles.ts: viewer < operator < admin), checked before the
// handler reads the body or the database: a credential whose role is lower gets 403 {error:
// 'forbidden', message, role, needed_role} and nothing changes. A path or method not in ROUTES: 404
// {error: 'not_found'}. What each route takes and answers is said next to its handler in routes/.
//
// A request the schema refuses: 400 {error: 'bad_request', message, issues: [{field, message}]}; a
// value the database refuses (CHECK constraint): 400 {error: 'bad_request', field, message}; a
// campaign naming an unknown provider account: 400 {error: 'bad_request', field: 'provider_account',
// message: 'unknown provider account "x"'}; other known refusals {error, message} with their 4xx
// (routes/common.ts). CORS answers only the
// configured dashboard origins (DASHBOARD_ORIGIN); a preflight (OPTIONS) needs no credential.
//
// The function is served under its name: hosted Supabase hands it /scheduler-admin/<route> (the
// base path Supabase's Hono guide sets), the local gateway (npm start, the tests)
// /functions/v1/scheduler-admin/<route>. A trailing slash is ignored.
//
// Adding a route:
//   1. write its handler in the module of its concern under routes/: an async function
//      (c: AdminContext) => Response. c.var.deps holds the database, clock and log, c.var.who the
//      caller; readValid(c, Schema) reads a JSON body (size-limited, 400 naming refused fields);
//      actorOf(c) / audit(c, ...) write in the caller's name; throw HttpError for any other 4xx.
//   2. add one line to ROUTES: method, path (Hono pattern, e.g. '/campaigns/:id/callbacks'), role,
//      handler. Nothing else: sign-in, the role check, CORS and error answers come with it.

import { Hono, type MiddlewareHandler } from 'hono';
import { HttpError, jsonResponse } from '../_shared/http.ts';
import type { TickDeps } from '../_shared/tick.ts';
import type { Logger } from '../_shared/log.ts';
import { coerceError } from '../_shared/errors.ts';
import { corsHeaders } from '../_shared/cors.ts';
import { authenticateOperator } from '../_shared/operator-auth.ts';
import type { SessionKeys } from '../_shared/jwks.ts';
import { type OperatorRole, roleAtLeast } from '../_shared/roles.ts';
import { type AuthLimitConfig, createAuthFailureLimiter, type ServeInfo } from '../_shared/auth-limit.ts';
import {
  type AdminDeps,
  type AdminEnv,
  asHttpError,
  discardBody,
  errorAnswer,
  forbidden,
  type RouteHandler,
} from './routes/common.ts';
import * as accounts from './routes/accounts.ts';
import * as campaigns from './routes/campaigns.ts';
import * as contacts from './routes/contacts.ts';
import * as doNotCall from './routes/do-not-call.ts';
import * as person from './routes/person.ts';
import * as rules from './routes/rules.ts';
import * as status from './routes/status.ts';
import * as tokens from './routes/tokens.ts';
import * as webhooks from './routes/webhooks.ts';

export { TOKEN_DEFAULT_DAYS, TOKEN_MAX_DAYS } from './routes/tokens.ts';

export type Route = readonly [
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  role: OperatorRole,
  handle: RouteHandler,
];

/** Every route, and the role it needs: the one place that says who may call what. */
export const ROUTES: readonly Route[] = [
  ['GET', '/whoami', 'viewer', status.whoami],
  ['GET', '/status', 'viewer', status.status],
  ['GET', '/wait-reasons', 'viewer', status.waitReasons],
  ['GET', '/audit', 'viewer', status.auditLog],
  ['POST', '/trigger', 'operator', status.trigger],
  ['POST', '/scheduler/pause', 'admin', status.pauseScheduler],
  ['POST', '/scheduler/resume', 'admin', status.resumeScheduler],

  ['GET', '/contacts', 'viewer', person.storyByPhone],
  ['GET', '/contacts/:id', 'viewer', person.storyByContact],

  ['GET', '/campaigns', 'viewer', campaigns.list],
  ['POST', '/campaigns', 'operator', campaigns.create],
  ['GET', '/campaigns/:id', 'viewer', campaigns.read],
  ['PATCH', '/campaigns/:id', 'operator', campaigns.update],
  ['GET', '/campaigns/:id/preview-action', 'viewer', campaigns.previewAction],
  ['POST', '/campaigns/:id/:action{pause|resume|cancel}', 'operator', campaigns.applyAction],

  ['POST', '/campaigns/:id/contacts', 'operator', contacts.importCsv],
  ['PATCH', '/campaigns/:id/contacts/:contactId', 'operator', contacts.setConsent],
  ['PUT', '/campaigns/:id/contacts/:contactId/callback', 'operator', contacts.setCallback],
  ['POST', '/campaigns/:id/leads', 'operator', contacts.addOneLead],
  ['GET', '/campaigns/:id/export', 'viewer', contacts.exportContacts],
  ['GET', '/campaigns/:id/calls-export', 'viewer', contacts.exportCalls],

  ['GET', '/accounts', 'viewer', accounts.list],
  ['POST', '/accounts', 'admin', accounts.create],
  ['GET', '/accounts/:id', 'viewer', accounts.read],
  ['PATCH', '/accounts/:id', 'admin', accounts.update],
  ['DELETE', '/accounts/:id', 'admin', accounts.remove],

  ['GET', '/do-not-call', 'viewer', doNotCall.search],
  ['POST', '/do-not-call', 'operator', doNotCall.add],
  ['GET', '/do-not-call/export', 'viewer', doNotCall.exportCsv],
  ['POST', '/do-not-call/import', 'operator', doNotCall.importCsv],
  ['DELETE', '/do-not-call/:phone', 'operator', doNotCall.remove],

  ['GET', '/calling-hours-rules', 'viewer', rules.list],
  ['PATCH', '/calling-hours-rules', 'admin', rules.setEnabled],

  ['GET', '/tokens', 'admin', tokens.list],
  ['POST', '/tokens', 'admin', tokens.create],
  ['POST', '/tokens/revoke-by-creator', 'admin', tokens.revokeByCreator],
  ['DELETE', '/tokens/:id', 'admin', tokens.revoke],

  ['GET', '/webhooks', 'viewer', webhooks.list],
  ['POST', '/webhooks', 'admin', webhooks.create],
  ['PATCH', '/webhooks/:id', 'admin', webhooks.setEnabled],
  ['DELETE', '/webhooks/:id', 'admin', webhooks.remove],
  ['GET', '/webhooks/:id/deliveries', 'viewer', webhooks.deliveries],
  ['POST', '/webhooks/:id/replay', 'admin', webhooks.replayDeliveries],
];

/** The paths the function is reached under (see above). */
export const BASE_PATHS = ['/scheduler-admin', '/functions/v1/scheduler-admin'] as const;

export interface AdminHandlerOptions {
  adminToken: string;
  adminTokenPrevious?: string | undefined;
  /** SUPABASE_JWT_SECRET: HS256 Supabase Auth sessions of operator users are accepted when set. */
  jwtSecret?: string | undefined;
  /** The project's JWKS (SUPABASE_JWKS_URL / SUPABASE_URL): ES256 / RS256 sessions are accepted when set. */
  jwks?: SessionKeys | undefined;
  deps: TickDeps;
  log: Logger;
  /** Browser origins allowed to call (CORS); ['*'] only when configured so; [] none. */
  allowedOrigins: readonly string[];
  authLimit: AuthLimitConfig;
  /** ALLOW_INSECURE_URLS: a campaign's answer URL may be http:// (local development only). */
  allowInsecureUrls?: boolean;
  /** WEBHOOKS_ALLOW_PRIVATE_URLS: webhook endpoints may be http:// and private (local development only). */
  allowPrivateWebhookUrls?: boolean;
  now?: () => Date;
}

/** The route's path under the base path, as a 403 names it. */
function routePath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const i = trimmed.indexOf('/scheduler-admin');
  return i >= 0 ? trimmed.slice(i + '/scheduler-admin'.length) || '/' : trimmed || '/';
}

/** 403 unless the caller's role is at least `needed`; the body is dropped unread. */
function requireRole(needed: OperatorRole): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const role = c.var.who.role;
    if (!roleAtLeast(role, needed)) {
      await discardBody(c.req.raw);
      return forbidden(role, needed, `${c.req.method} ${routePath(c.req.path)} needs the ${needed} role`);
    }
    await next();
  };
}

export function createAdminHandler(opts: AdminHandlerOptions): (req: Request, info?: ServeInfo) => Promise<Response> {
  const now = opts.now ?? (() => new Date());
  const deps: AdminDeps = {
    db: opts.deps.pool,
    tick: opts.deps,
    log: opts.log,
    now,
    allowInsecureUrls: opts.allowInsecureUrls ?? false,
    allowPrivateWebhookUrls: opts.allowPrivateWebhookUrls ?? false,
  };
  const limiter = createAuthFailureLimiter({
    db: deps.db,
    functionName: 'scheduler-admin',
    config: opts.authLimit,
    log: opts.log,
    now,
  });

  /** Who is calling: every request, whatever its path, before any route is looked at. */
  const signIn: MiddlewareHandler<AdminEnv> = async (c, next) => {
    const who = await authenticateOperator(c.req.raw.headers, {
      adminToken: opts.adminToken,
      adminTokenPrevious: opts.adminTokenPrevious,
      jwtSecret: opts.jwtSecret,
      jwks: opts.jwks,
      db: deps.db,
      now,
    });
    // A signed-in Supabase user without the operator role: forbidden (a valid credential, not counted).
    if (who.kind === 'refused' && who.status === 403) {
      return jsonResponse({ error: 'forbidden', message: who.reason ?? 'not an operator' }, 403);
    }
    if (who.kind === 'refused') {
      const body = who.reason ? { error: 'unauthorized', message: who.reason } : { error: 'unauthorized' };
      return await limiter.refuse(c.req.raw, c.env?.info, () => jsonResponse(body, 401));
    }
    c.set('who', who);
    c.set('deps', deps);
    await next();
  };

  const api = new Hono<AdminEnv>();
  for (const [method, path, role, handle] of ROUTES) api.on(method, path, requireRole(role), handle);

  const app = new Hono<AdminEnv>({ strict: false });
  app.use('*', signIn);
  for (const base of BASE_PATHS) app.route(base, api);
  app.notFound(async (c) => {
    await discardBody(c.req.raw);
    return jsonResponse({ error: 'not_found' }, 404);
  });
  app.onError((err) => {
    const known = err instanceof HttpError ? err : asHttpError(err);
    if (known) return errorAnswer(known);
    opts.log.error('admin_error', { error: coerceError(err).message });
    return jsonResponse({ error: 'internal_error' }, 500);
  });

  return async (req: Request, info?: ServeInfo): Promise<Response> => {
    // A preflight carries no credential: answered here, before sign-in.
    let res: Response;
    try {
      res = req.method === 'OPTIONS' ? new Response(null, { status: 204 }) : await app.fetch(req, { info });
    } catch (err) {
      // What onError does not see (a thrown non-Error): still an answer with CORS, never a dropped request.
      opts.log.error('admin_error', { error: coerceError(err).message });
      res = jsonResponse({ error: 'internal_error' }, 500);
    }
    for (const [k, v] of Object.entries(corsHeaders(req.headers.get('origin'), opts.allowedOrigins))) res.headers.set(k, v);
    return res;
  };
}
