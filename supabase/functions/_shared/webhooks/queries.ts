// Every SQL statement of the webhooks: the delivery claim and results (deliver.ts) and the admin
// API's endpoints, delivery log and replay (scheduler-admin/webhooks.ts).

import type { SqlClient } from '../db.ts';
import type { Actor } from '../queries.ts';

export interface ClaimedDelivery {
  delivery_id: string;
  lease_token: string;
  attempt: number;
  endpoint_id: string;
  url: string;
  secret: string;
  event_id: string;
  event_type: string;
  body: unknown;
}

export async function claimWebhookDeliveries(db: SqlClient, limit: number, now: Date): Promise<ClaimedDelivery[]> {
  const { rows } = await db.query<ClaimedDelivery>(
    `select delivery_id::text, lease_token::text, attempt, endpoint_id::text, url, secret, event_id, event_type, body
       from public.claim_webhook_deliveries($1, $2)`,
    [limit, now],
  );
  return rows;
}

export interface DeliveryResult {
  delivery_id: string;
  lease_token: string;
  status_code: number | null;
  error: string | null;
  started_at: string;
  finished_at: string;
}

export async function recordWebhookDeliveryResults(
  db: SqlClient,
  results: DeliveryResult[],
  now: Date,
): Promise<Array<{ delivery_id: string; status: string }>> {
  if (results.length === 0) return [];
  const { rows } = await db.query<{ delivery_id: string; status: string }>(
    `select delivery_id::text, status from public.record_webhook_delivery_results($1::jsonb, $2)`,
    [JSON.stringify(results), now],
  );
  return rows;
}

/** Deletes old events whose deliveries all succeeded (purge_webhook_events); returns how many. */
export async function purgeWebhookEvents(db: SqlClient, now: Date): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select public.purge_webhook_events($1) as n`, [now]);
  return rows[0]?.n ?? 0;
}

/** How long deliverers keep going after a tick (scheduler_settings.background_dispatch_ms). */
export async function readBackgroundMs(db: SqlClient): Promise<number> {
  const { rows } = await db.query<{ ms: number }>(`select background_dispatch_ms as ms from public.scheduler_settings`);
  return rows[0]?.ms ?? 0;
}

export type WebhookEndpointJson = Record<string, unknown> & { id: string; url: string };

export async function listWebhookEndpoints(db: SqlClient): Promise<WebhookEndpointJson[]> {
  const { rows } = await db.query<{ j: WebhookEndpointJson }>(
    `select public._webhook_endpoint_json(e) as j from public.webhook_endpoints e order by e.id`,
  );
  return rows.map((r) => r.j);
}

export async function createWebhookEndpoint(
  db: SqlClient,
  e: { url: string; events: string[]; secret: string; description: string | null },
  a: Actor,
): Promise<WebhookEndpointJson> {
  const { rows } = await db.query<{ j: WebhookEndpointJson }>(
    `select public.admin_create_webhook_endpoint($1, $2::text[], $3, $4, $5, $6, $7, $8) as j`,
    [e.url, e.events, e.secret, e.description, a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]!.j;
}

export async function setWebhookEndpointEnabled(
  db: SqlClient,
  id: string,
  enabled: boolean,
  a: Actor,
): Promise<WebhookEndpointJson | null> {
  const { rows } = await db.query<{ j: WebhookEndpointJson | null }>(
    `select public.admin_set_webhook_endpoint_enabled($1, $2, $3, $4, $5, $6) as j`,
    [id, enabled, a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]?.j ?? null;
}

export async function deleteWebhookEndpoint(db: SqlClient, id: string, a: Actor): Promise<WebhookEndpointJson | null> {
  const { rows } = await db.query<{ j: WebhookEndpointJson | null }>(
    `select public.admin_delete_webhook_endpoint($1, $2, $3, $4, $5) as j`,
    [id, a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]?.j ?? null;
}

export async function replayWebhookDeliveries(
  db: SqlClient,
  endpointId: string,
  deliveryId: string | null,
  a: Actor,
): Promise<{ endpoint_id: string; replayed: number; delivery_ids: string[] } | null> {
  const { rows } = await db.query<{ j: { endpoint_id: string; replayed: number; delivery_ids: string[] } | null }>(
    `select public.admin_replay_webhook_deliveries($1, $2, $3, $4, $5, $6) as j`,
    [endpointId, deliveryId, a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]?.j ?? null;
}

export interface WebhookDeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
  log: Array<{ attempt: number; started_at: string; finished_at: string; status_code: number | null; error: string | null }>;
}

/** An endpoint's deliveries, newest first (keyset: before an id), each with its attempts. */
export async function listWebhookDeliveries(
  db: SqlClient,
  endpointId: string,
  opts: { status: string | null; before: string | null; limit: number },
): Promise<WebhookDeliveryRow[]> {
  const { rows } = await db.query<WebhookDeliveryRow>(
    `select d.id::text, d.event_id, ev.type as event_type, d.status, d.attempts,
            case when d.status = 'pending' then d.next_attempt_at end as next_attempt_at,
            d.last_status_code, d.last_error, d.delivered_at, d.created_at,
            coalesce((select jsonb_agg(jsonb_build_object('attempt', a.attempt, 'started_at', a.started_at,
                                                          'finished_at', a.finished_at, 'status_code', a.status_code,
                                                          'error', a.error) order by a.id)
                        from public.webhook_delivery_attempts a where a.delivery_id = d.id), '[]'::jsonb) as log
       from public.webhook_deliveries d
       join public.webhook_events ev on ev.id = d.event_id
      where d.endpoint_id = $1
        and ($2::text is null or d.status = $2)
        and ($3::bigint is null or d.id < $3)
      order by d.id desc
      limit $4`,
    [endpointId, opts.status, opts.before, opts.limit],
  );
  return rows;
}
