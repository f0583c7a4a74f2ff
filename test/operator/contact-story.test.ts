// One person's story over the admin API (GET /contacts?phone=, GET /contacts/<id>): the real Deno
// gateway, the real database, the Twilio simulator placing the calls. A number is a person: its
// contacts in every campaign, each attempt with its times, outcome, provider call id and the
// evidence of what allowed it, and its do-not-call entry.

import { parse } from 'csv-parse/sync';
import { beforeEach, describe, expect, it } from 'vitest';
import { addContacts, createCampaign } from '../support/builders.ts';
import { waitFor } from '../support/clock.ts';
import { FAST_SETTINGS, resetData, updateSettings } from '../support/db.ts';
import { ALL_COMPLETED, postTick, useFunctionsStack } from '../support/functions.ts';
import { request } from '../support/net.ts';
import { runCampaignCli } from '../../scripts/campaign.ts';

const stack = useFunctionsStack({ sim: { outcomes: ALL_COMPLETED } });

beforeEach(async () => {
  stack.sim.reset();
  await resetData(stack.db);
  await updateSettings(stack.db, { ...FAST_SETTINGS, background_dispatch_ms: 0 });
});

const get = (path: string) =>
  request(`${stack.gw.url}/scheduler-admin${path}`, {
    headers: { authorization: `Bearer ${stack.env.ADMIN_TOKEN}` },
    signal: AbortSignal.timeout(30_000),
  });

describe("one person's story", () => {
  it('a number in two campaigns: both contacts, each call with its times, outcome, provider id and evidence', async () => {
    const phone = '+99955512345';
    const first = await createCampaign(stack.db, { name: 'spring', cap: 5 });
    const second = await createCampaign(stack.db, { name: 'summer', cap: 5, status: 'PAUSED' });
    await addContacts(stack.db, first, [phone]);
    await addContacts(stack.db, second, [phone]);
    expect((await postTick(stack.gw, stack.env.CRON_SECRET!)).json).toMatchObject({ launched: 1 });
    await waitFor('the call to complete', async () => {
      const { rows } = await stack.db.query(`select 1 from public.calls where status = 'completed'`);
      return rows.length === 1;
    });

    const a = await get(`/contacts?phone=${encodeURIComponent('+999 555-12345')}`);
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({ phone, do_not_call: null });
    const contacts = a.json.contacts as Array<Record<string, unknown>>;
    expect(contacts.map((c) => c.campaign_name)).toEqual(['summer', 'spring']);
    expect(contacts[0]).toMatchObject({
      status: 'pending',
      attempts: 0,
      calls: [],
      why_not_now: { reason: 'campaign paused', detail: 'campaign paused' },
    });
    const [call] = contacts[1]!.calls as Array<Record<string, unknown>>;
    expect(call).toMatchObject({
      attempt: 1,
      status: 'completed',
      provider: 'twilio',
      provider_call_id: stack.sim.calls()[0]!.sid,
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

    // The per-attempt export: one row per call, with what allowed it.
    const csv = await get(`/campaigns/${first}/calls-export`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const [header, row, ...more] = parse(csv.text, { columns: false }) as string[][];
    expect(more).toEqual([]);
    const at = Object.fromEntries(header!.map((h, i) => [h, row![i]]));
    expect(at).toMatchObject({
      call_id: call!.id,
      phone: `'${phone}`, // a leading + is neutralised, as in every export (a spreadsheet would read a formula)
      attempt: '1',
      status: 'completed',
      provider_call_id: stack.sim.calls()[0]!.sid,
      checked_zones: 'UTC',
      zone_source: 'campaign',
      consent_at: '',
    });
    expect((await get('/campaigns/999999/calls-export')).status).toBe(404);
  });

  it('a listed number shows its do-not-call entry; unknown ids are 404; a malformed number is 400', async () => {
    await stack.db.query(`insert into public.do_not_call_numbers (phone, reason) values ('+99955512399', 'asked on the phone')`);
    const listed = await get('/contacts?phone=%2B99955512399');
    expect(listed.status).toBe(200);
    expect(listed.json).toMatchObject({ phone: '+99955512399', do_not_call: { reason: 'asked on the phone' }, contacts: [] });
    expect((await get('/contacts/999999')).status).toBe(404);
    const bad = await get('/contacts?phone=hello');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toMatch(/E\.164/);
    expect((await get('/contacts/abc')).status).toBe(400);
  });

  it('the CLI tells the same story: npm run campaign -- person <number | contact id>', async () => {
    const phone = '+99955512377';
    const campaign = await createCampaign(stack.db, { name: 'autumn', cap: 5, status: 'PAUSED' });
    const [contact] = await addContacts(stack.db, campaign, [phone]);
    const cli = async (args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCampaignCli(args, {
        env: { SUPABASE_FUNCTIONS_URL: stack.gw.url, ADMIN_TOKEN: stack.env.ADMIN_TOKEN },
        out: (l) => out.push(l),
        err: (l) => err.push(l),
      });
      return { code, out: out.join('\n'), err: err.join('\n') };
    };
    const told = await cli(['person', '+999 555 12377']);
    expect(told.code).toBe(0);
    expect(told.out).toContain(phone);
    expect(told.out).toMatch(/contact \d+ in campaign \d+ "autumn" \(PAUSED\): pending, 0 of 3 attempts/);
    expect(told.out).toContain('not called now: campaign paused');
    const raw = await cli(['person', String(contact), '--raw']);
    expect(raw.code).toBe(0);
    expect(JSON.parse(raw.out)).toMatchObject({ phone, contacts: [{ campaign_name: 'autumn' }] });
    expect((await cli(['person'])).code).toBe(2);
  });
});
