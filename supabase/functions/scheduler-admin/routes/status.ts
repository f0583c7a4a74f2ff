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
//   POST   /scheduler/pause   JSON {reason?} pauses the whole scheduler (no reservation, no dispatch; callbacks
//                             still recorded); answers {paused_at, paused_reason}; audited as scheduler.pause
//   POST   /scheduler/resume  resumes it; answers {paused_at: null, paused_reason: null}; audited as scheduler.resume

import { jsonResponse, readBodyLimited } from '../../_shared/http.ts';
import { startTick } from '../../_shared/tick.ts';
import { waitUntil } from '../../_shared/edge-runtime.ts';
import { z } from 'zod';
import { listAuditLog, readStatus, readWaitReasons, setSchedulerPaused } from '../../_shared/queries.ts';
import { type StatusPayload, tickResponseBody, type WaitReasonsPayload } from '../../_shared/status.ts';
import { coerceError } from '../../_shared/errors.ts';
import { VERSION } from '../../_shared/version.ts';
import { type AdminContext, audit, pageLimit, query, readValid } from './common.ts';

/** GET /whoami: the credential presented (never the token itself). */
export async function whoami(c: AdminContext): Promise<Response> {
  const who = c.var.who;
  return jsonResponse({ actor: who.actor, role: who.role, kind: who.kind, token_id: who.tokenId });
}

/** GET /status: last run, next run, counts, campaigns, recent runs. */
export async function status(c: AdminContext): Promise<Response> {
  const { db, now } = c.var.deps;
  const payload: StatusPayload = { now: now().toISOString(), version: VERSION, ...(await readStatus(db)) };
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

/** The body of POST /scheduler/pause: why (shown on the dashboard); optional. */
export const SchedulerPauseRequest = z.strictObject({
  reason: z.string().trim().min(1).max(500).optional(),
});

/** POST /scheduler/pause: the whole scheduler stops reserving and dispatching; audited as scheduler.pause. */
export async function pauseScheduler(c: AdminContext): Promise<Response> {
  const body = await readValid(c, SchedulerPauseRequest);
  const { db } = c.var.deps;
  const before = (await readStatus(db)).pause;
  const after = await setSchedulerPaused(db, true, body.reason ?? null);
  await audit(c, 'scheduler.pause', 'scheduler', before, after);
  return jsonResponse(after);
}

/** POST /scheduler/resume: the whole scheduler goes on; audited as scheduler.resume. */
export async function resumeScheduler(c: AdminContext): Promise<Response> {
  await readBodyLimited(c.req.raw, 1024); // nothing expected; refuse big bodies
  const { db } = c.var.deps;
  const before = (await readStatus(db)).pause;
  const after = await setSchedulerPaused(db, false, null);
  await audit(c, 'scheduler.resume', 'scheduler', before, after);
  return jsonResponse(after);
}
