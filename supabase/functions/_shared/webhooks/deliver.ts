// Webhook delivery: due deliveries are claimed under a lease (claim_webhook_deliveries: FOR UPDATE
// SKIP LOCKED, so two deliverers never send one delivery at once), signed per Standard Webhooks
// (webhook-id: the event id, webhook-timestamp, webhook-signature: HMAC-SHA256 with the endpoint's
// whsec_ secret, by the standardwebhooks package), POSTed with a timeout, and their results recorded
// in one statement (record_webhook_delivery_results: delivered on 2xx, else retried by the schedule
// in webhook_settings, dead at its end). At least once: a deliverer that dies between the send and
// the record leaves a lease that runs out, and the delivery is sent again; receivers dedupe on
// webhook-id. The answer's body is never read.
//
// Who delivers: the scheduler-tick function, after each tick's answer, in the background for as
// long as the tick's continuous dispatch runs (scheduler_settings.background_dispatch_ms; at least
// one pass). Overlapping ticks deliver side by side; the lease keeps them apart.

import { Webhook } from 'standardwebhooks';
import type { SqlPool } from '../db.ts';
import type { Logger } from '../log.ts';
import { coerceError } from '../errors.ts';
import { type Resolver, webhookUrlProblem } from './url-guard.ts';
import {
  type ClaimedDelivery,
  claimWebhookDeliveries,
  type DeliveryResult,
  purgeWebhookEvents,
  recordWebhookDeliveryResults,
} from './queries.ts';

export const WEBHOOK_TIMEOUT_MS = 10_000;
export const WEBHOOK_BATCH_SIZE = 25;
export const WEBHOOK_POLL_MS = 1000;

export interface WebhookDeliveryOptions {
  pool: SqlPool;
  log: Logger;
  /** WEBHOOKS_ALLOW_PRIVATE_URLS: skip the address guard (local development, tests). */
  allowPrivateUrls: boolean;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  /** Deliveries claimed and sent at once; default 25. */
  batchSize?: number;
  fetch?: typeof fetch;
  resolve?: Resolver;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface WebhookDeliveryCounts {
  sent: number;
  delivered: number;
  failed: number;
  dead: number;
}

const noCounts = (): WebhookDeliveryCounts => ({ sent: 0, delivered: 0, failed: 0, dead: 0 });

/** The Standard Webhooks headers for one message (the timestamp in whole seconds). */
export function signedHeaders(secret: string, msgId: string, at: Date, body: string): Record<string, string> {
  const seconds = new Date(Math.floor(at.getTime() / 1000) * 1000);
  return {
    'content-type': 'application/json',
    'user-agent': 'campaign-scheduler-webhooks/1',
    'webhook-id': msgId,
    'webhook-timestamp': String(seconds.getTime() / 1000),
    'webhook-signature': new Webhook(secret).sign(msgId, seconds, body),
  };
}

async function sendOne(d: ClaimedDelivery, opts: WebhookDeliveryOptions): Promise<DeliveryResult> {
  const now = opts.now ?? Date.now;
  const started = new Date(now());
  const result = (status_code: number | null, error: string | null): DeliveryResult => ({
    delivery_id: d.delivery_id,
    lease_token: d.lease_token,
    status_code,
    error,
    started_at: started.toISOString(),
    finished_at: new Date(now()).toISOString(),
  });
  const refused = await webhookUrlProblem(d.url, { allowPrivate: opts.allowPrivateUrls, resolve: opts.resolve });
  if (refused) return result(null, `refused: the URL ${refused}`);
  const body = JSON.stringify(d.body);
  const timeoutMs = opts.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  try {
    const res = await (opts.fetch ?? fetch)(d.url, {
      method: 'POST',
      headers: signedHeaders(d.secret, d.event_id, started, body),
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The receiver's body is not ours to trust or keep.
    await res.body?.cancel().catch(() => undefined);
    return result(res.status, res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`);
  } catch (err) {
    const e = coerceError(err);
    const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
    return result(null, timedOut ? `timeout after ${timeoutMs} ms` : `connection error: ${e.message}`.slice(0, 500));
  }
}

/** One pass: claims and sends batches until nothing is due. */
export async function deliverDueWebhooks(opts: WebhookDeliveryOptions): Promise<WebhookDeliveryCounts> {
  const now = opts.now ?? Date.now;
  const counts = noCounts();
  for (;;) {
    const claimed = await claimWebhookDeliveries(opts.pool, opts.batchSize ?? WEBHOOK_BATCH_SIZE, new Date(now()));
    if (claimed.length === 0) return counts;
    const results = await Promise.all(claimed.map((d) => sendOne(d, opts)));
    const recorded = await recordWebhookDeliveryResults(opts.pool, results, new Date(now()));
    counts.sent += results.length;
    for (const r of recorded) {
      if (r.status === 'delivered') counts.delivered++;
      else if (r.status === 'dead') counts.dead++;
      else counts.failed++;
    }
  }
}

/**
 * Passes until `untilMs` (epoch ms), a poll interval apart when nothing was due; at least one.
 * Errors are logged and the next pass tries again (the leases put unfinished work back).
 */
export async function runWebhookDelivery(opts: WebhookDeliveryOptions & { untilMs: number; pollMs?: number }): Promise<
  WebhookDeliveryCounts
> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const total = noCounts();
  // Old delivered events go first, a bounded batch per run (retention: purge_webhook_events).
  await purgeWebhookEvents(opts.pool, new Date(now())).catch((err: unknown) =>
    opts.log.error('webhook_purge_error', { error: coerceError(err).message })
  );
  do {
    try {
      const c = await deliverDueWebhooks(opts);
      total.sent += c.sent;
      total.delivered += c.delivered;
      total.failed += c.failed;
      total.dead += c.dead;
    } catch (err) {
      opts.log.error('webhook_delivery_error', { error: coerceError(err).message });
    }
    const left = opts.untilMs - now();
    if (left <= 0) break;
    await sleep(Math.min(opts.pollMs ?? WEBHOOK_POLL_MS, left));
  } while (now() < opts.untilMs);
  if (total.sent > 0) opts.log.info('webhooks_delivered', { ...total });
  return total;
}
