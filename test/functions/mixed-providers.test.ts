// Twilio, Vapi and Retell accounts side by side, end to end: the real Deno gateway serving
// scheduler-tick and call-status, the real database, and the simulator speaking all three APIs on
// loopback (its Vapi part sends server messages with the server URL secret, its Retell part signed
// webhook events, both to call-status). The dispatcher picks each call's adapter by its account's
// kind; the same guarantees hold across platforms: one number is never in two calls at once even
// when two campaigns on different platforms both hold it, and every invariant holds after every tick.
// Accounts with their own credentials (PROVIDER_ACCOUNT_CREDENTIALS) dial with their own key, at
// their own organisation in the simulator, and only their own key moves their calls.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { waitFor } from '../support/clock.ts';
import { connect, disableCronJobs, FAST_SETTINGS, resetData, updateSettings } from '../support/db.ts';
import {
  functionsEnv,
  type Gateway,
  randomSecret,
  startGateway,
  startSim,
  tick,
  type TwilioSimulator,
} from '../support/functions.ts';
import { invariantViolations } from '../support/invariants.ts';
import { request } from '../support/net.ts';
import { signRetellBody } from '../../supabase/functions/_shared/providers/retell.ts';
import { computeTwilioSignature } from '../../supabase/functions/_shared/twilio.ts';

const VAPI_KEY = randomSecret('vapi-key');
const VAPI_SECRET = randomSecret('vapi-secret');
const RETELL_KEY = randomSecret('retell-key');
const SIGNALWIRE_SIGNING_KEY = randomSecret('signalwire-signing');
// Two more organisations at the simulator, each the platform account of one provider account here.
const SALES_VAPI = { apiKey: randomSecret('sales-vapi-key'), eventKey: randomSecret('sales-vapi-secret') };
const SUPPORT_RETELL = { apiKey: randomSecret('support-retell-key'), eventKey: randomSecret('support-retell-webhook') };
const EVERY_CALL_ANSWERED = { completed: 1, 'no-answer': 0, busy: 0, failed: 0, voicemail: 0 };

let db: pg.Client;
let sim: TwilioSimulator;
let gw: Gateway;
let cronSecret: string;

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
  sim = await startSim({
    outcomes: { completed: 1, 'no-answer': 0, busy: 0, failed: 0 },
    vapi: { apiKey: VAPI_KEY, serverSecret: VAPI_SECRET, outcomes: EVERY_CALL_ANSWERED, organisations: { sales: SALES_VAPI } },
    retell: { apiKey: RETELL_KEY, outcomes: EVERY_CALL_ANSWERED, organisations: { support: SUPPORT_RETELL } },
  });
  const env = functionsEnv(sim, {
    VAPI_API_KEY: VAPI_KEY,
    VAPI_API_BASE_URL: sim.url,
    VAPI_SERVER_SECRET: VAPI_SECRET,
    RETELL_API_KEY: RETELL_KEY,
    RETELL_API_BASE_URL: sim.url,
    SIGNALWIRE_SIGNING_KEY,
    PROVIDER_ACCOUNT_CREDENTIALS: JSON.stringify({
      'vapi-sales': { provider: 'vapi', apiKey: SALES_VAPI.apiKey, serverSecret: SALES_VAPI.eventKey },
      'retell-support': { provider: 'retell', apiKey: SUPPORT_RETELL.apiKey, webhookKey: SUPPORT_RETELL.eventKey },
    }),
  });
  cronSecret = env.CRON_SECRET!;
  gw = await startGateway(env);
  // Where each platform's assistant / agent would be configured to send its events.
  sim.vapi.setEventUrl(`${gw.url}/call-status/vapi`);
  sim.retell.setEventUrl(`${gw.url}/call-status/retell`);
}, 120_000);

afterAll(async () => {
  await gw?.stop('SIGKILL');
  await sim?.close();
  await db?.end();
});

beforeEach(async () => {
  await resetData(db);
  await updateSettings(db, FAST_SETTINGS);
  sim.reset();
  await db.query(
    `insert into public.provider_accounts (id, provider, max_concurrent_calls)
     values ('vapi-main', 'vapi', 10), ('retell-main', 'retell', 20), ('vapi-sales', 'vapi', 10),
            ('retell-support', 'retell', 10)`,
  );
});

/** A campaign dialling through an account of the given kind (the database sets its provider). */
async function campaignOn(account: string, settings: Record<string, unknown>, cap = 5): Promise<string> {
  const id = await createCampaign(db, { name: `on ${account}`, cap });
  await db.query('update public.campaigns set provider_account = $2, provider_settings = $3::jsonb where id = $1', [
    id,
    account,
    JSON.stringify(settings),
  ]);
  return id;
}

/**
 * Pairs of calls to one number that were live at once at the platforms, from the simulator's own
 * records (one clock for all three parts: from creation at the platform to the call's end).
 */
function overlappingCallsToOneNumber(): string[] {
  const live = [
    ...sim.calls().map((c) => ({ where: `twilio ${c.sid}`, to: c.to, from: c.createdAt, until: c.endedAt })),
    ...sim.vapi.calls().map((c) => ({ where: `vapi ${c.id}`, to: c.to, from: c.createdAt, until: c.endedAt })),
    ...sim.retell.calls().map((c) => ({ where: `retell ${c.id}`, to: c.to, from: c.createdAt, until: c.endedAt })),
  ];
  const out: string[] = [];
  for (const [i, a] of live.entries()) {
    for (const b of live.slice(i + 1)) {
      if (a.to !== b.to) continue;
      if (a.from < (b.until ?? Infinity) && b.from < (a.until ?? Infinity)) out.push(`${a.to}: ${a.where} and ${b.where}`);
    }
  }
  return out;
}

describe('a mix of Twilio, Vapi and Retell accounts through the real tick', () => {
  it('dials every contact on its own platform, once at a time per number, with every invariant after every tick', async () => {
    const twilio = await createCampaign(db, { name: 'on twilio', cap: 5 });
    const vapi = await campaignOn('vapi-main', { assistant_id: 'asst_1', phone_number_id: 'pn_1' });
    const retell = await campaignOn('retell-main', { agent_id: 'agent_1' });
    const { rows: kinds } = await db.query<{ id: string; provider: string; set_up_problem: string | null }>(
      'select id::text, provider, set_up_problem from public.campaigns order by id',
    );
    expect(kinds).toEqual([
      { id: twilio, provider: 'twilio', set_up_problem: null },
      { id: vapi, provider: 'vapi', set_up_problem: null },
      { id: retell, provider: 'retell', set_up_problem: null },
    ]);
    // Four numbers every campaign holds, and two of each campaign's own.
    const shared = freshPhones(4);
    for (const c of [twilio, vapi, retell]) await addContacts(db, c, [...shared, ...freshPhones(2)]);

    let ticks = 0;
    await waitFor('every contact to be done', async () => {
      const r = await tick(gw.url, cronSecret);
      ticks++;
      expect(r.status).toBe(200);
      expect(r.body.errors).toEqual([]);
      expect(await invariantViolations(db, { allowRunning: true })).toEqual([]);
      const { rows } = await db.query<{ left: string }>(
        `select count(*)::text as left from public.contacts where status <> 'done'`,
      );
      return rows[0]!.left === '0';
    }, { timeoutMs: 90_000, intervalMs: 100 });
    await Promise.all([sim.settled(10_000), sim.vapi.settled(10_000), sim.retell.settled(10_000)]);

    expect(sim.calls().every((c) => c.endedAt !== null)).toBe(true);
    expect(overlappingCallsToOneNumber()).toEqual([]);
    // Each campaign's calls went to its own platform, each created there once, and were settled by
    // that platform's own events through call-status.
    const { rows } = await db.query<{ campaign_id: string; provider: string; calls: string; completed: string; with_id: string }>(
      `select campaign_id::text, provider, count(*)::text as calls,
              count(*) filter (where status = 'completed')::text as completed,
              count(provider_call_id)::text as with_id
         from public.calls group by campaign_id, provider order by campaign_id`,
    );
    expect(rows).toEqual([
      { campaign_id: twilio, provider: 'twilio', calls: '6', completed: '6', with_id: '6' },
      { campaign_id: vapi, provider: 'vapi', calls: '6', completed: '6', with_id: '6' },
      { campaign_id: retell, provider: 'retell', calls: '6', completed: '6', with_id: '6' },
    ]);
    expect(sim.stats().created).toBe(6);
    expect(sim.vapi.stats().created).toBe(6);
    expect(sim.retell.stats().created).toBe(6);
    for (const part of [sim.vapi, sim.retell]) {
      for (const n of Object.values(part.stats().createdPerNumber)) expect(n).toBe(1);
      for (const call of part.calls()) {
        expect(call.events.length).toBeGreaterThan(0);
        expect(call.events.every((e) => e.delivered)).toBe(true);
      }
    }
    // The call flow learnt whom it calls, in each platform's own form.
    const { rows: contacts } = await db.query<{ id: string; phone: string; campaign_id: string }>(
      'select id::text, phone, campaign_id::text from public.contacts',
    );
    const contactOf = (campaign: string, phone: string) =>
      contacts.find((c) => c.campaign_id === campaign && c.phone === phone)!.id;
    for (const call of sim.vapi.calls()) {
      const vars = (call.request.assistantOverrides as { variableValues: Record<string, string> }).variableValues;
      expect(vars.contact_id).toBe(contactOf(vapi, call.to));
      expect(vars.opt_out_url).toMatch(/\/call-status\/opt-out\?call_id=\d+&sig=/);
    }
    for (const call of sim.retell.calls()) {
      const vars = call.request.retell_llm_dynamic_variables as Record<string, string>;
      expect(vars.contact_id).toBe(contactOf(retell, call.to));
      expect(call.request.override_agent_id).toBe('agent_1');
    }
    expect(ticks).toBeGreaterThanOrEqual(4); // four shared numbers: one platform at a time each
  }, 120_000);

  it(
    'two Vapi accounts with their own keys dial at once, each at its own organisation, each settled by its own secret',
    async () => {
      const main = await campaignOn('vapi-main', { assistant_id: 'asst_main', phone_number_id: 'pn_main' }, 3);
      const sales = await campaignOn('vapi-sales', { assistant_id: 'asst_sales', phone_number_id: 'pn_sales' }, 3);
      const support = await campaignOn('retell-support', {}, 3);
      for (const c of [main, sales, support]) await addContacts(db, c, freshPhones(4));
      await waitFor('every contact to be done', async () => {
        const r = await tick(gw.url, cronSecret);
        expect(r.status).toBe(200);
        expect(r.body.errors).toEqual([]);
        expect(await invariantViolations(db, { allowRunning: true })).toEqual([]);
        const { rows } = await db.query<{ left: string }>(
          `select count(*)::text as left from public.contacts where status <> 'done'`,
        );
        return rows[0]!.left === '0';
      }, { timeoutMs: 60_000, intervalMs: 100 });
      await Promise.all([sim.vapi.settled(10_000), sim.retell.settled(10_000)]);
      // Each account's calls were created with its own key: at its own organisation.
      expect(sim.vapi.stats().createdPerOrganisation).toEqual({ default: 4, sales: 4 });
      expect(sim.retell.stats().createdPerOrganisation).toEqual({ support: 4 });
      for (const call of sim.vapi.calls()) {
        expect(call.request.assistantId).toBe(call.organisation === 'sales' ? 'asst_sales' : 'asst_main');
      }
      // ... and their events, carrying that organisation's secret or signature, were applied.
      for (const part of [sim.vapi, sim.retell]) {
        for (const n of Object.values(part.stats().createdPerNumber)) expect(n).toBe(1);
        for (const call of part.calls()) expect(call.events.every((e) => e.delivered && e.httpStatus === 200)).toBe(true);
      }
      const { rows } = await db.query<{ campaign_id: string; calls: string; completed: string }>(
        `select campaign_id::text, count(*)::text as calls, count(*) filter (where status = 'completed')::text as completed
         from public.calls group by campaign_id order by campaign_id`,
      );
      expect(rows).toEqual([main, sales, support].map((campaign_id) => ({ campaign_id, calls: '4', completed: '4' })));
      expect(overlappingCallsToOneNumber()).toEqual([]);
    },
    90_000,
  );

  it(
    "an outage at Vapi opens only the Vapi account's breaker: Twilio and Retell calls go on, no Vapi contact is charged",
    async () => {
      await updateSettings(db, { breaker_failure_threshold: 3 });
      const twilio = await createCampaign(db, { name: 'on twilio', cap: 3 });
      const vapi = await campaignOn('vapi-main', { assistant_id: 'asst_1', phone_number_id: 'pn_1' }, 3);
      const retell = await campaignOn('retell-main', {}, 3);
      for (const c of [twilio, vapi, retell]) await addContacts(db, c, freshPhones(3));
      sim.vapi.setFaults({ outage: true });
      const r = await tick(gw.url, cronSecret);
      expect(r.status).toBe(200);
      await waitFor('the Twilio and Retell calls to end', async () => {
        const { rows } = await db.query<{ n: string }>(
          `select count(*)::text as n from public.calls where campaign_id in ($1, $2) and status = 'completed'`,
          [twilio, retell],
        );
        return rows[0]!.n === '6';
      }, { timeoutMs: 30_000 });
      const { rows: breakers } = await db.query<{ account: string; state: string }>(
        'select account, state from public.provider_circuit_breakers order by account',
      );
      expect(breakers.find((b) => b.account === 'vapi-main')?.state).toBe('open');
      expect(breakers.filter((b) => b.account !== 'vapi-main').every((b) => b.state === 'closed')).toBe(true);
      const { rows: charged } = await db.query<{ attempts: number }>(
        'select attempts from public.contacts where campaign_id = $1',
        [vapi],
      );
      expect(charged.map((c) => c.attempts)).toEqual([0, 0, 0]);
      expect(sim.vapi.stats().created).toBe(0);
      expect(sim.vapi.stats().injected.outage).toBeGreaterThanOrEqual(1);
      expect(await invariantViolations(db, { allowRunning: true })).toEqual([]);
    },
    60_000,
  );

  it("do-not-call and consent hold for Vapi and Retell calls as for Twilio's", async () => {
    const vapi = await campaignOn('vapi-main', { assistant_id: 'asst_1', phone_number_id: 'pn_1' });
    const retell = await campaignOn('retell-main', {});
    await db.query('update public.campaigns set requires_consent = true where id = $1', [retell]);
    const [listed, free] = freshPhones(2);
    await addContacts(db, vapi, [listed!, free!]);
    await db.query(`insert into public.do_not_call_numbers (phone, reason) values ($1, 'asked not to be called')`, [listed]);
    const [agreed, never] = freshPhones(2);
    await addContacts(db, retell, [agreed!, never!]);
    await db.query(
      `update public.contacts set consent_at = now() - interval '1 day', consent_method = 'web_form' where phone = $1`,
      [agreed],
    );

    const r = await tick(gw.url, cronSecret);
    expect(r.status).toBe(200);
    await waitFor('the allowed calls to end', async () => {
      const { rows } = await db.query<{ n: string }>(`select count(*)::text as n from public.calls where status = 'completed'`);
      return rows[0]!.n === '2';
    }, { timeoutMs: 30_000 });
    expect(sim.vapi.calls().map((c) => c.to)).toEqual([free]);
    expect(sim.retell.calls().map((c) => c.to)).toEqual([agreed]);
    const { rows } = await db.query<{ phone: string; status: string; attempts: number }>(
      'select phone, status::text, attempts from public.contacts where phone = any($1) order by phone',
      [[listed, never]],
    );
    expect(rows).toEqual(
      [
        { phone: listed, status: 'do_not_call', attempts: 0 },
        { phone: never, status: 'pending', attempts: 0 },
      ].sort((a, b) => a.phone!.localeCompare(b.phone!)),
    );
    expect(await invariantViolations(db, { allowRunning: true })).toEqual([]);
  }, 60_000);

  it('a kind whose adapter is not configured pauses its campaign, and no contact is charged', async () => {
    await db.query(`insert into public.provider_accounts (id, provider, account_sid) values ('sw', 'signalwire', null)`);
    const c = await createCampaign(db, { name: 'on signalwire', cap: 2 });
    await db.query(`update public.campaigns set provider_account = 'sw' where id = $1`, [c]);
    await addContacts(db, c, freshPhones(2));
    const r = await tick(gw.url, cronSecret);
    expect(r.status).toBe(200);
    const { rows } = await db.query<{ status: string; paused_reason: string; provider: string }>(
      'select status::text, paused_reason, provider from public.campaigns where id = $1',
      [c],
    );
    expect(rows[0]).toMatchObject({ status: 'PAUSED', provider: 'signalwire' });
    const { rows: contacts } = await db.query<{ attempts: number; status: string }>(
      'select attempts, status::text from public.contacts where campaign_id = $1',
      [c],
    );
    for (const ct of contacts) expect(ct).toEqual({ attempts: 0, status: 'pending' });
    expect(JSON.stringify(r.body.errors)).toContain('no signalwire adapter is configured');
  }, 60_000);
});

describe('call-status for Vapi and Retell events', () => {
  /** One Vapi call of ours, dialling, with Vapi's id. */
  async function dialingCall(account: string, settings: Record<string, unknown>, providerCallId: string): Promise<string> {
    const c = await campaignOn(account, settings);
    await addContacts(db, c, freshPhones(1));
    const { rows } = await db.query<{ id: string }>(
      `insert into public.calls (campaign_id, contact_id, attempt, status, provider, provider_call_id, to_phone, dialed_at)
       select ct.campaign_id, ct.id, 1, 'dialing', cp.provider, $2, ct.phone, now()
         from public.contacts ct join public.campaigns cp on cp.id = ct.campaign_id
        where ct.campaign_id = $1
       returning id::text`,
      [c, providerCallId],
    );
    await db.query(`update public.contacts set status = 'in_progress', attempts = 1 where campaign_id = $1`, [c]);
    return rows[0]!.id;
  }

  const vapiMessage = (callId: string, providerCallId: string, status: string, endedReason?: string) =>
    JSON.stringify({
      message: {
        type: 'status-update',
        status,
        ...(endedReason ? { endedReason } : {}),
        call: { id: providerCallId, metadata: { call_id: callId } },
      },
    });
  const postVapi = (body: string, headers: Record<string, string>) =>
    request(`${gw.url}/call-status/vapi`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const postRetell = async (body: string, signature?: string) =>
    request(`${gw.url}/call-status/retell`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-retell-signature': signature ?? (await signRetellBody(RETELL_KEY, body, Date.now())),
      },
      body,
    });

  it('Vapi: applied with the server secret (header or bearer), refused without it', async () => {
    const id = await dialingCall('vapi-main', { assistant_id: 'a', phone_number_id: 'p' }, 'vapi-call-1');
    const wrong = await postVapi(vapiMessage(id, 'vapi-call-1', 'ringing'), { 'x-vapi-secret': 'nope' });
    expect(wrong.status).toBe(401);
    const none = await postVapi(vapiMessage(id, 'vapi-call-1', 'ringing'), {});
    expect(none.status).toBe(401);
    const ringing = await postVapi(vapiMessage(id, 'vapi-call-1', 'ringing'), { 'x-vapi-secret': VAPI_SECRET });
    expect(ringing.json).toEqual({ result: 'applied' });
    const ended = await postVapi(vapiMessage(id, 'vapi-call-1', 'ended', 'customer-busy'), {
      authorization: `Bearer ${VAPI_SECRET}`,
    });
    expect(ended.json).toEqual({ result: 'applied' });
    const { rows } = await db.query<{ status: string; error_code: string }>(
      'select status::text, error_code from public.calls where id = $1',
      [id],
    );
    expect(rows[0]).toEqual({ status: 'busy', error_code: 'customer-busy' });
    // Another message type is acknowledged and changes nothing.
    const transcript = await postVapi(JSON.stringify({ message: { type: 'transcript', call: { id: 'vapi-call-1' } } }), {
      'x-vapi-secret': VAPI_SECRET,
    });
    expect(transcript.json).toEqual({ result: 'ignored' });
  }, 30_000);

  it('a valid secret of one platform cannot move a call of another', async () => {
    const twilioCall = await dialingCall('default', { twiml: '<Response/>' }, 'CA' + '0'.repeat(32));
    const a = await postVapi(vapiMessage(twilioCall, 'vapi-call-x', 'ended', 'customer-ended-call'), {
      'x-vapi-secret': VAPI_SECRET,
    });
    expect(a.status).toBe(403);
    const { rows } = await db.query<{ status: string }>('select status::text from public.calls where id = $1', [twilioCall]);
    expect(rows[0]!.status).toBe('dialing');
  }, 30_000);

  it("one account's key never moves another account's call of the same platform", async () => {
    const mainCall = await dialingCall('vapi-main', { assistant_id: 'a', phone_number_id: 'p' }, 'vapi-main-1');
    const salesCall = await dialingCall('vapi-sales', { assistant_id: 'a', phone_number_id: 'p' }, 'vapi-sales-1');
    const ringing = (id: string, vid: string) => vapiMessage(id, vid, 'ringing');
    // The sales account's secret on the main account's call, the kind's secret on the sales account's call.
    expect((await postVapi(ringing(mainCall, 'vapi-main-1'), { 'x-vapi-secret': SALES_VAPI.eventKey })).status).toBe(403);
    expect((await postVapi(ringing(salesCall, 'vapi-sales-1'), { 'x-vapi-secret': VAPI_SECRET })).status).toBe(403);
    // Found by Vapi's call id alone (no metadata), the same.
    const noMetadata = JSON.stringify({ message: { type: 'status-update', status: 'ringing', call: { id: 'vapi-sales-1' } } });
    expect((await postVapi(noMetadata, { 'x-vapi-secret': VAPI_SECRET })).status).toBe(403);
    expect((await postVapi(ringing(salesCall, 'vapi-sales-1'), { 'x-vapi-secret': SALES_VAPI.eventKey })).json).toEqual({
      result: 'applied',
    });
    expect((await postVapi(ringing(mainCall, 'vapi-main-1'), { 'x-vapi-secret': VAPI_SECRET })).json).toEqual({
      result: 'applied',
    });

    const retellMain = await dialingCall('retell-main', {}, 'retell-main-1');
    const retellSupport = await dialingCall('retell-support', {}, 'retell-support-1');
    const started = (id: string, rid: string) =>
      JSON.stringify({ event: 'call_started', call: { call_id: rid, call_status: 'ongoing', metadata: { call_id: id } } });
    const signed = async (key: string, body: string) => postRetell(body, await signRetellBody(key, body, Date.now()));
    expect((await signed(SUPPORT_RETELL.eventKey, started(retellMain, 'retell-main-1'))).status).toBe(403);
    expect((await signed(RETELL_KEY, started(retellSupport, 'retell-support-1'))).status).toBe(403);
    // The support account's API key is not its webhook key: it signs nothing.
    expect((await signed(SUPPORT_RETELL.apiKey, started(retellSupport, 'retell-support-1'))).status).toBe(401);
    expect((await signed(SUPPORT_RETELL.eventKey, started(retellSupport, 'retell-support-1'))).json).toEqual({
      result: 'applied',
    });
    const { rows } = await db.query<{ id: string; status: string }>(
      'select id::text, status::text from public.calls where id = any($1) order by id',
      [[mainCall, salesCall, retellMain, retellSupport]],
    );
    expect(rows.map((r) => r.status)).toEqual(['ringing', 'ringing', 'dialing', 'in_progress']);
  }, 30_000);

  it('Retell: applied with a valid signature; a forged, tampered or stale one is refused; bad JSON is a 400', async () => {
    const id = await dialingCall('retell-main', {}, 'retell-call-1');
    const event = (ev: string, status: string, reason?: string) =>
      JSON.stringify({
        event: ev,
        call: {
          call_id: 'retell-call-1',
          call_status: status,
          metadata: { call_id: id },
          ...(reason ? { disconnection_reason: reason, duration_ms: 42_000 } : {}),
        },
      });
    const started = event('call_started', 'ongoing');
    expect((await postRetell(started, `v=${Date.now()},d=${'a'.repeat(64)}`)).status).toBe(401);
    const signed = await signRetellBody(RETELL_KEY, started, Date.now());
    expect((await postRetell(started.replace('ongoing', 'ended'), signed)).status).toBe(401);
    const stale = Date.now() - 10 * 60 * 1000;
    expect((await postRetell(started, await signRetellBody(RETELL_KEY, started, stale))).status).toBe(401);
    expect((await postRetell(started)).json).toEqual({ result: 'applied' });
    expect((await postRetell(event('call_ended', 'ended', 'voicemail_reached'))).json).toEqual({ result: 'applied' });
    // call_analyzed repeats the end: a duplicate, ignored.
    expect((await postRetell(event('call_analyzed', 'ended', 'voicemail_reached'))).json).toEqual({ result: 'ignored' });
    const { rows } = await db.query<{ status: string; answered_by: string; duration_seconds: number }>(
      'select status::text, answered_by, duration_seconds from public.calls where id = $1',
      [id],
    );
    expect(rows[0]).toEqual({ status: 'completed', answered_by: 'machine_start', duration_seconds: 42 });
    expect((await postRetell('{not json')).status).toBe(400);
  }, 30_000);

  it(
    "SignalWire: a LaML status callback signed with the project's signing key is applied; one signed otherwise is refused",
    async () => {
      await db.query(`insert into public.provider_accounts (id, provider) values ('sw', 'signalwire')`);
      const id = await dialingCall('sw', { twiml: '<Response/>' }, 'CA' + '1'.repeat(32));
      const url = `${gw.url}/call-status/signalwire?call_id=${id}`;
      const params = { CallSid: 'CA' + '1'.repeat(32), CallStatus: 'no-answer', SequenceNumber: '3' };
      const post = async (key: string) =>
        request(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'x-signalwire-signature': await computeTwilioSignature(key, url, params),
          },
          body: new URLSearchParams(params).toString(),
        });
      expect((await post('not-the-signing-key')).status).toBe(401);
      expect((await post(SIGNALWIRE_SIGNING_KEY)).json).toEqual({ result: 'applied' });
      const { rows } = await db.query<{ status: string; provider: string }>(
        'select status::text, provider from public.calls where id = $1',
        [id],
      );
      expect(rows[0]).toEqual({ status: 'no_answer', provider: 'signalwire' });
    },
    30_000,
  );
});
