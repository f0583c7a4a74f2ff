// One person's story over the admin API (GET /contacts?phone=, GET /contacts/<id>): the real Deno
// gateway, the real database, the Twilio simulator placing the calls. A number is a person: its
// contacts in every campaign, each attempt with its times, outcome, provider call id and the
// evidence of what allowed it, and its do-not-call entry.

import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addContacts, createCampaign } from '../support/builders.ts';
import { waitFor } from '../support/clock.ts';
import { connect, disableCronJobs, FAST_SETTINGS, resetData, updateSettings } from '../support/db.ts';
import {
  ALL_COMPLETED,
  functionsEnv,
  type Gateway,
  postTick,
  startGateway,
  startSim,
  type TwilioSimulator,
} from '../support/functions.ts';
import { request } from '../support/net.ts';

let db: pg.Client;
let sim: TwilioSimulator;
let gw: Gateway;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
  sim = await startSim({ outcomes: ALL_COMPLETED });
  env = functionsEnv(sim);
  gw = await startGateway(env);
});

afterAll(async () => {
  await gw?.stop('SIGKILL');
  await sim?.close();
  await db?.end();
});

beforeEach(async () => {
  sim.reset();
  await resetData(db);
  await updateSettings(db, { ...FAST_SETTINGS, background_dispatch_ms: 0 });
});

const get = (path: string) =>
  request(`${gw.url}/scheduler-admin${path}`, {
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    signal: AbortSignal.timeout(30_000),
  });

describe("one person's story", () => {
  it('a number in two campaigns: both contacts, each call with its times, outcome, provider id and evidence', async () => {
    const phone = '+99955512345';
    const first = await createCampaign(db, { name: 'spring', cap: 5 });
    const second = await createCampaign(db, { name: 'summer', cap: 5, status: 'PAUSED' });
    await addContacts(db, first, [phone]);
    await addContacts(db, second, [phone]);
    expect((await postTick(gw, env.CRON_SECRET!)).json).toMatchObject({ launched: 1 });
    await waitFor('the call to complete', async () => {
      const { rows } = await db.query(`select 1 from public.calls where status = 'completed'`);
      return rows.length === 1;
    });

    const a = await get(`/contacts?phone=${encodeURIComponent('+999 555-12345')}`);
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({ phone, do_not_call: null });
    const contacts = a.json.contacts as Array<Record<string, unknown>>;
    expect(contacts.map((c) => c.campaign_name)).toEqual(['summer', 'spring']);
    expect(contacts[0]).toMatchObject({ status: 'pending', attempts: 0, calls: [] });
    const [call] = contacts[1]!.calls as Array<Record<string, unknown>>;
    expect(call).toMatchObject({
      attempt: 1,
      status: 'completed',
      provider: 'twilio',
      provider_call_id: sim.calls()[0]!.sid,
      evidence: { zone_source: 'campaign', zones: ['UTC'] },
    });
    for (const at of ['queued_at', 'dialed_at', 'provider_accepted_at', 'ended_at']) {
      expect(call![at], at).toEqual(expect.any(String));
    }
    expect(Date.parse(call!.dialed_at as string)).toBeLessThanOrEqual(Date.parse(call!.ended_at as string));

    // By the contact's id: the same person.
    const b = await get(`/contacts/${contacts[1]!.id}`);
    expect(b.status).toBe(200);
    expect(b.json).toEqual(a.json);
  });

  it('a listed number shows its do-not-call entry; unknown ids are 404; a malformed number is 400', async () => {
    await db.query(`insert into public.do_not_call_numbers (phone, reason) values ('+99955512399', 'asked on the phone')`);
    const listed = await get('/contacts?phone=%2B99955512399');
    expect(listed.status).toBe(200);
    expect(listed.json).toMatchObject({ phone: '+99955512399', do_not_call: { reason: 'asked on the phone' }, contacts: [] });
    expect((await get('/contacts/999999')).status).toBe(404);
    const bad = await get('/contacts?phone=hello');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toMatch(/E\.164/);
    expect((await get('/contacts/abc')).status).toBe(400);
  });
});
