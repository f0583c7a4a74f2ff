// The call's context URL (call-context.ts): dialled through the real scheduler-tick and the Twilio
// simulator, the call flow of each call action (answer URL, inline TwiML, TwiML App) gets its way to
// the context, and call-status serves it: whom it calls and why. Refused: a bad signature, a URL
// signed for another call, a wrong account credential, a call that ended long ago, any method but GET.

import { beforeEach, describe, expect, it } from 'vitest';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { resetData, updateSettings } from '../support/db.ts';
import { ALL_COMPLETED, postTick, randomSecret, useFunctionsStack } from '../support/functions.ts';
import { request } from '../support/net.ts';
import { CONTEXT_GRACE_SECONDS } from '../../supabase/functions/_shared/call-context.ts';

const SECRET = randomSecret('cron');
const stack = useFunctionsStack({
  sim: { outcomes: ALL_COMPLETED },
  env: { CRON_SECRET: SECRET, OPT_OUT_SECRET: randomSecret('opt-out-key') },
});
const APP_SID = `AP${'0123456789abcdef'.repeat(2)}`;
const TWIML = '<Response><Connect><Stream url="wss://agent.example/stream">' +
  '<Parameter name="context_url" value="{{context_url}}"/><Parameter name="opt_out_url" value="{{opt_out_url}}"/>' +
  '</Stream></Connect></Response>';

beforeEach(async () => {
  await stack.sim.settled(20_000).catch(() => undefined);
  stack.sim.reset();
  await resetData(stack.db);
  await updateSettings(stack.db, { provider_calls_per_second: 1000, rate_margin_ms: 500 });
});

/** Dials one contact of a fresh campaign with `settings`; the simulator's record of the call and our ids. */
async function dialOne(settings: Record<string, unknown>) {
  const [phone] = freshPhones(1) as [string];
  const campaign = await createCampaign(stack.db, { name: 'Renewals', cap: 5, maxAttempts: 2, providerSettings: settings });
  await stack.db.query(`update public.campaigns set purpose = 'informational' where id = $1`, [campaign]);
  const [contact] = await addContacts(stack.db, campaign, [phone], { timeZone: 'America/Chicago' });
  await stack.db.query(`update public.contacts set name = 'Ada Lovelace', metadata = $2 where id = $1`, [
    contact,
    JSON.stringify({ plan: 'gold', renewal: '2027-01-31' }),
  ]);
  expect((await postTick(stack.gw, SECRET)).json).toMatchObject({ status: 'ok', launched: 1 });
  const { rows } = await stack.db.query<{ id: string }>('select id::text from public.calls where to_phone = $1', [phone]);
  const simCall = stack.sim.calls().find((c) => c.to === phone)!;
  return { phone, campaign, contact: contact!, callId: rows[0]!.id, simCall };
}

function expectContext(json: unknown, d: { phone: string; campaign: string; contact: string; callId: string }) {
  expect(json).toMatchObject({
    call: { id: Number(d.callId), attempt: 1, max_attempts: 2, reason: 'first_attempt', previous_attempt: null },
    contact: {
      id: Number(d.contact),
      name: 'Ada Lovelace',
      phone: d.phone,
      time_zone: 'America/Chicago',
      metadata: { plan: 'gold', renewal: '2027-01-31' },
    },
    campaign: { id: Number(d.campaign), name: 'Renewals', purpose: 'informational' },
  });
}

describe('the call flow reads its context', () => {
  it('answer URL: context_url rides on its query beside opt_out_url', async () => {
    const d = await dialOne({ url: 'https://flow.example/answer?lang=en' });
    expect(d.simCall.action.param).toBe('Url');
    const answer = new URL(d.simCall.action.value);
    expect(answer.searchParams.get('lang')).toBe('en');
    expect(answer.searchParams.get('opt_out_url')).toContain('/call-status/opt-out?');
    const contextUrl = answer.searchParams.get('context_url')!;
    expect(new URL(contextUrl).pathname).toBe(new URL(`${stack.gw.url}/call-status/context`).pathname);
    const got = await request(contextUrl);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toMatch(/^application\/json/);
    expectContext(got.json, d);
  });

  it('inline TwiML: {{context_url}} and {{opt_out_url}} become the URLs, XML-escaped', async () => {
    const d = await dialOne({ twiml: TWIML });
    expect(d.simCall.action.param).toBe('Twiml');
    const twiml = d.simCall.action.value;
    expect(twiml).not.toContain('{{');
    const values = [...twiml.matchAll(/value="([^"]*)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'));
    expect(values).toHaveLength(2);
    expect(twiml).toContain('&amp;sig='); // the & of the query, escaped for XML
    const [contextUrl, optOutUrl] = values as [string, string];
    expect(new URL(optOutUrl).pathname).toMatch(/\/call-status\/opt-out$/);
    const got = await request(contextUrl);
    expect(got.status).toBe(200);
    expectContext(got.json, d);
  });

  it("TwiML App: looked up by CallSid with the account's SID and auth token", async () => {
    const d = await dialOne({ application_sid: APP_SID });
    expect(d.simCall.action).toEqual({ param: 'ApplicationSid', value: APP_SID });
    const url = `${stack.gw.url}/call-status/context?call_sid=${d.simCall.sid}`;
    const basic = (sid: string, token: string) => ({ authorization: `Basic ${btoa(`${sid}:${token}`)}` });
    const got = await request(url, { headers: basic(stack.sim.accountSid, stack.sim.authToken) });
    expect(got.status).toBe(200);
    expectContext(got.json, d);

    const wrongToken = await request(url, { headers: basic(stack.sim.accountSid, 'not-the-token') });
    expect(wrongToken.status).toBe(401);
    expect(wrongToken.json).toMatchObject({ error: 'unauthorized' });
    expect(wrongToken.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await request(url)).status).toBe(401);
    const otherSid = `${stack.gw.url}/call-status/context?call_sid=CA${'f'.repeat(32)}`;
    const unknown = await request(otherSid, { headers: basic(stack.sim.accountSid, stack.sim.authToken) });
    expect(unknown.status).toBe(404);
    const malformed = await request(`${stack.gw.url}/call-status/context?call_sid=nope`);
    expect(malformed.status).toBe(400);
  });
});

describe('refusals', () => {
  it("a bad signature, another call's signature, another method: refused with a clear error", async () => {
    const d = await dialOne({ url: 'https://flow.example/answer' });
    const contextUrl = new URL(new URL(d.simCall.action.value).searchParams.get('context_url')!);

    const forged = new URL(contextUrl);
    forged.searchParams.set('sig', 'A'.repeat(43));
    const bad = await request(forged.toString());
    expect(bad.status).toBe(401);
    expect(bad.json).toEqual({ error: 'unauthorized', message: 'the signature does not match this call id' });

    const otherCall = new URL(contextUrl);
    otherCall.searchParams.set('call_id', String(Number(d.callId) + 1));
    expect((await request(otherCall.toString())).status).toBe(401);

    // The opt-out URL's signature is not a context signature (one label per purpose).
    const optOut = new URL(new URL(d.simCall.action.value).searchParams.get('opt_out_url')!);
    const crossed = new URL(contextUrl);
    crossed.searchParams.set('sig', optOut.searchParams.get('sig')!);
    expect((await request(crossed.toString())).status).toBe(401);

    const post = await request(contextUrl.toString(), { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
  });

  it(`a call that ended more than ${CONTEXT_GRACE_SECONDS} s ago: 410; just ended: still served`, async () => {
    const d = await dialOne({ url: 'https://flow.example/answer' });
    const contextUrl = new URL(d.simCall.action.value).searchParams.get('context_url')!;
    await stack.sim.settled(20_000);
    const ended = async (secondsAgo: number) => {
      await stack.db.query(
        `update public.calls set ended_at = now() - make_interval(secs => $2) where id = $1 and ended_at is not null`,
        [d.callId, secondsAgo],
      );
      return await request(contextUrl);
    };
    const recent = await ended(CONTEXT_GRACE_SECONDS - 60);
    expect(recent.status).toBe(200);
    expect(recent.json).toMatchObject({ call: { status: 'completed' } });
    const old = await ended(CONTEXT_GRACE_SECONDS + 60);
    expect(old.status).toBe(410);
    expect(old.json).toMatchObject({ error: 'ended' });
  });

  it('call_context(): the grace measured from the stated instant; a retry names the attempt before', async () => {
    const d = await dialOne({ url: 'https://flow.example/answer' });
    await stack.sim.settled(20_000);
    const at = '2026-03-02T10:00:00Z';
    await stack.db.query(`update public.calls set ended_at = $2 where id = $1`, [d.callId, at]);
    const read = async (now: string) =>
      (await stack.db.query(`select public.call_context($1, $2::timestamptz, interval '1 hour') as r`, [d.callId, now])).rows[0]
        .r;
    expect((await read('2026-03-02T10:59:59Z')).result).toBe('ok');
    expect(await read('2026-03-02T11:00:01Z')).toMatchObject({ result: 'ended', call_id: Number(d.callId) });
    expect(await read('2026-03-02T10:00:00Z')).toMatchObject({ result: 'ok' });
    expect((await stack.db.query(`select public.call_context(999999999) as r`)).rows[0].r).toEqual({
      result: 'no_such_call',
      call_id: 999999999,
    });

    // A second attempt of the same contact: reason retry, with what became of the first.
    const { rows } = await stack.db.query<{ id: string }>(
      `insert into public.calls (campaign_id, contact_id, attempt, to_phone, status)
       values ($1, $2, 2, $3, 'queued') returning id::text`,
      [d.campaign, d.contact, d.phone],
    );
    expect((await read('2026-03-02T10:30:00Z')).call.reason).toBe('first_attempt');
    const second = (await stack.db.query(`select public.call_context($1, $2::timestamptz) as r`, [rows[0]!.id, at])).rows[0].r;
    expect(second.call).toMatchObject({
      attempt: 2,
      reason: 'retry',
      previous_attempt: { call_id: Number(d.callId), attempt: 1, status: 'completed' },
    });
  });
});
