// Call outcomes and compliance, over real HTTP. A campaign-level refusal by the
// provider: Twilio refuses the caller id (21210) from the middle of a campaign on. Over real HTTP: the real Deno gateway, the real database, the
// Twilio simulator. The campaign pauses with the reason, the refused calls are released (the
// contacts keep their attempts), the run reports one line for the campaign, not one per call, and
// the other campaign goes on. A campaign that requires consent dials only the contacts whose
// consent is valid at the tick.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { addContacts, CALLER_ID, createCampaign, freshPhones, TWIML } from '../support/builders.ts';
import { waitFor } from '../support/clock.ts';
import { FAST_SETTINGS, newPool, resetData, updateSettings } from '../support/db.ts';
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
import { activeCalls, callRows, contactRows, runRow } from '../support/rows.ts';

const SECRET = randomSecret();
const OTHER_CALLER_ID = '+15559990001';

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

async function campaign(id: string): Promise<{ status: string; paused_reason: string | null; paused_at: Date | null }> {
  const { rows } = await pool.query(
    'select status::text as status, paused_reason, paused_at from public.scheduler_campaign_progress where campaign_id = $1',
    [id],
  );
  return rows[0];
}

describe('a caller id that starts failing mid-campaign', () => {
  it("pauses the campaign with the reason, keeps the contacts' attempts, reports one line; the other campaign goes on", async () => {
    const refused = await createCampaign(pool, { name: 'refused', cap: 3 });
    const other = await createCampaign(pool, { name: 'other', cap: 3, callerId: OTHER_CALLER_ID });
    await addContacts(pool, refused, 9);
    await addContacts(pool, other, 6);

    const first = await postTick(gw, SECRET);
    expect(first.json).toMatchObject({ status: 'ok', launched: 6 });
    await waitFor('the first calls to end', async () => (await activeCalls(pool)) === 0);

    // From now on Twilio refuses the first campaign's caller id.
    sim.setFaults({
      numbers: [{ match: CALLER_ID, field: 'From', reject: { code: 21210, message: "'From' phone number not verified" } }],
    });
    const second = await postTick(gw, SECRET);
    expect(second.json).toMatchObject({ status: 'partial', launched: 3 });
    const run = await runRow(pool, second.json.run_id);
    // One line for the campaign, none per call.
    expect(run.errors).toEqual([
      expect.objectContaining({
        stage: 'dispatch',
        campaign_id: refused,
        code: '21210',
        message: expect.stringMatching(/^campaign \d+ paused: the caller id \(From\) is not verified/),
      }),
    ]);
    expect(run.errors[0]).not.toHaveProperty('call_id');

    const paused = await campaign(refused);
    expect(paused.status).toBe('PAUSED');
    expect(paused.paused_reason).toMatch(
      /^the provider refused the campaign \(code 21210\): the caller id \(From\) is not verified/,
    );
    expect(paused.paused_at).not.toBeNull();
    expect((await campaign(other)).status).toBe('RUNNING');

    // The refused calls were released: not attempts; the contacts wait with the attempts they had.
    const refusedCalls = await callRows(pool, `campaign_id = $1 and error_code = '21210'`, [refused]);
    expect(refusedCalls).toHaveLength(3);
    for (const c of refusedCalls) {
      expect(c).toMatchObject({ status: 'canceled', dialed_at: null });
      expect(c.error).toMatch(/^released: the provider refused the campaign/);
    }
    const contacts = await contactRows(pool, refused);
    expect(contacts.filter((c) => c.status === 'done' && c.attempts === 1)).toHaveLength(3);
    expect(contacts.filter((c) => c.status === 'pending' && c.attempts === 0)).toHaveLength(6);

    // Paused: the next tick reserves nothing for it.
    await waitFor("the other campaign's calls to end", async () => (await activeCalls(pool)) === 0);
    const requestsBefore = sim.stats().createRequests;
    const third = await postTick(gw, SECRET);
    expect(third.json).toMatchObject({ status: 'ok', launched: 0 });
    expect(sim.stats().createRequests).toBe(requestsBefore);
    expect(await callRows(pool, 'campaign_id = $1', [refused])).toHaveLength(6);

    // The operator fixes the caller id and resumes: the reason goes, the waiting contacts are called.
    sim.setFaults({ numbers: null });
    await pool.query(`update public.campaigns set status = 'RUNNING' where id = $1`, [refused]);
    expect(await campaign(refused)).toMatchObject({ status: 'RUNNING', paused_reason: null, paused_at: null });
    const fourth = await postTick(gw, SECRET);
    expect(fourth.json).toMatchObject({ status: 'ok', launched: 3 });
    const again = await callRows(pool, `campaign_id = $1 and dispatch_run_id = $2`, [refused, fourth.json.run_id]);
    expect(again.map((c) => c.attempt)).toEqual([1, 1, 1]);
  });

  it('a scheduler-paused campaign keeps its reason only while PAUSED (named CHECK)', async () => {
    const id = await createCampaign(pool, { status: 'RUNNING' });
    await expect(pool.query(`update public.campaigns set paused_reason = 'x' where id = $1`, [id])).rejects.toThrow(
      /campaigns_paused_reason_only_when_paused/,
    );
    await pool.query(`update public.campaigns set status = 'PAUSED', paused_reason = 'x', paused_at = now() where id = $1`, [id]);
    await pool.query(`update public.campaigns set status = 'CANCELLED' where id = $1`, [id]);
    expect(await campaign(id)).toMatchObject({ status: 'CANCELLED', paused_reason: null, paused_at: null });
  });
});

describe('machine answers and a bad caller id in one run of the simulator', () => {
  it('machine answers are retried (policy retry) or end the contact (policy done); the bad caller id pauses its campaign', async () => {
    const detect = { ...TWIML, machine_detection: 'Enable' };
    const retry = await createCampaign(pool, {
      name: 'retry',
      cap: 4,
      maxAttempts: 2,
      retryDelay: '1 second',
      providerSettings: detect,
    });
    const done = await createCampaign(pool, { name: 'done', cap: 2, providerSettings: detect });
    await pool.query(`update public.campaigns set machine_answer_policy = 'done' where id = $1`, [done]);
    // +15005550007: the simulator's (and Twilio's) test caller id that is not verified: 21210.
    const refused = await createCampaign(pool, { name: 'bad caller id', cap: 5, callerId: '+15005550007' });
    const [beep, start, human1, human2, left1, left2] = freshPhones(6);
    await addContacts(pool, retry, [beep!, start!, human1!, human2!]);
    await addContacts(pool, done, [left1!, left2!]);
    await addContacts(pool, refused, 5);
    const machines: Array<{ match: string; answeredBy: 'machine_end_beep' | 'machine_start' }> = [
      { match: beep!, answeredBy: 'machine_end_beep' },
      { match: start!, answeredBy: 'machine_start' },
      { match: left1!, answeredBy: 'machine_end_beep' },
      { match: left2!, answeredBy: 'machine_end_beep' },
    ];
    sim.setFaults({ numbers: machines });

    const first = await postTick(gw, SECRET);
    expect(first.json).toMatchObject({ status: 'partial', launched: 6 });
    await waitFor('the calls to end', async () => (await activeCalls(pool)) === 0);
    // The retry policy waits one second, then the machines are called again (attempt 2 of 2).
    await waitFor('the retry delay', async () => {
      const { rows } = await pool.query(
        `select count(*)::int as n from public.contacts where status = 'pending' and next_attempt_at > now()`,
      );
      return rows[0].n === 0;
    });
    const second = await postTick(gw, SECRET);
    expect(second.json).toMatchObject({ status: 'ok', launched: 2 });
    await waitFor('the retries to end', async () => (await activeCalls(pool)) === 0);

    const { rows: calls } = await pool.query(
      `select c.name as campaign, ct.phone, cl.attempt, cl.status::text as status, cl.answered_by, cl.error_code
         from public.calls cl join public.contacts ct on ct.id = cl.contact_id join public.campaigns c on c.id = cl.campaign_id
        order by cl.id`,
    );
    const { rows: contacts } = await pool.query(
      `select c.name as campaign, c.status::text as campaign_status, c.paused_reason, ct.phone, ct.status::text as status,
              ct.attempts, ct.last_error
         from public.contacts ct join public.campaigns c on c.id = ct.campaign_id order by ct.id`,
    );
    const runs = await Promise.all([first, second].map((t) => runRow(pool, t.json.run_id)));
    // For the record: what paused, what was retried, the attempts kept.
    console.log(
      [
        ...runs.map((r) =>
          `run ${r.id}: ${r.status}, launched ${r.calls_launched}, released ${r.calls_released}, errors ${
            JSON.stringify(r.errors)
          }`
        ),
        ...calls.map((c) =>
          `call ${c.campaign} ${c.phone} attempt ${c.attempt}: ${c.status}, answered_by ${c.answered_by}, error_code ${c.error_code}`
        ),
        ...contacts.map((c) =>
          `contact ${c.campaign} (${c.campaign_status}${
            c.paused_reason ? `: ${c.paused_reason}` : ''
          }) ${c.phone}: ${c.status}, attempts ${c.attempts}, ${c.last_error}`
        ),
      ].join('\n'),
    );

    const byPhone = new Map(contacts.map((c) => [c.phone, c]));
    expect(byPhone.get(beep!)).toMatchObject({
      status: 'exhausted',
      attempts: 2,
      last_error: 'answered by a machine (machine_end_beep): tried again later',
    });
    expect(byPhone.get(start!)).toMatchObject({ status: 'exhausted', attempts: 2 });
    expect(byPhone.get(human1!)).toMatchObject({ status: 'done', attempts: 1 });
    expect(byPhone.get(human2!)).toMatchObject({ status: 'done', attempts: 1 });
    expect(byPhone.get(left1!)).toMatchObject({ status: 'done', attempts: 1 });
    expect(byPhone.get(left2!)).toMatchObject({ status: 'done', attempts: 1 });
    expect(calls.filter((c) => c.campaign === 'retry' && c.answered_by?.startsWith('machine_'))).toHaveLength(4);
    expect(calls.filter((c) => c.answered_by === 'human')).toHaveLength(2);
    // The machine answers are counted per campaign and in all (the monitoring views the dashboard and
    // the metrics read): 4 in 'retry' (2 numbers, twice each), 2 in 'done'.
    const { rows: machineCounts } = await pool.query(
      `select name, machine_answers_last_hour::int as hour, machine_answers_last_day::int as day
         from public.scheduler_campaign_progress order by campaign_id`,
    );
    expect(machineCounts).toEqual([
      { name: 'retry', hour: 4, day: 4 },
      { name: 'done', hour: 2, day: 2 },
      { name: 'bad caller id', hour: 0, day: 0 },
    ]);
    const { rows: [overall] } = await pool.query(
      'select machine_answers_last_hour::int as hour, machine_answers_last_day::int as day from public.scheduler_status',
    );
    expect(overall).toEqual({ hour: 6, day: 6 });
    const refusedContacts = contacts.filter((c) => c.campaign === 'bad caller id');
    expect(refusedContacts).toHaveLength(5);
    for (const c of refusedContacts) {
      expect(c).toMatchObject({ campaign_status: 'PAUSED', status: 'pending', attempts: 0 });
      expect(c.paused_reason).toMatch(/code 21210/);
    }
    expect(runs[0]!.errors).toEqual([expect.objectContaining({ campaign_id: refused, code: '21210' })]);
  });
});

describe('the call flow learns whom it calls', () => {
  it("the answer URL carries our call id, contact id, the contact's name, the opt-out, context and callback URLs, and keeps the campaign's own query", async () => {
    const id = await createCampaign(pool, { providerSettings: { url: 'https://agent.example/answer?agent=sales' } });
    const phones = freshPhones(3);
    const contacts = await addContacts(pool, id, phones);
    // contacts.name as an import or Studio leaves it: with spaces, & and unicode; empty; none.
    const names = ['Zoë Ann & Co', '', null];
    for (const [i, contact] of contacts.entries()) {
      await pool.query('update public.contacts set name = $2 where id = $1', [contact, names[i]]);
    }
    const t = await postTick(gw, SECRET);
    expect(t.json).toMatchObject({ status: 'ok', launched: 3 });
    const calls = await callRows(pool, 'campaign_id = $1', [id]);
    const seen = sim.calls().filter((c) => c.action.param === 'Url');
    expect(seen).toHaveLength(3);
    for (const [i, contact] of contacts.entries()) {
      const call = calls.find((c) => c.contact_id === contact);
      const sent = seen.find((c) => c.to === phones[i]);
      const url = new URL(sent!.action.value);
      expect(url.origin + url.pathname).toBe('https://agent.example/answer');
      expect(Object.fromEntries(url.searchParams)).toEqual({
        agent: 'sales',
        call_id: call!.id,
        contact_id: contact,
        ...(names[i] ? { contact_name: names[i] } : {}),
        // the call's own signed opt-out URL (test/functions/do-not-call.test.ts posts to it)
        opt_out_url: expect.stringMatching(
          new RegExp(`/call-status/opt-out\\?call_id=${call!.id}&sig=[A-Za-z0-9_-]{43}$`),
        ),
        // and its signed context URL (test/functions/call-context.test.ts reads it)
        context_url: expect.stringMatching(
          new RegExp(`/call-status/context\\?call_id=${call!.id}&sig=[A-Za-z0-9_-]{43}$`),
        ),
        // the call's own signed callback URL (test/functions/callbacks-and-leads.test.ts posts to it)
        callback_url: expect.stringMatching(
          new RegExp(`/call-status/callback\\?call_id=${call!.id}&sig=[A-Za-z0-9_-]{43}$`),
        ),
      });
    }
    expect(seen.find((c) => c.to === phones[0])!.action.value).toContain('contact_name=Zo%C3%AB+Ann+%26+Co');
  });
});

describe('a campaign that requires consent', () => {
  it('dials, through the real tick, only the contacts whose consent is valid now; the others wait, saying why', async () => {
    const id = await createCampaign(pool, { name: 'consent', cap: 10 });
    await pool.query('update public.campaigns set requires_consent = true where id = $1', [id]);
    const phones = freshPhones(4);
    const [given, never, expired, later] = await addContacts(pool, id, phones);
    // The tick runs on the wall clock: every consent time is set relative to the database's now().
    await pool.query(
      `update public.contacts set consent_at = now() - interval '30 days', consent_method = 'web_form',
                                  consent_source = 'https://example.test/optin'
        where id = $1`,
      [given],
    );
    await pool.query(
      `update public.contacts set consent_at = now() - interval '400 days', consent_method = 'written',
                                  consent_expires_at = now() - interval '1 day'
        where id = $1`,
      [expired],
    );
    await pool.query(
      `update public.contacts set consent_at = now() + interval '7 days', consent_method = 'verbal' where id = $1`,
      [later],
    );

    const tick = await postTick(gw, SECRET);
    expect(tick.json).toMatchObject({ status: 'ok', launched: 1 });
    expect(Object.keys(sim.stats().createdPerNumber)).toEqual([phones[0]]);
    expect((await callRows(pool, 'campaign_id = $1', [id])).map((c) => c.contact_id)).toEqual([given]);

    const { rows } = await pool.query<{ reason: string; contacts: string }>(
      `select reason, contacts::text from public.contact_wait_reasons
        where campaign_id = $1 and reason in ('no consent', 'consent expired') order by reason`,
      [id],
    );
    expect(rows).toEqual([{ reason: 'consent expired', contacts: '1' }, { reason: 'no consent', contacts: '2' }]);
    const waiting = (await contactRows(pool, id)).filter((c) => [never, expired, later].includes(c.id));
    expect(waiting.map((c) => c.status)).toEqual(['pending', 'pending', 'pending']);
  });
});
