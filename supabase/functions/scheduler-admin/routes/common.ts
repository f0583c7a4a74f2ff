// What every admin route module shares: the request's context (who is calling, the database, the
// clock), reading a JSON body within its size limit, and the error shapes the API answers with.
// The routes themselves, and the role each needs, are listed in ../handler.ts.

import type { Context } from 'hono';
import { z } from 'zod';
import { errorResponse, HttpError, jsonResponse, readBodyLimited } from '../../_shared/http.ts';
import type { TickDeps } from '../../_shared/tick.ts';
import { type Actor, recordOperatorAction } from '../../_shared/queries.ts';
import { ACCOUNT_CONSTRAINT_FIELDS } from '../../_shared/account-schema.ts';
import { CONTACT_CONSTRAINT_FIELDS } from '../../_shared/contact-schema.ts';
import { CAMPAIGN_CONSTRAINT_FIELDS, describeIssues } from '../../_shared/campaign-schema.ts';
import type { Logger } from '../../_shared/log.ts';
import { coerceError } from '../../_shared/errors.ts';
import type { OperatorIdentity } from '../../_shared/operator-auth.ts';
import type { OperatorRole } from '../../_shared/roles.ts';
import type { ServeInfo } from '../../_shared/auth-limit.ts';

/** What a route needs besides the request, made once when the function starts. */
export interface AdminDeps {
  db: TickDeps['pool'];
  /** The manual trigger's tick parts (the same as scheduler-tick's). */
  tick: TickDeps;
  log: Logger;
  now: () => Date;
  /** ALLOW_INSECURE_URLS: a campaign's answer URL may be http:// (local development only). */
  allowInsecureUrls: boolean;
  /** WEBHOOKS_ALLOW_PRIVATE_URLS: webhook endpoints may be http:// and private (local development only). */
  allowPrivateWebhookUrls: boolean;
}

/** Hono's environment for this function: the connection info and what the sign-in middleware sets. */
export type AdminEnv = {
  Bindings: { info?: ServeInfo | undefined };
  Variables: { deps: AdminDeps; who: OperatorIdentity };
};
export type AdminContext = Context<AdminEnv>;
export type RouteHandler = (c: AdminContext) => Promise<Response>;

/** The credential behind this request, as the queries that write record it. */
export function actorOf(c: AdminContext): Actor {
  const who = c.var.who;
  return { actor: who.actor, actorTokenId: who.tokenId, actorRole: who.role, now: c.var.deps.now() };
}

/** One audit entry in the caller's name. */
export function audit(c: AdminContext, action: string, subject: string | null, before: unknown, after: unknown) {
  return recordOperatorAction(c.var.deps.db, { ...actorOf(c), action, subject, before, after });
}

/** The query string of the request. */
export function query(c: AdminContext): URLSearchParams {
  return new URL(c.req.url).searchParams;
}

/** Why an operator listed or removed a number, or switched a calling-hours rule (kept in the audit trail). */
export const Reason = z.string().trim().min(1, 'a reason is required').max(500, 'at most 500 characters');

/** Ids of campaigns, contacts and tokens: positive bigints, as text. */
export const NUMERIC_ID = /^[1-9][0-9]{0,17}$/;

export function notFound(message: string): Response {
  return jsonResponse({ error: 'not_found', message }, 404);
}

/** Drops a body nobody will read (an answer given before it), so the connection is not left holding it. */
export async function discardBody(req: Request): Promise<void> {
  await req.body?.cancel().catch(() => undefined);
}

/** ?limit=N of the list routes: 1 to 1000, 100 when absent. */
export function pageLimit(q: URLSearchParams): number {
  const limit = Number(q.get('limit') ?? '100');
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, 'limit: 1 to 1000');
  return limit;
}

export async function readJson(req: Request, maxBytes = 4096): Promise<unknown> {
  const text = await readBodyLimited(req, maxBytes);
  if (!/^application\/json\b/i.test(req.headers.get('content-type') ?? '')) {
    throw new HttpError(415, 'body must be application/json', 'unsupported_media_type');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not valid JSON', 'bad_request');
  }
}

/** The JSON body, validated by the schema: 413 over maxBytes, 415 not JSON, 400 naming each refused field. */
export async function readValid<S extends z.ZodType>(c: AdminContext, schema: S, maxBytes = 4096): Promise<z.infer<S>> {
  const parsed = schema.safeParse(await readJson(c.req.raw, maxBytes));
  if (!parsed.success) throw new InvalidFields(describeIssues(parsed.error));
  return parsed.data;
}

/** A request body the schema refused: 400 naming each field. */
export class InvalidFields extends HttpError {
  constructor(readonly issues: Array<{ field: string; message: string }>) {
    super(400, issues.map((i) => `${i.field}: ${i.message}`).join('; '), 'bad_request');
  }
}

/** 403 for a credential whose role is too low: says which role it holds and which is needed. */
export function forbidden(role: OperatorRole, needed: OperatorRole, why: string): Response {
  return jsonResponse(
    {
      error: 'forbidden',
      message: `${why}; this credential is ${role === 'admin' ? 'an' : 'a'} ${role}`,
      role,
      needed_role: needed,
    },
    403,
  );
}

/** A database refusal the caller can fix (a name taken, a bad value, a wrong state), as a 4xx. */
export function asHttpError(err: unknown): HttpError | undefined {
  const e = err as { code?: unknown; constraint?: unknown; column?: unknown };
  const message = coerceError(err).message;
  if (e?.code === '23505') return new HttpError(409, message, 'conflict');
  // 42501: a token of a role above its maker's (create_operator_token)
  if (e?.code === '42501') return new HttpError(403, message, 'forbidden');
  // 23503: a campaign naming an unknown provider account (or, at the end, an account deleted under a campaign)
  if (e?.code === '23503') {
    if (e.constraint === 'campaigns_provider_account_fkey' && !/^update or delete on table/.test(message)) {
      return new InvalidFields([{ field: 'provider_account', message }]);
    }
    return new HttpError(409, message, 'conflict');
  }
  if (e?.code === '55000') return new HttpError(409, message, 'conflict');
  if (e?.code === '23514' || e?.code === '23502') {
    const field = typeof e.constraint === 'string'
      ? CAMPAIGN_CONSTRAINT_FIELDS[e.constraint] ?? ACCOUNT_CONSTRAINT_FIELDS[e.constraint] ??
        CONTACT_CONSTRAINT_FIELDS[e.constraint]
      : undefined;
    const column = typeof e.column === 'string' ? e.column : undefined;
    if (field ?? column) return new InvalidFields([{ field: (field ?? column)!, message }]);
    return new HttpError(400, message, 'bad_request');
  }
  // 22023 invalid_parameter_value, 22007/22008 bad date/time, 22P02 bad text representation, 22003 out of range
  if (e?.code === '22023' || e?.code === '22007' || e?.code === '22008' || e?.code === '22P02' || e?.code === '22003') {
    return new HttpError(400, message, 'bad_request');
  }
  return undefined;
}

/** The answer to a known error: {error, message}, plus issues (and field, when one) for refused fields. */
export function errorAnswer(err: HttpError): Response {
  if (err instanceof InvalidFields) {
    return jsonResponse({
      error: err.code,
      message: err.message,
      issues: err.issues,
      ...(err.issues.length === 1 ? { field: err.issues[0]!.field } : {}),
    }, 400);
  }
  return errorResponse(err);
}
