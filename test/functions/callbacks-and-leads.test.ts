// Scheduled callbacks and single leads over real HTTP (the Deno gateway serving scheduler-admin,
// scheduler-tick and call-status; the database; the Twilio simulator):
//   * a lead POSTed with a priority while continuous dispatch runs is the next call the running
//     dispatcher creates (before the campaign's older due contacts), with no other tick;
//   * a callback set through the admin API: the contact waits for it (why not now: scheduled
//     callback), then is reserved before the campaign's other due contacts;
//   * a callback asked for during a call through the call's signed callback_url: after the call
//     ends the contact waits for that instant, and is then called although its attempts are used.
// Clocks: the reservations are run with p_now set from the stored callback instant.

import { beforeEach, describe, expect, it } from 'vitest';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { waitFor } from '../support/clock.ts';
import { resetData, updateSettings } from '../support/db.ts';
import { ALL_COMPLETED, postTick, randomSecret, useFunctionsStack } from '../support/functions.ts';
import { request } from '../support/net.ts';
import { claimQueuedCalls, launchDueCalls } from '../support/rows.ts';
import { runCampaignCli } from '../../scripts/campaign.ts';

const SECRET = randomSecret('cron');
const ADMIN = randomSecret('admin');
const FLOW = { url: 'https://flow.example/answer?lang=en' };

// Calls ring and talk for a fraction of a second.
const stack = useFunctionsStack({
  sim: { timeScale: 0.02, outcomes: ALL_COMPLETED },
  env: { CRON_SECRET: SECRET, ADMIN_TOKEN: ADMIN },
});

/** Numbers libphonenumber takes for valid (San Francisco), unlike the builders' +1555 ones: a lead is checked like a CSV row. */
let leadCounter = 0;
function leadPhones(n: number): string[] {
  return Array.from({ length: n }, () => `+1415${String(2_000_000 + process.pid % 1000 * 1000 + leadCounter++).slice(-7)}`);
}

const FILE_STARTED = new Date();

/** Waits for the background dispatcher of a tick of this file to end (it claims whatever is queued). */
async function noRunInProgress(): Promise<void> {
  await waitFor('no run in progress', async () => {
    const { rows } = await stack.db.query<{ n: number }>(
      'select count(*)::int as n from public.scheduler_runs where finished_at is null and started_at >= $1',
      [FILE_STARTED],
    );
    return rows[0]!.n === 0;
  }, { timeoutMs: 20_000 });
}

beforeEach(async () => {
  // A background dispatcher of the previous test ends first (it holds rows the reset truncates).
  await noRunInProgress();
  await stack.sim.settled(20_000).catch(() => undefined);
  stack.sim.reset();
  await resetData(stack.db);
  await updateSettings(stack.db, {
    provider_calls_per_second: 1000,
    rate_margin_ms: 200,
    tick_budget_ms: 1000,
    background_dispatch_ms: 5000,
    refill_interval_ms: 100,
  });
});

function admin(path: string, method: string, json?: unknown) {
  return request(`${stack.gw.url}/scheduler-admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(json !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
}

async function contactRow(id: string) {
  const { rows } = await stack.db.query<
    { status: string; attempts: number; next_attempt_at: Date; callback_at: Date | null; priority: number }
  >('select status::text, attempts, next_attempt_at, callback_at, priority from public.contacts where id = $1', [id]);
  return rows[0]!;
}

describe('speed to lead', () => {
  it('a lead with a priority is the next call the running dispatcher creates, before older due contacts', async () => {
    const campaign = await createCampaign(stack.db, { cap: 1, maxAttempts: 1 });
    const older = freshPhones(4);
    await addContacts(stack.db, campaign, older);
    const [lead] = leadPhones(1) as [string];

    const tick = await postTick(stack.gw, SECRET);
    expect(tick.json).toMatchObject({ status: 'ok' });
    const runId = (tick.json as { run_id: string }).run_id;
    // The dispatcher is at work on the older contacts (one at a time: cap 1).
    await waitFor('a first call', () => stack.sim.calls().length >= 1);

    const posted = await admin(`/campaigns/${campaign}/leads`, 'POST', {
      phone: lead,
      name: 'New lead',
      priority: 10,
      consent_at: '2026-12-01T10:00:00Z',
      consent_method: 'web form',
    });
    expect(posted.status).toBe(201);
    expect(posted.json).toMatchObject({ phone: lead, priority: 10, status: 'pending', consent_method: 'web_form' });

    await waitFor('the lead called', () => stack.sim.calls().some((c) => c.to === lead), { timeoutMs: 15_000 });
    // The first call reserved after the lead was added is the lead's, though older contacts were due.
    const { rows: next } = await stack.db.query<{ to_phone: string }>(
      `select cl.to_phone from public.calls cl
        where cl.queued_at >= (select created_at from public.contacts where phone = $1)
        order by cl.queued_at, cl.id limit 1`,
      [lead],
    );
    expect(next).toEqual([{ to_phone: lead }]);
    const { rows: waiting } = await stack.db.query<{ n: number }>(
      `select count(*)::int as n from public.contacts where campaign_id = $1 and phone <> $2 and status = 'pending'`,
      [campaign, lead],
    );
    const order = stack.sim.calls().map((c) => c.to);
    // Older contacts were still waiting when the lead was called (they came after it).
    expect(order.slice(order.indexOf(lead) + 1).length + waiting[0]!.n).toBeGreaterThan(0);
    // Picked by the dispatcher the tick started (no other tick ran).
    const { rows } = await stack.db.query<{ run_id: string }>('select run_id::text from public.calls where to_phone = $1', [
      lead,
    ]);
    expect(rows).toEqual([{ run_id: runId }]);
    const { rows: runs } = await stack.db.query<{ n: number }>('select count(*)::int as n from public.scheduler_runs');
    expect(runs[0]!.n).toBe(1);
    const { rows: audit } = await stack.db.query(`select action from public.operator_audit_log where action = 'contact.add'`);
    expect(audit).toHaveLength(1);
  });

  it('checks a lead like an imported row: 400 naming the field, 409 for a number already there, 404 for no campaign', async () => {
    const campaign = await createCampaign(stack.db, { cap: 1 });
    const [phone] = leadPhones(1) as [string];
    const bad = await admin(`/campaigns/${campaign}/leads`, 'POST', { phone: '12345' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: 'bad_request', field: 'phone' });
    const national = await admin(`/campaigns/${campaign}/leads`, 'POST', { phone: '(415) 555-0133', region: 'US' });
    expect(national.status).toBe(201);
    expect(national.json).toMatchObject({ phone: '+14155550133' });
    const consent = await admin(`/campaigns/${campaign}/leads`, 'POST', { phone, consent_method: 'verbal' });
    expect(consent.status).toBe(400);
    expect(consent.json).toMatchObject({ field: 'consent_at' });
    const zone = await admin(`/campaigns/${campaign}/leads`, 'POST', { phone, time_zone: 'Mars/Olympus' });
    expect(zone.status).toBe(400);
    expect(zone.json).toMatchObject({ field: 'time_zone' });
    const unknownField = await admin(`/campaigns/${campaign}/leads`, 'POST', { phone, colour: 'red' });
    expect(unknownField.status).toBe(400);
    expect((await admin(`/campaigns/${campaign}/leads`, 'POST', { phone })).status).toBe(201);
    const twice = await admin(`/campaigns/${campaign}/leads`, 'POST', { phone });
    expect(twice.status).toBe(409);
    expect((await admin('/campaigns/999999/leads', 'POST', { phone })).status).toBe(404);
    const { rows } = await stack.db.query<{ n: number }>('select count(*)::int as n from public.contacts');
    expect(rows[0]!.n).toBe(2);
  });
});

describe('scheduled callbacks', () => {
  it('from the admin API: waits for its instant (why not now says so), then goes before the other due contacts', async () => {
    const campaign = await createCampaign(stack.db, { cap: 1 });
    const [first, asked] = await addContacts(stack.db, campaign, 2) as [string, string];
    const at = new Date(Date.now() + 2 * 86_400_000);
    at.setUTCSeconds(0, 0);

    const set = await admin(`/campaigns/${campaign}/contacts/${asked}/callback`, 'PUT', { at: at.toISOString() });
    expect(set.status).toBe(200);
    expect(set.json).toMatchObject({ id: asked, status: 'pending', callback_at: at.toISOString().replace('.000Z', '+00:00') });
    expect(await contactRow(asked)).toMatchObject({ status: 'pending', callback_at: at, next_attempt_at: at });

    const story = await admin(`/contacts/${asked}`, 'GET');
    const mine =
      (story.json as { contacts: Array<{ id: string; callback_at: string; why_not_now: { reason: string; until: string } }> })
        .contacts.find((c) => c.id === asked)!;
    expect(mine.why_not_now.reason).toBe('scheduled callback');
    expect(Date.parse(mine.why_not_now.until)).toBe(at.getTime());
    expect(Date.parse(mine.callback_at)).toBe(at.getTime());

    // At the instant, with room for one call: the callback goes first, although the other contact
    // has been due far longer.
    await launchDueCalls(stack.db, at);
    const { rows } = await stack.db.query<{ contact_id: string }>('select contact_id::text from public.calls');
    expect(rows).toEqual([{ contact_id: asked }]);
    expect(first).not.toBe(asked);

    expect((await admin(`/campaigns/${campaign}/contacts/${first}/callback`, 'PUT', { at: 'tomorrow 3pm' })).status).toBe(400);
    expect((await admin(`/campaigns/${campaign}/contacts/999999/callback`, 'PUT', { at: at.toISOString() })).status).toBe(404);
    await stack.db.query(
      `insert into public.do_not_call_numbers (phone, reason) select phone, 'asked' from public.contacts where id = $1`,
      [
        first,
      ],
    );
    expect((await admin(`/campaigns/${campaign}/contacts/${first}/callback`, 'PUT', { at: at.toISOString() })).status).toBe(409);
  });

  it('from the call flow: the signed callback_url schedules the call’s own contact, called then though its attempts are used', async () => {
    const campaign = await createCampaign(stack.db, { cap: 5, maxAttempts: 1, providerSettings: FLOW });
    const [phone] = freshPhones(1) as [string];
    const [contact] = await addContacts(stack.db, campaign, [phone]) as [string];

    expect((await postTick(stack.gw, SECRET)).json).toMatchObject({ status: 'ok' });
    await waitFor('the call created', () => stack.sim.calls().length === 1);
    const answerUrl = new URL(stack.sim.calls()[0]!.action.value);
    const callbackUrl = answerUrl.searchParams.get('callback_url')!;
    expect(new URL(callbackUrl).pathname).toBe(new URL(`${stack.gw.url}/call-status/callback`).pathname);
    expect(answerUrl.searchParams.get('opt_out_url')).not.toBeNull();

    const at = new Date(Date.now() + 86_400_000);
    at.setUTCSeconds(0, 0);
    // Another call's signature, or none: refused, nothing written.
    const forged = new URL(callbackUrl);
    forged.searchParams.set('call_id', String(Number(forged.searchParams.get('call_id')) + 1));
    expect(
      (await request(forged.toString(), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ at }),
      })).status,
    )
      .toBe(401);
    const missing = await request(callbackUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(missing.status).toBe(400);

    const answer = await request(callbackUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ at: at.toISOString() }),
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ result: 'scheduled' });

    // The call ends (completed: a person answered); the contact waits for the callback, not done.
    await waitFor('the call ended', async () => {
      const { rows } = await stack.db.query(`select 1 from public.calls where contact_id = $1 and ended_at is not null`, [
        contact,
      ]);
      return rows.length > 0;
    });
    await waitFor('the contact settled', async () => (await contactRow(contact)).status !== 'in_progress');
    expect(await contactRow(contact)).toMatchObject({ status: 'pending', attempts: 1, callback_at: at, next_attempt_at: at });
    const { rows: audit } = await stack.db.query(`select actor, action from public.operator_audit_log`);
    expect(audit).toEqual([{ actor: expect.stringMatching(/^call \d+$/), action: 'contact.callback' }]);

    // Not a minute early; at the instant it is reserved and dialled though max_attempts (1) is used.
    await noRunInProgress();
    await launchDueCalls(stack.db, new Date(at.getTime() - 60_000));
    expect((await stack.db.query(`select 1 from public.calls where contact_id = $1 and status = 'queued'`, [contact])).rows)
      .toEqual([]);
    await launchDueCalls(stack.db, at);
    const claimed = await claimQueuedCalls(stack.db, 10, at);
    expect(claimed).toEqual([expect.objectContaining({ contact_id: contact, release_reason: null })]);
  });
});

describe('the CLI', () => {
  async function cli(args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCampaignCli(args, {
      env: { SUPABASE_FUNCTIONS_URL: stack.gw.url, ADMIN_TOKEN: ADMIN },
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  it('adds a lead with a priority, schedules a callback, and sets retry rules by outcome', async () => {
    const campaign = await createCampaign(stack.db, { cap: 1 });
    const [phone] = leadPhones(1) as [string];
    const added = await cli([
      'lead',
      campaign,
      phone,
      '--priority',
      '7',
      '--name',
      'Ada',
      '--json',
      '{"consent_at": "2026-12-01T10:00:00Z", "consent_method": "verbal"}',
    ]);
    expect(added).toMatchObject({ code: 0, out: expect.stringMatching(/^added: contact \d+ \+1415\d+ priority 7, due now$/) });
    const { rows } = await stack.db.query<{ id: string; priority: number; consent_method: string }>(
      'select id::text, priority, consent_method from public.contacts where phone = $1',
      [phone],
    );
    expect(rows).toEqual([{ id: expect.any(String), priority: 7, consent_method: 'verbal' }]);
    expect((await cli(['lead', campaign, 'not a number'])).code).not.toBe(0);

    const at = '2027-01-04T15:00:00+01:00';
    const scheduled = await cli(['callback', campaign, rows[0]!.id, '--at', at]);
    expect(scheduled.code).toBe(0);
    expect(await contactRow(rows[0]!.id)).toMatchObject({ callback_at: new Date(at), next_attempt_at: new Date(at) });
    expect((await cli(['callback', campaign, rows[0]!.id, '--at', 'soon'])).code).toBe(2);

    const edited = await cli(['edit', campaign, '--retry-busy', '5 minutes', '--retry-failed', 'no', '--retry-machine', '1 day']);
    expect(edited.code).toBe(0);
    const { rows: rules } = await stack.db.query(
      'select retry_busy, retry_busy_delay::text, retry_failed, retry_machine_delay::text from public.campaigns where id = $1',
      [campaign],
    );
    expect(rules).toEqual([{
      retry_busy: true,
      retry_busy_delay: '00:05:00',
      retry_failed: false,
      retry_machine_delay: '1 day',
    }]);
    expect((await cli(['edit', campaign, '--retry-machine', 'no'])).code).toBe(2);
  });
});
