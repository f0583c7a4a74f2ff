// Who am I, how is the scheduler doing, why is nothing dialled now, the audit trail, and the manual
// tick: GET /whoami, /status, /wait-reasons, /audit and POST /trigger.
//
// What each route takes and answers (the role each needs: ROUTES in ../handler.ts):
//
//   GET    /whoami        {actor, role, kind, token_id}: the credential presented (never the token)
//   GET    /status        last run, next run, counts, campaigns, recent runs
//   GET    /wait-reasons  why not now: {now, reasons: [ContactWaitRow...]} (contact_wait_reasons)
//   POST   /trigger       a manual tick (rate-limited in the database); audited as tick.trigger
//   GET    /audit?limit=N {entries: [{id, at, actor, actor_role, action, subject, before, after}...]} newest first

import { jsonResponse, readBodyLimited } from '../../_shared/http.ts';
import { startTick } from '../../_shared/tick.ts';
import { waitUntil } from '../../_shared/edge-runtime.ts';
import { listAuditLog, readStatus, readWaitReasons } from '../../_shared/queries.ts';
import { type StatusPayload, tickResponseBody, type WaitReasonsPayload } from '../../_shared/status.ts';
import { coerceError } from '../../_shared/errors.ts';
import { type AdminContext, audit, pageLimit, query } from './common.ts';

/** GET /whoami: the credential presented (never the token itself). */
export async function whoami(c: AdminContext): Promise<Response> {
  const who = c.var.who;
  return jsonResponse({ actor: who.actor, role: who.role, kind: who.kind, token_id: who.tokenId });
}

/** GET /status: last run, next run, counts, campaigns, recent runs. */
export async function status(c: AdminContext): Promise<Response> {
  const { db, now } = c.var.deps;
  const payload: StatusPayload = { now: now().toISOString(), ...(await readStatus(db)) };
  return jsonResponse(payload);
}

/** GET /wait-reasons: why each waiting contact is not dialled now. */
export async function waitReasons(c: AdminContext): Promise<Response> {
  const { db, now } = c.var.deps;
  const payload: WaitReasonsPayload = { now: now().toISOString(), reasons: await readWaitReasons(db) };
  return jsonResponse(payload);
}

/** GET /audit?limit=N: the newest entries first. */
export async function auditLog(c: AdminContext): Promise<Response> {
  return jsonResponse({ entries: await listAuditLog(c.var.deps.db, pageLimit(query(c))) });
}

/** POST /trigger: a manual tick, rate-limited in the database; audited as tick.trigger. */
export async function trigger(c: AdminContext): Promise<Response> {
  const { tick, log } = c.var.deps;
  await readBodyLimited(c.req.raw, 1024); // nothing expected; refuse big bodies
  const { answer: result, finished } = await startTick(tick, { trigger: 'manual', scheduledFor: null, jitterMs: 0 });
  waitUntil(finished);
  if (result.status === 'rate_limited') {
    const retry = Math.ceil((result.retryAfterMs ?? 1000) / 1000);
    return jsonResponse({ error: 'rate_limited', retry_after_ms: result.retryAfterMs }, 429, {
      'retry-after': String(retry),
    });
  }
  const body = tickResponseBody(result);
  // The tick ran: a failed audit write is logged, never turned into a failed answer.
  await audit(c, 'tick.trigger', body.run_id === null ? null : `run ${body.run_id}`, null, body).catch((err) =>
    log.error('audit_failed', { action: 'tick.trigger', error: coerceError(err).message })
  );
  return jsonResponse(body, result.status === 'failed' ? 500 : 200);
}
