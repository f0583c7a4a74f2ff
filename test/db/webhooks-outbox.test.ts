// The webhook outbox in the database: each state change writes its event in its own transaction
// (rolled back with it), deliveries are claimed under a lease with FOR UPDATE SKIP LOCKED (two
// claimers never hold one delivery at once), failures wait the retry schedule and end dead after
// it, and a replay sends a delivery again. The clock is passed (p_now) everywhere.

import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addContacts, createCampaign } from '../support/builders.ts';
import { minutesAfterNoon } from '../support/clock.ts';
import { closeClients, disableCronJobs, openClients, resetData, UNTHROTTLED, updateSettings } from '../support/db.ts';
import { claimQueuedCalls, launchDueCalls } from '../support/rows.ts';

const SECRET = 'whsec_' + Buffer.alloc(24, 7).toString('base64');
const ALL_EVENTS = ['call.completed', 'contact.finished', 'campaign.status_changed'];
const RACERS = 6;

let db: pg.Client;
let racers: pg.Client[];

beforeAll(async () => {
  db = (await openClients(1))[0]!;
  await disableCronJobs(db);
  racers = await openClients(RACERS);
});

afterAll(async () => {
  await closeClients([db, ...racers]);
});

beforeEach(async () => {
  await resetData(db);
  await updateSettings(db, UNTHROTTLED);
});

async function addEndpoint(events = ALL_EVENTS, url = 'https://hooks.example.com/in'): Promise<string> {
  const { rows } = await db.query<{ j: { id: string } }>(
    `select public.admin_create_webhook_endpoint($1, $2, $3, null, 'test', null, $4) as j`,
    [url, events, SECRET, minutesAfterNoon(0)],
  );
  return rows[0]!.j.id;
}

interface EventRow {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

async function events(): Promise<EventRow[]> {
  const { rows } = await db.query<EventRow>(`select id, type, data from public.webhook_events order by seq`);
  return rows;
}

/** A campaign with `n` contacts, launched and claimed: its calls dialing at minute 1. */
async function dialingCalls(n: number, maxAttempts = 1): Promise<{ campaign: string; calls: string[] }> {
  const campaign = await createCampaign(db, { maxAttempts, cap: n });
  await addContacts(db, campaign, n);
  await launchDueCalls(db, minutesAfterNoon(1));
  const claimed = await claimQueuedCalls(db, n, minutesAfterNoon(1));
  return { campaign, calls: claimed.map((c) => c.call_id) };
}

async function settle(callId: string, status: string, minute: number, answeredBy: string | null = null): Promise<void> {
  await db.query(
    `select public.apply_call_status($1, 'twilio', $2, $3::public.call_status, $4, $5, $6, $7)`,
    [
      callId,
      `CA${callId}`,
      status,
      status === 'completed' ? 42 : null,
      status === 'failed' ? '31005' : null,
      minutesAfterNoon(minute),
      answeredBy,
    ],
  );
}

describe('events written with the state change', () => {
  it('writes nothing while no endpoint subscribes', async () => {
    const { calls } = await dialingCalls(1);
    await settle(calls[0]!, 'completed', 2, 'human');
    expect(await events()).toEqual([]);
  });

  it('call.completed, contact.finished and campaign.status_changed, one per transition, with their data', async () => {
    const endpoint = await addEndpoint();
    const { campaign, calls } = await dialingCalls(2);
    await settle(calls[0]!, 'completed', 2, 'human');
    await settle(calls[1]!, 'no_answer', 3);
    // Nothing left to call: the next reservation completes the campaign.
    await launchDueCalls(db, minutesAfterNoon(4));

    const all = await events();
    expect(all.map((e) => e.type)).toEqual([
      'campaign.status_changed', // QUEUED -> RUNNING at the first reservation
      'call.completed',
      'contact.finished',
      'call.completed',
      'contact.finished',
      'campaign.status_changed', // RUNNING -> COMPLETED
    ]);
    expect(all[0]!.data).toMatchObject({ campaign_id: campaign, from: 'QUEUED', to: 'RUNNING', cause: 'started' });
    expect(all[1]!.data).toMatchObject({
      call_id: calls[0],
      campaign_id: campaign,
      outcome: 'completed',
      answered_by: 'human',
      duration_seconds: 42,
      provider_call_id: `CA${calls[0]}`,
      attempt: 1,
    });
    expect(all[1]!.data.phone).toMatch(/^\+1555/);
    expect(all[2]!.data).toMatchObject({ status: 'done', reason: 'reached', campaign_id: campaign });
    expect(all[3]!.data).toMatchObject({ call_id: calls[1], outcome: 'no_answer' });
    expect(all[4]!.data).toMatchObject({ status: 'exhausted', reason: 'exhausted', attempts: 1 });
    expect(all[5]!.data).toMatchObject({ from: 'RUNNING', to: 'COMPLETED', cause: 'finished' });
    // Stable, distinct ids receivers dedupe on; one delivery per event to the endpoint.
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    for (const e of all) expect(e.id).toMatch(/^msg_[0-9a-f]{32}$/);
    const { rows } = await db.query(`select count(*)::int as n from public.webhook_deliveries where endpoint_id = $1`, [
      endpoint,
    ]);
    expect(rows[0].n).toBe(all.length);
  });

  it('a rolled-back change leaves no event', async () => {
    await addEndpoint(['call.completed']);
    const { calls } = await dialingCalls(1);
    await db.query('begin');
    await settle(calls[0]!, 'completed', 2);
    expect((await events()).map((e) => e.type)).toEqual(['call.completed']);
    await db.query('rollback');
    expect(await events()).toEqual([]);
  });

  it('only the types an endpoint subscribes to, and none for a disabled endpoint', async () => {
    await addEndpoint(['contact.finished']);
    const off = await addEndpoint(['call.completed']);
    await db.query(`select public.admin_set_webhook_endpoint_enabled($1, false, 'test')`, [off]);
    const { calls } = await dialingCalls(1);
    await settle(calls[0]!, 'busy', 2);
    expect((await events()).map((e) => e.type)).toEqual(['contact.finished']);
  });

  it('a provider refusing the campaign pauses it: campaign.status_changed with cause provider_error', async () => {
    await addEndpoint(['campaign.status_changed', 'call.completed']);
    const { campaign, calls } = await dialingCalls(1);
    await db.query(
      `select * from public.record_dispatch_results('twilio', $1::jsonb, $2)`,
      [
        JSON.stringify([{
          call_id: calls[0],
          outcome: 'campaign_rejected',
          reason: 'caller id not verified',
          error_code: '21210',
        }]),
        minutesAfterNoon(2),
      ],
    );
    const paused = (await events()).filter((e) => e.type === 'campaign.status_changed' && e.data.to === 'PAUSED');
    expect(paused).toHaveLength(1);
    expect(paused[0]!.data).toMatchObject({ campaign_id: campaign, from: 'RUNNING', cause: 'provider_error' });
    expect(String(paused[0]!.data.paused_reason)).toContain('caller id not verified');
    // The released call was never an attempt: no call.completed.
    expect((await events()).filter((e) => e.type === 'call.completed')).toEqual([]);
  });

  it('an operator cancel finishes the pending contacts as cancelled', async () => {
    await addEndpoint(['contact.finished', 'campaign.status_changed']);
    const campaign = await createCampaign(db, {});
    await addContacts(db, campaign, 2);
    await db.query(`select public.admin_campaign_action($1, 'cancel', 'test', null, $2)`, [campaign, minutesAfterNoon(1)]);
    const all = await events();
    expect(all.filter((e) => e.type === 'contact.finished').map((e) => e.data.reason)).toEqual(['cancelled', 'cancelled']);
    expect(all.find((e) => e.type === 'campaign.status_changed')!.data).toMatchObject({ to: 'CANCELLED', cause: 'operator' });
  });

  it('a person who opts out during a call: their contacts in other campaigns finish as opted_out', async () => {
    await addEndpoint(['contact.finished']);
    const { calls } = await dialingCalls(1, 3);
    const phone = (await db.query(`select to_phone from public.calls where id = $1`, [calls[0]])).rows[0].to_phone;
    const other = await createCampaign(db, { name: 'other' });
    const [otherContact] = await addContacts(db, other, [phone]);
    await db.query(`select public.opt_out_during_call($1, $2)`, [calls[0], minutesAfterNoon(2)]);
    await settle(calls[0]!, 'completed', 3, 'human');
    const finished = (await events()).filter((e) => e.type === 'contact.finished');
    expect(finished.map((e) => [e.data.contact_id, e.data.reason])).toEqual([
      [otherContact, 'opted_out'],
      [expect.any(String), 'reached'],
    ]);
  });
});

/** n pending deliveries to one endpoint (events written straight through the outbox function). */
async function pendingDeliveries(n: number): Promise<void> {
  await addEndpoint(['call.completed']);
  await db.query(
    `select public._enqueue_webhook_event('call.completed', jsonb_build_object('n', i), $1) from generate_series(1, $2) i`,
    [minutesAfterNoon(0), n],
  );
}

interface Claimed {
  delivery_id: string;
  lease_token: string;
  attempt: number;
}

async function claim(c: pg.Client, limit: number, at: Date): Promise<Claimed[]> {
  const { rows } = await c.query<Claimed>(
    `select delivery_id::text, lease_token::text, attempt from public.claim_webhook_deliveries($1, $2)`,
    [limit, at],
  );
  return rows;
}

async function record(
  c: pg.Client,
  results: Array<{ delivery_id: string; lease_token: string; status_code: number | null; error?: string }>,
  at: Date,
): Promise<Array<{ delivery_id: string; status: string; attempts: number; next_attempt_at: Date }>> {
  const { rows } = await c.query(
    `select delivery_id::text, status, attempts, next_attempt_at from public.record_webhook_delivery_results($1::jsonb, $2)`,
    [JSON.stringify(results), at],
  );
  return rows;
}

describe('delivery claims, retries and dead letters', () => {
  it('retries after each failure by the schedule, then dead; a replay starts again', async () => {
    await db.query(`update public.webhook_settings set retry_schedule = '{5 seconds, 5 minutes, 30 minutes}'`);
    await pendingDeliveries(1);
    let at = minutesAfterNoon(0);
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      const [c] = await claim(db, 10, at);
      expect(c!.attempt).toBe(attempt);
      const [r] = await record(db, [{ ...c!, status_code: attempt % 2 === 0 ? 503 : null, error: 'down' }], at);
      if (attempt < 4) {
        expect(r!.status).toBe('pending');
        waits.push((r!.next_attempt_at.getTime() - at.getTime()) / 1000);
        // Not due a moment before its time.
        expect(await claim(db, 10, new Date(r!.next_attempt_at.getTime() - 1))).toEqual([]);
        at = r!.next_attempt_at;
      } else {
        expect(r!.status).toBe('dead');
      }
    }
    expect(waits).toEqual([5, 300, 1800]);
    expect(await claim(db, 10, minutesAfterNoon(60 * 24 * 7))).toEqual([]);
    const log = await db.query(`select attempt, status_code, error from public.webhook_delivery_attempts order by id`);
    expect(log.rows).toEqual([
      { attempt: 1, status_code: null, error: 'down' },
      { attempt: 2, status_code: 503, error: 'down' },
      { attempt: 3, status_code: null, error: 'down' },
      { attempt: 4, status_code: 503, error: 'down' },
    ]);

    const endpoint = (await db.query(`select id from public.webhook_endpoints`)).rows[0].id;
    const replay = await db.query(
      `select public.admin_replay_webhook_deliveries($1, null, 'test', null, $2) as j`,
      [endpoint, minutesAfterNoon(120)],
    );
    expect(replay.rows[0].j.replayed).toBe(1);
    const [again] = await claim(db, 10, minutesAfterNoon(120));
    expect(again!.attempt).toBe(1);
    const [ok] = await record(db, [{ ...again!, status_code: 204 }], minutesAfterNoon(120));
    expect(ok!.status).toBe('delivered');
    const audit = await db.query(`select action from public.operator_audit_log where action like 'webhook.%' order by id`);
    expect(audit.rows.map((r) => r.action)).toEqual(['webhook.create', 'webhook.replay']);
  });

  it('a lease: claimed deliveries are not claimed again until it runs out; a stale result is only logged', async () => {
    await db.query(`update public.webhook_settings set lease = '30 seconds'`);
    await pendingDeliveries(3);
    const first = await claim(db, 10, minutesAfterNoon(1));
    expect(first).toHaveLength(3);
    expect(await claim(db, 10, new Date(minutesAfterNoon(1).getTime() + 29_000))).toEqual([]);
    // The first deliverer went quiet: after the lease another one takes them.
    const second = await claim(db, 10, new Date(minutesAfterNoon(1).getTime() + 30_000));
    expect(second.map((c) => c.delivery_id).sort()).toEqual(first.map((c) => c.delivery_id).sort());
    // The first one's late answer no longer decides anything.
    expect(await record(db, first.map((c) => ({ ...c, status_code: 200 })), minutesAfterNoon(2))).toEqual([]);
    const done = await record(db, second.map((c) => ({ ...c, status_code: 200 })), minutesAfterNoon(2));
    expect(done.map((r) => r.status)).toEqual(['delivered', 'delivered', 'delivered']);
    const log = await db.query(`select count(*)::int as n from public.webhook_delivery_attempts`);
    expect(log.rows[0].n).toBe(6);
  });

  it('concurrent claimers never hold the same delivery at once', async () => {
    await pendingDeliveries(300);
    for (let round = 0; round < 3; round++) {
      const at = minutesAfterNoon(round * 10);
      const batches = await Promise.all(racers.map((c) => claim(c, 40, at)));
      const ids = batches.flat().map((c) => c.delivery_id);
      expect(new Set(ids).size).toBe(ids.length);
      // Each round's claims are answered (a failure): they come back after the schedule's first wait.
      await Promise.all(batches.map((b, i) => record(racers[i]!, b.map((c) => ({ ...c, status_code: 500 })), at)));
    }
  });
});

describe('retention', () => {
  it('purges delivered events past the retention, never a pending or dead one', async () => {
    await pendingDeliveries(3);
    const claimed = await claim(db, 10, minutesAfterNoon(0));
    // One delivered, one dead (a one-step schedule used up), one still pending.
    await db.query(`update public.webhook_settings set retry_schedule = '{1 hour}'`);
    await record(db, [
      { ...claimed[0]!, status_code: 200 },
      { ...claimed[1]!, status_code: 500 },
      { ...claimed[2]!, status_code: 500 },
    ], minutesAfterNoon(0));
    const again = await claim(db, 10, minutesAfterNoon(60));
    const second = again.find((c) => c.delivery_id === claimed[1]!.delivery_id)!;
    await record(db, [{ ...second, status_code: 500 }], minutesAfterNoon(60));
    await db.query(`update public.webhook_events set created_at = $1`, [minutesAfterNoon(0)]);
    const statuses = async () =>
      (await db.query(`select d.status from public.webhook_deliveries d order by d.id`)).rows.map((r) => r.status);
    expect(await statuses()).toEqual(['delivered', 'dead', 'pending']);

    const purge = async (days: number) =>
      (await db.query(`select public.purge_webhook_events($1) as n`, [minutesAfterNoon(days * 24 * 60)])).rows[0].n;
    expect(await purge(29)).toBe(0); // not old enough
    expect(await purge(31)).toBe(1);
    expect(await statuses()).toEqual(['dead', 'pending']);
    const log = await db.query(`select count(*)::int as n from public.webhook_delivery_attempts`);
    expect(log.rows[0].n).toBe(3); // the purged delivery's attempt went with it
    expect(await purge(365)).toBe(0);
  });
});
