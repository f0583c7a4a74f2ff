// scheduler-admin's webhook routes: plain (req, ctx) => Response functions, registered in ROUTES
// (handler.ts) through the Hono adapters at the end of this file:
//
//   GET    /webhooks                 [v] {endpoints: [{id, url, events, description, enabled, created_at,
//                                       created_by, updated_at, pending, dead, delivered}...]} (never a secret)
//   POST   /webhooks                 [a] {url, events? (all), secret? (generated), description?} -> 201 the
//                                       endpoint with its secret: the only time it is shown. The URL must be
//                                       https:// and resolve to public addresses only (url-guard.ts); audited
//                                       webhook.create
//   PATCH  /webhooks/<id>            [a] {enabled} -> the endpoint; audited webhook.enable / webhook.disable
//   DELETE /webhooks/<id>            [a] -> {deleted: endpoint} (its deliveries and their log go too); audited
//   GET    /webhooks/<id>/deliveries?status=pending|delivered|dead&before=<delivery id>&limit=N  [v]
//                                       {deliveries: [{id, event_id, event_type, status, attempts, next_attempt_at,
//                                       last_status_code, last_error, delivered_at, created_at, log: [{attempt,
//                                       started_at, finished_at, status_code, error}...]}...], next_before}
//   POST   /webhooks/<id>/replay     [a] {delivery_id?} -> {endpoint_id, replayed, delivery_ids}: that delivery
//                                       (any status) or, without one, every dead delivery, sent again from the
//                                       start of the retry schedule; audited webhook.replay
//
// Unknown endpoint: 404. A body the schema refuses: 400 {error: 'bad_request', message, issues, field?}.

import { z } from 'zod';
import { HttpError, jsonResponse, readBodyLimited } from '../../_shared/http.ts';
import type { SqlClient } from '../../_shared/db.ts';
import type { Actor } from '../../_shared/queries.ts';
import { describeIssues } from '../../_shared/campaign-schema.ts';
import type { Resolver } from '../../_shared/webhooks/url-guard.ts';
import { webhookUrlProblem } from '../../_shared/webhooks/url-guard.ts';
import { generateWebhookSecret, WebhookEndpointCreate, WebhookEndpointPatch } from '../../_shared/webhooks/schema.ts';
import { actorOf, type AdminContext, type RouteHandler } from './common.ts';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  listWebhookDeliveries,
  listWebhookEndpoints,
  replayWebhookDeliveries,
  setWebhookEndpointEnabled,
} from '../../_shared/webhooks/queries.ts';

export interface WebhookRouteContext {
  db: SqlClient;
  actor: () => Actor;
  /** WEBHOOKS_ALLOW_PRIVATE_URLS. */
  allowPrivateUrls: boolean;
  resolve?: Resolver;
  /** The endpoint id from the path, when the route has one. */
  id?: string;
}

const ID = /^[1-9][0-9]{0,17}$/;
const DELIVERY_STATUSES = ['pending', 'delivered', 'dead'];
const Replay = z.object({ delivery_id: z.string().regex(ID, 'delivery_id: a delivery id').optional() }).strict();

function badFields(issues: Array<{ field: string; message: string }>): Response {
  return jsonResponse({
    error: 'bad_request',
    message: issues.map((i) => `${i.field}: ${i.message}`).join('; '),
    issues,
    ...(issues.length === 1 ? { field: issues[0]!.field } : {}),
  }, 400);
}

async function readJsonBody(req: Request): Promise<unknown> {
  const text = await readBodyLimited(req, 16_384);
  if (text.trim() === '') return {};
  if (!/^application\/json\b/i.test(req.headers.get('content-type') ?? '')) {
    throw new HttpError(415, 'body must be application/json', 'unsupported_media_type');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not valid JSON', 'bad_request');
  }
}

const noEndpoint = () => jsonResponse({ error: 'not_found', message: 'no webhook endpoint with that id' }, 404);

function endpointId(ctx: WebhookRouteContext): string | undefined {
  return ctx.id !== undefined && ID.test(ctx.id) ? ctx.id : undefined;
}

export async function listEndpoints(_req: Request, ctx: WebhookRouteContext): Promise<Response> {
  return jsonResponse({ endpoints: await listWebhookEndpoints(ctx.db) });
}

export async function createEndpoint(req: Request, ctx: WebhookRouteContext): Promise<Response> {
  const parsed = WebhookEndpointCreate.safeParse(await readJsonBody(req));
  if (!parsed.success) return badFields(describeIssues(parsed.error));
  const problem = await webhookUrlProblem(parsed.data.url, { allowPrivate: ctx.allowPrivateUrls, resolve: ctx.resolve });
  if (problem) return badFields([{ field: 'url', message: problem }]);
  const secret = parsed.data.secret ?? generateWebhookSecret();
  const row = await createWebhookEndpoint(ctx.db, {
    url: parsed.data.url,
    events: parsed.data.events,
    secret,
    description: parsed.data.description ?? null,
  }, ctx.actor());
  // The only time the secret is shown.
  return jsonResponse({ ...row, secret }, 201);
}

export async function setEndpointEnabled(req: Request, ctx: WebhookRouteContext): Promise<Response> {
  const id = endpointId(ctx);
  const parsed = WebhookEndpointPatch.safeParse(await readJsonBody(req));
  if (!id) return noEndpoint();
  if (!parsed.success) return badFields(describeIssues(parsed.error));
  const row = await setWebhookEndpointEnabled(ctx.db, id, parsed.data.enabled, ctx.actor());
  return row ? jsonResponse(row) : noEndpoint();
}

export async function deleteEndpoint(req: Request, ctx: WebhookRouteContext): Promise<Response> {
  await readBodyLimited(req, 1024); // nothing expected; refuse big bodies
  const id = endpointId(ctx);
  const row = id ? await deleteWebhookEndpoint(ctx.db, id, ctx.actor()) : null;
  return row ? jsonResponse({ deleted: row }) : noEndpoint();
}

export async function listDeliveries(req: Request, ctx: WebhookRouteContext): Promise<Response> {
  const id = endpointId(ctx);
  if (!id) return noEndpoint();
  const q = new URL(req.url).searchParams;
  const status = q.get('status') || null;
  if (status !== null && !DELIVERY_STATUSES.includes(status)) throw new HttpError(400, 'status: pending, delivered or dead');
  const before = q.get('before') || null;
  if (before !== null && !ID.test(before)) throw new HttpError(400, 'before: a delivery id from next_before');
  const limit = Number(q.get('limit') ?? '50');
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new HttpError(400, 'limit: 1 to 500');
  const endpoints = await listWebhookEndpoints(ctx.db);
  if (!endpoints.some((e) => e.id === id)) return noEndpoint();
  const page = await listWebhookDeliveries(ctx.db, id, { status, before, limit: limit + 1 });
  const deliveries = page.slice(0, limit);
  return jsonResponse({ deliveries, next_before: page.length > limit ? deliveries[deliveries.length - 1]!.id : null });
}

export async function replay(req: Request, ctx: WebhookRouteContext): Promise<Response> {
  const id = endpointId(ctx);
  const parsed = Replay.safeParse(await readJsonBody(req));
  if (!id) return noEndpoint();
  if (!parsed.success) return badFields(describeIssues(parsed.error));
  const result = await replayWebhookDeliveries(ctx.db, id, parsed.data.delivery_id ?? null, ctx.actor());
  if (!result) return noEndpoint();
  if (parsed.data.delivery_id !== undefined && result.replayed === 0) {
    return jsonResponse({ error: 'not_found', message: 'the endpoint has no delivery with that id' }, 404);
  }
  return jsonResponse(result);
}

/** Runs one of the handlers above for a Hono route (the endpoint id from the path, when it has one). */
function hono(handler: (req: Request, ctx: WebhookRouteContext) => Promise<Response>): RouteHandler {
  return (c: AdminContext) => {
    const id = c.req.param('id');
    return handler(c.req.raw, {
      db: c.var.deps.db,
      actor: () => actorOf(c),
      allowPrivateUrls: c.var.deps.allowPrivateWebhookUrls,
      ...(id !== undefined ? { id } : {}),
    });
  };
}

export const list = hono(listEndpoints);
export const create = hono(createEndpoint);
export const setEnabled = hono(setEndpointEnabled);
export const remove = hono(deleteEndpoint);
export const deliveries = hono(listDeliveries);
export const replayDeliveries = hono(replay);
