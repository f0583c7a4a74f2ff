// Calling-hours rules through the real tick: the Deno gateway serving scheduler-tick, the
// real database, the Twilio simulator. The tick runs on the wall clock, so each contact gets a zone
// (Etc/GMT±N) whose local hour right now is chosen: a rule that wraps midnight (22:00-06:00) allows
// the contacts whose local time is 23:xx or 03:xx and keeps the 12:xx one waiting, at reservation;
// and a rule that closes after a call was reserved releases it at dial time, not an attempt.
// resetData() empties calling_hours_rules (no federal rule), so each test inserts its own rules.
// The numbers (+999...) have no zone data (phone_prefix_zones), so the rules hold in the contact's
// typed zone, else the campaign's: the zones these tests choose (the called party's zones from
// the number are tested in supabase/tests/launch_due_calls/ and test/db/calling-hours-rules.property.test.ts).

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { addContacts, createCampaign } from '../support/builders.ts';
import { FAST_SETTINGS, newPool, type Queryable, resetData, updateSettings } from '../support/db.ts';
import {
  ALL_COMPLETED,
  functionsEnv,
  type Gateway,
  postTick,
  randomSecret,
  startGateway,
  startSim,
  type TwilioSimulator,
} from '../support/functions.ts';
import { callRows, contactRows, launchDueCalls } from '../support/rows.ts';

const SECRET = randomSecret();

let pool: pg.Pool;
let sim: TwilioSimulator;
let gw: Gateway;

beforeAll(async () => {
  pool = newPool(4);
  sim = await startSim({ outcomes: ALL_COMPLETED });
  gw = await startGateway(functionsEnv(sim, { CRON_SECRET: SECRET }));
});

afterAll(async () => {
  await gw?.stop();
  await sim?.close();
  await pool?.end();
});

beforeEach(async () => {
  sim.reset();
  await resetData(pool);
  await updateSettings(pool, FAST_SETTINGS);
});

let phoneCounter = 0;
/** n fresh numbers without zone data (+99944NNNNNNN: no listed prefix). */
function unzonedPhones(n: number): string[] {
  return Array.from({ length: n }, () => `+99944${String(++phoneCounter).padStart(7, '0')}`);
}

/**
 * A fixed-offset zone in which the local hour is `hour` now (Etc/GMT-5 is UTC+5). Offsets -9..+14
 * exist for every hour. Should the UTC hour turn during the test, the local hour moves on by one:
 * the tests below pick hours whose neighbour gives the same answer.
 */
function zoneAtLocalHour(hour: number, now = new Date()): string {
  let offset = (((hour - now.getUTCHours()) % 24) + 24) % 24;
  if (offset > 14) offset -= 24;
  return offset === 0 ? 'Etc/GMT' : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

async function addRule(
  rule: { prefix?: string; start: string; end: string; days?: number[] },
  db: Queryable = pool,
): Promise<void> {
  await db.query(
    `insert into public.calling_hours_rules (prefix, start_time, end_time, days, note)
     values ($1, $2::time, $3::time, $4::smallint[], 'test')`,
    [rule.prefix ?? '', rule.start, rule.end, rule.days ?? [1, 2, 3, 4, 5, 6, 7]],
  );
}

describe('calling-hours rules through the tick', () => {
  it('a rule that wraps midnight (22:00-06:00) dials the contacts at 23:xx and 03:xx local, not the one at 12:xx', async () => {
    await addRule({ start: '22:00', end: '06:00' });
    const id = await createCampaign(pool, { cap: 10 });
    const phones = unzonedPhones(3);
    const zones = [zoneAtLocalHour(23), zoneAtLocalHour(3), zoneAtLocalHour(12)];
    const [late, early, noon] = await addContacts(pool, id, phones, { timeZone: zones });

    const t = await postTick(gw, SECRET);
    expect(t.status).toBe(200);
    // The whole answer on failure (requeued, deadline, errors): a full run under load once saw a
    // reserved call not launched by its tick here.
    expect(t.json, JSON.stringify(t.json)).toMatchObject({ status: 'ok', reserved: 2, launched: 2 });
    const calls = await callRows(pool, 'campaign_id = $1', [id]);
    expect(calls.map((c) => c.contact_id).sort()).toEqual([late, early].sort());
    expect(sim.calls().map((c) => c.to).sort()).toEqual([phones[0], phones[1]].sort());

    // The noon contact waits, and the why-not-now view says why.
    const { rows } = await pool.query<{ reason: string; contacts: string }>(
      `select reason, contacts::text from public.contact_wait_reasons where campaign_id = $1 and reason = 'quiet hours'`,
      [id],
    );
    expect(rows).toEqual([{ reason: 'quiet hours', contacts: '1' }]);
    const waiting = (await contactRows(pool, id)).find((c) => c.id === noon);
    expect(waiting).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('the strictest matching rule wins: a prefix rule closed now keeps its numbers, the every-number rule lets the rest go', async () => {
    const zone = zoneAtLocalHour(23);
    await addRule({ start: '22:00', end: '06:00' }); // every number: open at 23:xx
    await addRule({ prefix: '+9998', start: '06:00', end: '22:00' }); // +9998: closed at 23:xx
    const id = await createCampaign(pool, { cap: 10, timeZone: zone });
    const [open] = unzonedPhones(1);
    await addContacts(pool, id, [open!, '+99985550100']);

    const t = await postTick(gw, SECRET);
    expect(t.json, JSON.stringify(t.json)).toMatchObject({ status: 'ok', reserved: 1, launched: 1 });
    expect(sim.calls().map((c) => c.to)).toEqual([open]);
  });

  it('a rule that closes after the reservation releases the queued call at dial time, without an attempt', async () => {
    const id = await createCampaign(pool, { cap: 10, timeZone: zoneAtLocalHour(12) });
    const [contact] = await addContacts(pool, id, unzonedPhones(1));
    // Reserved while no rule forbids it (no tick yet: the call is only queued) ... then a night-only
    // rule (wrapping midnight) is enabled: at 12:xx the dial-time check refuses. Both in one
    // transaction: no dispatcher anywhere can claim the call between the two.
    const client = await pool.connect();
    try {
      await client.query('begin');
      await launchDueCalls(client, new Date());
      expect((await callRows(client, 'campaign_id = $1', [id])).map((c) => c.status)).toEqual(['queued']);
      await addRule({ start: '22:00', end: '06:00' }, client);
      await client.query('commit');
    } finally {
      client.release();
    }

    const t = await postTick(gw, SECRET);
    expect(t.json).toMatchObject({ launched: 0, reserved: 0 });
    const [call] = await callRows(pool, 'campaign_id = $1', [id]);
    // Should another dispatcher have claimed it, its run says which.
    const claimedBy = call?.dispatch_run_id
      ? (await pool.query('select trigger, details from public.scheduler_runs where id = $1', [call.dispatch_run_id])).rows
      : [];
    expect(call, `claimed by run ${call?.dispatch_run_id}: ${JSON.stringify(claimedBy)}; tick: ${JSON.stringify(t.json)}`)
      .toMatchObject({ status: 'canceled', error: 'released before dialling: outside calling hours' });
    expect(sim.calls()).toHaveLength(0);
    const [row] = await contactRows(pool, id);
    expect(row).toMatchObject({ id: contact, status: 'pending', attempts: 0 });
  });
});
