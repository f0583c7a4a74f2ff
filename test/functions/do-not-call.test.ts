// The do-not-call list over real HTTP: the real Deno gateway, the real database, the Twilio
// simulator. A called person opts out during the call through the call's own signed URL (the
// answer URL's opt_out_url), and the next reservation leaves the number alone; a forged signature,
// or another call's, is refused and writes nothing. Operators search, add, remove (with a reason),
// import and export the list through scheduler-admin, every change audited.

import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { newPool, resetData, updateSettings } from '../support/db.ts';
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
import { request } from '../support/net.ts';
import { runCampaignCli } from '../../scripts/campaign.ts';
import { optOutKey, optOutUrl } from '../../supabase/functions/_shared/opt-out.ts';

const SECRET = randomSecret('cron');
const ADMIN = randomSecret('admin');
const OPT_OUT_SECRET = randomSecret('opt-out-key');
const FLOW = { url: 'https://flow.example/answer?lang=en' };

let pool: pg.Pool;
let sim: TwilioSimulator;
let gw: Gateway;

beforeAll(async () => {
  pool = newPool(4);
  sim = await startSim({ outcomes: ALL_COMPLETED });
  gw = await startGateway(functionsEnv(sim, { CRON_SECRET: SECRET, ADMIN_TOKEN: ADMIN, OPT_OUT_SECRET }));
});

afterAll(async () => {
  await gw?.stop();
  await sim?.close();
  await pool?.end();
});

beforeEach(async () => {
  await sim.settled(20_000).catch(() => undefined);
  sim.reset();
  await resetData(pool);
  await updateSettings(pool, { provider_calls_per_second: 1000, rate_margin_ms: 500 });
});

/** The opt_out_url each dialled call's flow received, by To number. */
function optOutUrls(): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of sim.calls()) {
    const u = new URL(c.action.value).searchParams.get('opt_out_url');
    if (u) out.set(c.to, u);
  }
  return out;
}

async function callIdOf(phone: string): Promise<string> {
  const { rows } = await pool.query<{ id: string }>('select id::text from public.calls where to_phone = $1', [phone]);
  return rows[0]!.id;
}

async function listed(): Promise<Array<{ phone: string; reason: string; added_by: string }>> {
  const { rows } = await pool.query('select phone, reason, added_by from public.do_not_call_numbers order by phone');
  return rows;
}

function admin(path: string, init: RequestInit & { json?: unknown } = {}) {
  const { json, ...rest } = init;
  return request(`${gw.url}/scheduler-admin${path}`, {
    ...rest,
    headers: {
      authorization: `Bearer ${ADMIN}`,
      ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(rest.headers as Record<string, string> | undefined),
    },
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
}

describe('opt-out during the call', () => {
  it('round trip: dialled, the flow posts to its opt_out_url, the number is listed and the next reservation skips it', async () => {
    const [phone, other] = freshPhones(2) as [string, string];
    const dialled = await createCampaign(pool, { cap: 5, maxAttempts: 1, providerSettings: FLOW });
    await addContacts(pool, dialled, [phone]);
    // The same number in a second campaign, which starts later.
    const later = await createCampaign(pool, { cap: 5, status: 'PAUSED', providerSettings: FLOW });
    const [laterContact, otherContact] = await addContacts(pool, later, [phone, other]);

    expect((await postTick(gw, SECRET)).json).toMatchObject({ status: 'ok', launched: 1 });
    const callId = await callIdOf(phone);
    const answerUrl = new URL(sim.calls()[0]!.action.value);
    // The campaign's own query stays; ours is added, the opt-out URL among it.
    expect(answerUrl.searchParams.get('lang')).toBe('en');
    expect(answerUrl.searchParams.get('call_id')).toBe(callId);
    const optOutUrl = optOutUrls().get(phone)!;
    expect(new URL(optOutUrl).pathname).toBe(new URL(`${gw.url}/call-status/opt-out`).pathname);
    expect(new URL(optOutUrl).searchParams.get('call_id')).toBe(callId);

    // The flow's <Gather> action: Twilio posts the digits pressed as a form.
    const started = performance.now();
    const answer = await request(optOutUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ CallSid: sim.calls()[0]!.sid, Digits: '9' }).toString(),
    });
    let seconds = 0;
    for (;;) {
      const { rows } = await pool.query('select 1 from public.do_not_call_numbers where phone = $1', [phone]);
      seconds = (performance.now() - started) / 1000;
      if (rows.length > 0 || seconds > 10) break;
    }
    console.log(`opt-out round trip: ${seconds.toFixed(3)} s from the POST to the list row (answer ${answer.status})`);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ result: 'added' });
    expect(await listed()).toEqual([{ phone, reason: `opted out during call ${callId}`, added_by: `call ${callId}` }]);
    const { rows: audit } = await pool.query(
      `select actor, action, subject, after ->> 'call_id' as call_id from public.operator_audit_log`,
    );
    expect(audit).toEqual([{
      actor: `call ${callId}`,
      action: 'do_not_call.opt_out',
      subject: `do_not_call ${phone}`,
      call_id: callId,
    }]);

    // Idempotent: a second post adds nothing.
    const again = await request(optOutUrl, { method: 'POST' });
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ result: 'already_listed' });
    expect((await pool.query('select count(*)::int as n from public.operator_audit_log')).rows[0].n).toBe(1);

    // The next reservation: the second campaign starts; its contact with that number is not reserved.
    await pool.query(`update public.campaigns set status = 'QUEUED' where id = $1`, [later]);
    await pool.query('select * from public.launch_due_calls(p_now => now())');
    const { rows: reserved } = await pool.query<{ contact_id: string }>(
      'select contact_id::text from public.calls where campaign_id = $1',
      [later],
    );
    expect(reserved).toEqual([{ contact_id: otherContact }]);
    const { rows: marked } = await pool.query('select status from public.contacts where id = $1', [laterContact]);
    expect(marked[0].status).toBe('do_not_call');
  });

  it("a forged signature, another call's signature or none: 401 without detail, nothing written", async () => {
    const phones = freshPhones(2) as [string, string];
    const campaign = await createCampaign(pool, { cap: 5, maxAttempts: 1, providerSettings: FLOW });
    await addContacts(pool, campaign, phones);
    expect((await postTick(gw, SECRET)).json).toMatchObject({ status: 'ok', launched: 2 });
    const first = new URL(optOutUrls().get(phones[0])!);
    const secondId = await callIdOf(phones[1]);

    const attempts: string[] = [];
    const forged = new URL(first);
    forged.searchParams.set('sig', 'A'.repeat(43));
    attempts.push(forged.toString());
    const otherCall = new URL(first);
    otherCall.searchParams.set('call_id', secondId); // the first call's signature on the second call
    attempts.push(otherCall.toString());
    const unsigned = new URL(first);
    unsigned.searchParams.delete('sig');
    attempts.push(unsigned.toString());
    const badId = new URL(first);
    badId.searchParams.set('call_id', '1 or 1=1');
    attempts.push(badId.toString());
    for (const url of attempts) {
      const a = await request(url, { method: 'POST' });
      expect(a.status, url).toBe(401);
      expect(a.json).toEqual({ error: 'unauthorized' });
    }
    expect(await listed()).toEqual([]);
    expect((await pool.query('select count(*)::int as n from public.operator_audit_log')).rows[0].n).toBe(0);

    // A key of another deployment signs nothing here either.
    const wrongKey = new URL(first);
    wrongKey.searchParams.set('sig', first.searchParams.get('sig')!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')));
    expect((await request(wrongKey.toString(), { method: 'POST' })).status).toBe(401);

    // Signed right, but for a call that does not exist: 404, nothing written. Not a POST: 405. A
    // body over 64 KiB: 413 before anything is read into the database.
    const key = await optOutKey(OPT_OUT_SECRET, sim.authToken);
    const ghost = await request(await optOutUrl(gw.url, key, '999999'), { method: 'POST' });
    expect(ghost.status).toBe(404);
    expect((await request(first.toString(), { method: 'GET' })).status).toBe(405);
    expect((await request(first.toString(), { method: 'POST', body: 'x'.repeat(70_000) })).status).toBe(413);
    expect(await listed()).toEqual([]);

    // The real one, asking for TwiML (a <Gather> whose action is the opt-out URL itself).
    first.searchParams.set('reply', 'twiml');
    const twiml = await request(first.toString(), { method: 'POST' });
    expect(twiml.status).toBe(200);
    expect(twiml.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(twiml.text).toContain('<Hangup/>');
    expect((await listed()).map((r) => r.phone)).toEqual([phones[0]]);
  });
});

describe('scheduler-admin /do-not-call', () => {
  it('adds (E.164, reason required), searches with pages, removes with a reason, every change audited', async () => {
    expect((await request(`${gw.url}/scheduler-admin/do-not-call`)).status).toBe(401);

    const bad = await admin('/do-not-call', { method: 'POST', json: { phone: '555-0100', reason: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: 'bad_request', field: 'phone' });
    const noReason = await admin('/do-not-call', { method: 'POST', json: { phone: '+15550100001', reason: ' ' } });
    expect(noReason.status).toBe(400);
    expect(noReason.json).toMatchObject({ field: 'reason' });

    const campaign = await createCampaign(pool, { cap: 5, status: 'PAUSED' });
    const [contact] = await addContacts(pool, campaign, ['+15550100001']);
    const added = await admin('/do-not-call', { method: 'POST', json: { phone: '+15550100001', reason: 'asked by email' } });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({
      added: true,
      contacts_marked: 1,
      row: { phone: '+15550100001', added_by: 'admin_token' },
    });
    const twice = await admin('/do-not-call', { method: 'POST', json: { phone: '+15550100001', reason: 'again' } });
    expect(twice.status).toBe(200);
    expect(twice.json).toMatchObject({ added: false, row: { reason: 'asked by email' } });
    for (const p of ['+15550100002', '+15550100003', '+33612345678']) {
      expect((await admin('/do-not-call', { method: 'POST', json: { phone: p, reason: 'complaint' } })).status).toBe(201);
    }

    const page1 = await admin('/do-not-call?q=555010&limit=2');
    expect(page1.json.numbers.map((r: { phone: string }) => r.phone)).toEqual(['+15550100001', '+15550100002']);
    expect(page1.json.next_after).toBe('+15550100002');
    const page2 = await admin(`/do-not-call?q=555010&limit=2&after=${encodeURIComponent(page1.json.next_after)}`);
    expect(page2.json).toEqual({ numbers: [expect.objectContaining({ phone: '+15550100003' })], next_after: null });
    expect((await admin('/do-not-call?q=%2B336')).json.numbers.map((r: { phone: string }) => r.phone)).toEqual(['+33612345678']);
    expect((await admin('/do-not-call?q=EMAIL')).json.numbers.map((r: { phone: string }) => r.phone)).toEqual(['+15550100001']);

    const noWhy = await admin(`/do-not-call/${encodeURIComponent('+15550100001')}`, { method: 'DELETE', json: {} });
    expect(noWhy.status).toBe(400);
    const removed = await admin(`/do-not-call/${encodeURIComponent('+15550100001')}`, {
      method: 'DELETE',
      json: { reason: 'added by mistake' },
    });
    expect(removed.status).toBe(200);
    expect(removed.json).toMatchObject({
      removed: { phone: '+15550100001' },
      reason: 'added by mistake',
      contacts_still_do_not_call: 1,
    });
    // Not resurrected: the contact the list marked stays do_not_call.
    expect((await pool.query('select status from public.contacts where id = $1', [contact])).rows[0].status).toBe('do_not_call');
    const gone = await admin(`/do-not-call/${encodeURIComponent('+15550100001')}`, { method: 'DELETE', json: { reason: 'x' } });
    expect(gone.status).toBe(404);

    const audit = await admin('/audit?limit=10');
    const entries = (audit.json.entries as Array<Record<string, unknown>>).reverse();
    expect(entries.map((e) => [e.actor, e.action, e.subject])).toEqual([
      ['admin_token', 'do_not_call.add', 'do_not_call +15550100001'],
      ['admin_token', 'do_not_call.add', 'do_not_call +15550100002'],
      ['admin_token', 'do_not_call.add', 'do_not_call +15550100003'],
      ['admin_token', 'do_not_call.add', 'do_not_call +33612345678'],
      ['admin_token', 'do_not_call.remove', 'do_not_call +15550100001'],
    ]);
    expect(entries[4]!.after).toMatchObject({ reason: 'added by mistake' });
    expect(entries[0]!.after).toMatchObject({ reason: 'asked by email' });
  });

  it('imports CSV (invalid rows named by line, valid ones kept) and exports it with safe cells', async () => {
    const csv = [
      'phone,reason',
      '+15550200001,"letter, signed"',
      'not a number,x',
      '\'+15550200002,=HYPERLINK("x")',
      '',
      '+15550200001,again',
      '+1 (555) 020-0003,',
    ].join('\n');
    const refused = await admin('/do-not-call/import', {
      method: 'POST',
      body: csv,
      headers: { 'content-type': 'application/json' },
    });
    expect(refused.status).toBe(415);
    const report = await admin('/do-not-call/import', { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' } });
    expect(report.status).toBe(200);
    expect(report.json).toMatchObject({ rows: 5, added: 3, already_listed: 1, errors_total: 1 });
    expect(report.json.errors).toEqual([{ line: 3, reason: expect.stringContaining('not an E.164 number') }]);
    expect(await listed()).toEqual([
      { phone: '+15550200001', reason: 'letter, signed', added_by: 'admin_token' },
      { phone: '+15550200002', reason: '=HYPERLINK("x")', added_by: 'admin_token' },
      { phone: '+15550200003', reason: 'imported', added_by: 'admin_token' },
    ]);
    const { rows: audit } = await pool.query(
      `select action, subject, (after ->> 'line')::int as line from public.operator_audit_log order by id`,
    );
    expect(audit).toEqual([
      { action: 'do_not_call.import', subject: 'do_not_call +15550200001', line: 2 },
      { action: 'do_not_call.import', subject: 'do_not_call +15550200002', line: 4 },
      { action: 'do_not_call.import', subject: 'do_not_call +15550200003', line: 7 },
    ]);

    const unreadable = await admin('/do-not-call/import', {
      method: 'POST',
      body: 'phone,reason\n+15550200009,"never closed\n',
      headers: { 'content-type': 'text/csv' },
    });
    expect(unreadable.status).toBe(400);
    expect(unreadable.json).toMatchObject({ error: 'bad_request', line: 2 });
    expect((await listed()).length).toBe(3);

    const exported = await admin('/do-not-call/export');
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = exported.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe('phone,reason,added_at,added_by');
    expect(lines[1]).toMatch(/^'\+15550200001,"letter, signed",\d{4}-\d\d-\d\dT[0-9:.]+Z,admin_token$/);
    // Formula injection neutralised: the cell starts with ' (and is quoted for its quotes).
    expect(lines[2]).toMatch(/^'\+15550200002,"'=HYPERLINK\(""x""\)",/);
    expect(lines).toHaveLength(4);

    // The export reads back in: nothing new.
    const back = await admin('/do-not-call/import', {
      method: 'POST',
      body: exported.text,
      headers: { 'content-type': 'text/csv' },
    });
    expect(back.json).toMatchObject({ rows: 3, added: 0, already_listed: 3, errors_total: 0 });
  });
});

describe('npm run campaign -- dnc', () => {
  async function cli(args: string[], token: string): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCampaignCli(args, {
      env: { SUPABASE_FUNCTIONS_URL: gw.url, OPERATOR_TOKEN: token },
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  it('adds, lists, removes with a reason, imports and exports, audited under the named token', async () => {
    const token = (await admin('/tokens', { method: 'POST', json: { name: 'dnc-dana', role: 'operator' } })).json;
    const actor = `operator:${token.id}:dnc-dana`;
    expect((await cli(['dnc', 'add', '+15550300001'], token.token)).code).toBe(2); // no --reason
    const added = await cli(['dnc', 'add', '+15550300001', '--reason', 'asked on the phone'], token.token);
    expect(added).toMatchObject({ code: 0, out: 'added +15550300001; 0 contact(s) marked do_not_call' });
    expect((await cli(['dnc', 'add', '+15550300001', '--reason', 'x'], token.token)).out).toContain('already listed');
    const refused = await cli(['dnc', 'add', '0300001', '--reason', 'x'], token.token);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('phone');

    const file = path.join(await mkdtemp(path.join(tmpdir(), 'dnc-')), 'list.csv');
    await writeFile(file, 'phone,reason\n+15550300002,complaint\nnope,x\n');
    const imported = await cli(['dnc', 'import', file], token.token);
    expect(imported.code).toBe(1); // a row was refused
    expect(imported.err).toContain('line 3: not an E.164 number');
    expect(imported.out).toBe('done: 2 rows, 1 added, 0 already listed, 1 refused');

    const listed = await cli(['dnc', 'list', '0300002'], token.token);
    expect(listed.out).toMatch(new RegExp(`^\\+15550300002\\t\\S+\\t${actor}\\tcomplaint$`));
    expect((await cli(['dnc'], token.token)).out.split('\n')).toHaveLength(2);

    const removed = await cli(['dnc', 'remove', '+15550300001', '--reason', 'consent given again'], token.token);
    expect(removed).toMatchObject({ code: 0 });
    expect(removed.out).toContain('removed +15550300001');
    const out = path.join(path.dirname(file), 'out.csv');
    expect((await cli(['dnc', 'export', '--out', out], token.token)).code).toBe(0);
    expect((await readFile(out, 'utf8')).split('\r\n')[1]).toMatch(/^'\+15550300002,complaint,/);

    const { rows } = await pool.query('select actor, action from public.operator_audit_log where action like $1 order by id', [
      'do_not_call.%',
    ]);
    expect(rows).toEqual([
      { actor, action: 'do_not_call.add' },
      { actor, action: 'do_not_call.import' },
      { actor, action: 'do_not_call.remove' },
    ]);
  });
});
