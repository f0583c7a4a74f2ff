// Provider accounts through scheduler-admin's API, against the real gateway and database: listed from
// the view scheduler_account_status (rate effective and own, cap, calls now, breaker, campaigns),
// created and changed (zod bounds as the table's CHECKs, the CHECKs the last word, the rate bucket
// never touched), deleted only when no campaign dials through it; campaigns choosing their account
// (an unknown one refused by name); every write in operator_audit_log. And the CLI's `accounts`.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AccountCreate, AccountPatch } from '../../supabase/functions/_shared/account-schema.ts';
import { CampaignPatch } from '../../supabase/functions/_shared/campaign-schema.ts';
import { addContacts, createCampaign } from '../support/builders.ts';
import { connect, disableCronJobs, resetData } from '../support/db.ts';
import { functionsEnv, type Gateway, startGateway, startSim, type TwilioSimulator } from '../support/functions.ts';
import { type HttpAnswer, request } from '../support/net.ts';

let db: pg.Client;
let sim: TwilioSimulator;
let gw: Gateway;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
  sim = await startSim({ seed: 12, callbacks: false });
  env = functionsEnv(sim);
  gw = await startGateway(env);
});

afterAll(async () => {
  await gw?.stop('SIGKILL');
  await sim?.close();
  await db?.end();
});

beforeEach(async () => {
  await resetData(db);
});

function admin(path: string, init: { method?: string; body?: unknown } = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  return request(`${gw.url}/scheduler-admin${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(30_000),
  });
}

async function auditRows(): Promise<Array<{ action: string; subject: string; before: unknown; after: unknown }>> {
  return (await db.query('select action, subject, before, after from public.operator_audit_log order by id')).rows;
}

describe('the shared account schema', () => {
  it("holds the table's bounds and names the field of each refusal", () => {
    expect(AccountCreate.safeParse({ id: 'sub-1', calls_per_second: 0.5, max_concurrent_calls: 10 }).success).toBe(true);
    expect(AccountCreate.safeParse({ id: 'sub-1', calls_per_second: null, max_concurrent_calls: null }).success).toBe(true);
    const bad = AccountCreate.safeParse({ id: 'Sub 1', calls_per_second: 0, max_concurrent_calls: 1.5, next_send_at: 'now' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.') || i.code)).toEqual(
      expect.arrayContaining(['id', 'calls_per_second', 'max_concurrent_calls', 'unrecognized_keys']),
    );
    expect(AccountPatch.safeParse({ calls_per_second: 10_001 }).success).toBe(false);
    expect(AccountPatch.safeParse({ max_concurrent_calls: 1_000_001 }).success).toBe(false);
    expect(AccountPatch.safeParse({}).success).toBe(false);
    expect(AccountPatch.safeParse({ id: 'other' }).success).toBe(false); // an account is not renamed
    expect(AccountPatch.safeParse({ max_concurrent_calls: null }).success).toBe(true);
    expect(CampaignPatch.safeParse({ provider_account: 'sub-1' }).success).toBe(true);
    expect(CampaignPatch.safeParse({ provider_account: 'Not A Slug' }).success).toBe(false);
  });
});

describe('provider accounts through the admin API', () => {
  it('creates an account, gives a campaign that account, changes its rate and cap, and lists calls, breaker and campaigns', async () => {
    await db.query('update public.scheduler_settings set provider_calls_per_second = 2');
    const listed0 = await admin('/accounts');
    expect(listed0.status).toBe(200);
    expect(listed0.json.accounts).toEqual([
      expect.objectContaining({
        id: 'default',
        provider: 'twilio',
        calls_per_second: 2, // the global setting
        own_calls_per_second: null,
        max_concurrent_calls: null,
        active_calls: 0,
        breaker_state: 'closed',
        breaker_open_until: null,
        campaigns: 0,
        campaign_ids: [],
      }),
    ]);

    const made = await admin('/accounts', {
      method: 'POST',
      body: { id: 'sub-eu', calls_per_second: 5, max_concurrent_calls: 3 },
    });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ id: 'sub-eu', calls_per_second: 5, own_calls_per_second: 5, max_concurrent_calls: 3 });
    expect(made.json).not.toHaveProperty('next_send_at');
    const taken = await admin('/accounts', { method: 'POST', body: { id: 'sub-eu' } });
    expect(taken.status).toBe(409);
    const refused = await admin('/accounts', { method: 'POST', body: { id: 'x', calls_per_second: 20_000 } });
    expect(refused.status).toBe(400);
    expect(refused.json.field).toBe('calls_per_second');
    const badSid = await admin('/accounts', { method: 'POST', body: { id: 'x', account_sid: 'AC123' } });
    expect(badSid.status).toBe(400);
    expect(badSid.json.field).toBe('account_sid');
    // A subaccount: its SID is set, changed and cleared like the rest; one SID names one account.
    const SID = `AC${'ab'.repeat(16)}`;
    const sub = await admin('/accounts', { method: 'POST', body: { id: 'sub-us', account_sid: SID } });
    expect(sub.status).toBe(201);
    expect(sub.json).toMatchObject({ account_sid: SID, calls_per_second: 2, own_calls_per_second: null });
    expect((await admin('/accounts', { method: 'POST', body: { id: 'twin', account_sid: SID } })).status).toBe(409);
    const cleared = await admin('/accounts/sub-us', { method: 'PATCH', body: { account_sid: null } });
    expect(cleared.json.account_sid).toBe(null);
    expect((await admin('/accounts/sub-us', { method: 'DELETE' })).status).toBe(200);

    // A campaign chooses its account; an unknown account is refused by name, on create and on edit.
    const campaign = await admin('/campaigns', {
      method: 'POST',
      body: { name: 'EU', provider_account: 'sub-eu', max_concurrent_calls: 10 },
    });
    expect(campaign.status).toBe(201);
    expect(campaign.json.provider_account).toBe('sub-eu');
    const id = String(campaign.json.id);
    const unknown = await admin('/campaigns', { method: 'POST', body: { name: 'lost', provider_account: 'nowhere' } });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({ field: 'provider_account' });
    expect(unknown.json.message).toContain('unknown provider account "nowhere"');
    expect((await db.query("select count(*)::int as n from public.campaigns where name = 'lost'")).rows[0].n).toBe(0);
    const unknownEdit = await admin(`/campaigns/${id}`, { method: 'PATCH', body: { provider_account: 'nowhere' } });
    expect(unknownEdit.status).toBe(400);
    expect(unknownEdit.json.field).toBe('provider_account');
    expect((await admin('/campaigns')).json.campaigns[0].provider_account).toBe('sub-eu');

    // Calls counted against the account (its cap of 3 holds), and its breaker as the view shows it.
    await db.query(
      "update public.campaigns set caller_id = '+15559990000', provider_settings = '{\"twiml\": \"<Response/>\"}', window_start = '00:00', window_end = '24:00', window_days = '{1,2,3,4,5,6,7}' where id = $1",
      [id],
    );
    await addContacts(db, id, 6);
    await db.query('select public.launch_due_calls($1)', [new Date('2026-06-03T12:00:00Z')]);
    const openUntil = new Date(Date.now() + 60_000);
    await db.query(
      `insert into public.provider_circuit_breakers (account, state, consecutive_failures, opened_at, open_until, last_failure_reason)
       values ('sub-eu', 'open', 5, now(), $1, 'Twilio 20003: Authenticate')`,
      [openUntil],
    );
    const one = await admin('/accounts/sub-eu');
    expect(one.status).toBe(200);
    expect(one.json).toMatchObject({
      active_calls: 3,
      queued_calls: 3,
      breaker_state: 'open',
      breaker_consecutive_failures: 5,
      breaker_last_failure_reason: 'Twilio 20003: Authenticate',
      campaigns: 1,
      live_campaigns: 1,
      campaign_ids: [Number(id)],
    });
    expect(Date.parse(one.json.breaker_open_until)).toBe(openUntil.getTime());

    // Rate and cap changed; the rate bucket is the dispatcher's and stays as it was.
    const bucket = new Date('2026-06-03T12:00:07.250Z');
    await db.query("update public.provider_accounts set next_send_at = $1 where id = 'sub-eu'", [bucket]);
    const changed = await admin('/accounts/sub-eu', {
      method: 'PATCH',
      body: { calls_per_second: null, max_concurrent_calls: 8 },
    });
    expect(changed.status).toBe(200);
    expect(changed.json).toMatchObject({ calls_per_second: 2, own_calls_per_second: null, max_concurrent_calls: 8 });
    const row = await db.query("select next_send_at from public.provider_accounts where id = 'sub-eu'");
    expect(row.rows[0].next_send_at.toISOString()).toBe(bucket.toISOString());
    const badCap = await admin('/accounts/sub-eu', { method: 'PATCH', body: { max_concurrent_calls: 0 } });
    expect(badCap.status).toBe(400);
    expect(badCap.json.field).toBe('max_concurrent_calls');
    expect((await admin('/accounts/nobody', { method: 'PATCH', body: { max_concurrent_calls: 2 } })).status).toBe(404);
    expect((await admin('/accounts/NOT%20AN%20ID')).status).toBe(404);

    // Every write audited, before and after, without the bucket.
    const audit = await auditRows();
    expect(audit.map((a) => `${a.action} ${a.subject}`)).toEqual([
      'account.create account sub-eu',
      'account.create account sub-us',
      'account.update account sub-us',
      'account.delete account sub-us',
      `campaign.create campaign ${id}`,
      'account.update account sub-eu',
    ]);
    expect(audit[2]!.before).toMatchObject({ account_sid: `AC${'ab'.repeat(16)}` });
    expect(audit[0]!.after).toMatchObject({ id: 'sub-eu', calls_per_second: 5, max_concurrent_calls: 3 });
    expect(audit[4]!.after).toMatchObject({ provider_account: 'sub-eu' });
    expect(audit[5]!.before).toMatchObject({ calls_per_second: 5, max_concurrent_calls: 3 });
    expect(audit[5]!.after).toMatchObject({ calls_per_second: null, max_concurrent_calls: 8 });
    expect(audit[5]!.after).not.toHaveProperty('next_send_at');

    // Moving the campaign to another account is audited with the account before and after.
    const moved = await admin(`/campaigns/${id}`, { method: 'PATCH', body: { provider_account: 'default' } });
    expect(moved.status).toBe(200);
    const last = (await auditRows()).at(-1)!;
    expect(last).toMatchObject({
      action: 'campaign.update',
      before: { provider_account: 'sub-eu' },
      after: { provider_account: 'default' },
    });
  });

  it('refuses to delete an account in use (naming the campaigns) or the default one, deletes an unused one', async () => {
    await admin('/accounts', { method: 'POST', body: { id: 'spare' } });
    await admin('/accounts', { method: 'POST', body: { id: 'busy' } });
    const a = await createCampaign(db, { name: 'a' });
    const b = await createCampaign(db, { name: 'b' });
    await db.query("update public.campaigns set provider_account = 'busy' where id in ($1, $2)", [a, b]);

    const inUse = await admin('/accounts/busy', { method: 'DELETE' });
    expect(inUse.status).toBe(409);
    expect(inUse.json.message).toContain('provider account "busy" is used by 2 campaign(s)');
    expect(inUse.json.message).toContain(`${a}, ${b}`);
    const dflt = await admin('/accounts/default', { method: 'DELETE' });
    expect(dflt.status).toBe(409);
    expect(dflt.json.message).toContain('"default" cannot be deleted');

    const gone = await admin('/accounts/spare', { method: 'DELETE' });
    expect(gone.status).toBe(200);
    expect(gone.json.deleted).toMatchObject({ id: 'spare' });
    expect((await admin('/accounts/spare', { method: 'DELETE' })).status).toBe(404);
    expect((await admin('/accounts')).json.accounts.map((x: { id: string }) => x.id)).toEqual(['busy', 'default']);
    expect((await auditRows()).map((r) => r.action)).toEqual(['account.create', 'account.create', 'account.delete']);
  });
});

describe('npm run campaign -- accounts (the CLI, through the API)', () => {
  const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/campaign.ts', ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, SUPABASE_FUNCTIONS_URL: gw.url, ADMIN_TOKEN: env.ADMIN_TOKEN },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? 1, out, err }));
    });
  }

  it('creates and sets an account, gives a campaign --account, lists both, refuses bad values', async () => {
    const sid = `AC${'0f'.repeat(16)}`;
    const made = await cli(['accounts', 'create', 'sub-us', '--sid', sid, '--cps', '3', '--cap', '4']);
    expect(made.err).toBe('');
    expect(made.code).toBe(0);
    expect(made.out).toMatch(new RegExp(`^created: sub-us\ttwilio\tsubaccount ${sid}\t3 cps\tcap 4\t`));
    const bad = await cli(['accounts', 'set', 'sub-us', '--cps', '0']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('calls_per_second');
    const set = await cli(['accounts', 'set', 'sub-us', '--sid', 'none', '--cps', 'default', '--cap', 'none']);
    expect(set.code).toBe(0);
    expect(set.out).toContain('(global setting)\tno own cap');

    const campaign = await cli(['create', '--name', 'US leads', '--account', 'sub-us']);
    expect(campaign.code).toBe(0);
    expect(campaign.out).toMatch(/\taccount sub-us\n$/);
    const unknown = await cli(['create', '--name', 'lost', '--account', 'nowhere']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('unknown provider account "nowhere"');

    const list = await cli(['accounts']);
    expect(list.code).toBe(0);
    const id = (await db.query("select id from public.campaigns where name = 'US leads'")).rows[0].id;
    expect(list.out.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^default\ttwilio\t1 cps \(global setting\)\tno own cap\tactive 0\tbreaker closed\t0 campaigns$/),
      expect.stringMatching(
        new RegExp(
          `^sub-us\\ttwilio\\t1 cps \\(global setting\\)\\tno own cap\\tactive 0\\tbreaker closed\\t1 campaigns \\(${id}\\)$`,
        ),
      ),
    ]);
  }, 120_000); // six CLI processes (tsx), each a cold Node start: slow on a busy machine

  it(
    'creates accounts of other kinds (Retell at its default cap), and a campaign on one takes its platform and its agent',
    async () => {
      expect(AccountCreate.safeParse({ id: 'v', provider: 'vapi', account_sid: `AC${'0f'.repeat(16)}` }).success).toBe(false);
      expect(AccountCreate.safeParse({ id: 'p', provider: 'plivo' }).success).toBe(false);
      const made = await cli(['accounts', 'create', 'ai-retell', '--kind', 'retell']);
      expect(made.err).toBe('');
      expect(made.out).toMatch(/^created: ai-retell\tretell\t1 cps \(global setting\)\tcap 20\t/);
      const campaign = await cli([
        'create',
        '--name',
        'Retell leads',
        '--account',
        'ai-retell',
        '--caller-id',
        '+15551230000',
        '--agent-id',
        'agent_1',
      ]);
      expect(campaign.err).toBe('');
      expect(campaign.code).toBe(0);
      const { rows } = await db.query(
        "select provider, provider_settings, set_up_problem from public.campaigns where name = 'Retell leads'",
      );
      expect(rows[0]).toEqual({ provider: 'retell', provider_settings: { agent_id: 'agent_1' }, set_up_problem: null });
      // Through the API: a Vapi account starts at 10; a campaign moved onto it moves to Vapi.
      const vapi = await admin('/accounts', { method: 'POST', body: { id: 'ai-vapi', provider: 'vapi' } });
      expect(vapi.status).toBe(201);
      expect(vapi.json).toMatchObject({ provider: 'vapi', max_concurrent_calls: 10, account_sid: null });
      const id = (await db.query("select id from public.campaigns where name = 'Retell leads'")).rows[0].id;
      const moved = await admin(`/campaigns/${id}`, { method: 'PATCH', body: { provider_account: 'ai-vapi' } });
      expect(moved.status).toBe(200);
      expect((await db.query('select provider, set_up_problem from public.campaigns where id = $1', [id])).rows[0]).toEqual({
        provider: 'vapi',
        set_up_problem: 'provider_settings needs assistant_id and phone_number_id (vapi)',
      });
    },
    120_000,
  );
});
