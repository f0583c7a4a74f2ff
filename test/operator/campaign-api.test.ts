// Campaigns through scheduler-admin's API, against the real gateway and database: create and edit
// validated by the shared zod schema (400 naming the field), the database's CHECKs as the last word
// (400 naming the field), pause / resume / cancel with a preview of what happens to queued and
// active calls and pending contacts, and every action in operator_audit_log naming the credential.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CampaignCreate, CampaignPatch } from '../../supabase/functions/_shared/campaign-schema.ts';
import { addContacts, createCampaign } from '../support/builders.ts';
import { connect, disableCronJobs, resetData } from '../support/db.ts';
import { functionsEnv, type Gateway, randomSecret, startGateway, startSim, type TwilioSimulator } from '../support/functions.ts';
import { mintSupabaseJwt } from '../../scripts/stack/operator-jwt.ts';
import { invariantViolations } from '../support/invariants.ts';
import { type HttpAnswer, request } from '../support/net.ts';

let db: pg.Client;
let sim: TwilioSimulator;
let gw: Gateway;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
  sim = await startSim({ seed: 14, callbacks: false });
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

function admin(path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { authorization: `Bearer ${init.token ?? env.ADMIN_TOKEN}` };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  return request(`${gw.url}/scheduler-admin${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(30_000),
  });
}

async function auditRows(): Promise<Array<{ actor: string; action: string; subject: string; before: unknown; after: unknown }>> {
  return (await db.query('select actor, action, subject, before, after from public.operator_audit_log order by id')).rows;
}

describe('the shared campaign schema', () => {
  it('names the field of each refusal, and accepts what the table accepts', () => {
    expect(CampaignCreate.safeParse({ name: 'x', caller_id: '+15551230000', window_end: '24:00' }).success).toBe(true);
    const bad = CampaignCreate.safeParse({ name: ' ', max_concurrent_calls: 0, caller_id: '555', window_days: [1, 1], extra: 1 });
    expect(bad.success).toBe(false);
    const fields = bad.error!.issues.map((i) => i.path.join('.') || i.code);
    expect(fields).toEqual(expect.arrayContaining(['name', 'max_concurrent_calls', 'caller_id', 'window_days']));
    expect(bad.error!.issues.some((i) => i.code === 'unrecognized_keys')).toBe(true);
    expect(CampaignPatch.safeParse({}).success).toBe(false);
    expect(CampaignPatch.safeParse({ retry_busy_delay: '31 days' }).success).toBe(false);
    expect(CampaignPatch.safeParse({ retry_no_answer_delay: '30 minutes', retry_busy: false }).success).toBe(true);
    expect(CampaignPatch.safeParse({ retry_failed: 'no' }).success).toBe(false);
    // Campaign dates: ISO 8601 with an offset (or null), the end after the start.
    expect(CampaignPatch.safeParse({ starts_at: '2026-12-01T08:00:00Z', ends_at: null }).success).toBe(true);
    expect(CampaignPatch.safeParse({ starts_at: 'next monday' }).success).toBe(false);
    const backwards = CampaignPatch.safeParse({ starts_at: '2026-12-02T00:00:00+01:00', ends_at: '2026-12-01T00:00:00Z' });
    expect(backwards.success).toBe(false);
    expect(backwards.error!.issues.map((i) => i.path.join('.'))).toEqual(['ends_at']);
  });
});

describe('campaigns through the admin API', () => {
  it('creates and edits a campaign, refuses bad fields by name (schema, then the database), and audits both', async () => {
    const made = await admin('/campaigns', {
      method: 'POST',
      body: {
        name: 'Spring reminders',
        max_concurrent_calls: 3,
        caller_id: '+15551230000',
        provider_settings: { twiml: '<Response><Say>Hi</Say></Response>' },
        time_zone: 'Europe/Paris',
        window_start: '09:30',
        window_end: '18:00',
        window_days: [1, 2, 3],
        retry_busy_delay: '30 minutes',
        retry_failed: false,
      },
    });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({
      name: 'Spring reminders',
      status: 'QUEUED',
      max_concurrent_calls: 3,
      set_up_problem: null,
    });
    expect(made.json.window_start).toBe('09:30:00');
    expect(made.json.retry_busy_delay).toBe('00:30:00');
    expect(made.json.retry_failed).toBe(false);
    // The other outcomes keep the table's defaults.
    expect(made.json.retry_no_answer_delay).toBe('02:00:00');
    expect(made.json.retry_machine_delay).toBe('04:00:00');
    expect(made.json.retry_no_answer).toBe(true);
    expect(made.json.max_attempts).toBe(3); // the table's default
    const id = String(made.json.id);

    // The schema refuses, naming the fields; nothing is written.
    const refused = await admin('/campaigns', { method: 'POST', body: { name: '', max_concurrent_calls: -1, colour: 'red' } });
    expect(refused.status).toBe(400);
    expect(refused.json.issues.map((i: { field: string }) => i.field)).toEqual(
      expect.arrayContaining(['name', 'max_concurrent_calls']),
    );
    // The database is the last word: an unknown time zone passes the schema's shape, not the trigger.
    const zone = await admin(`/campaigns/${id}`, { method: 'PATCH', body: { time_zone: 'Mars/Olympus_Mons' } });
    expect(zone.status).toBe(400);
    expect(zone.json.field).toBe('time_zone');
    expect(zone.json.message).toContain('campaigns_time_zone_is_valid');

    const edited = await admin(`/campaigns/${id}`, { method: 'PATCH', body: { max_concurrent_calls: 7, priority: 2 } });
    expect(edited.status).toBe(200);
    expect(edited.json).toMatchObject({ max_concurrent_calls: 7, priority: 2, time_zone: 'Europe/Paris' });
    expect((await admin(`/campaigns/${id}`)).json.max_concurrent_calls).toBe(7);
    expect((await admin('/campaigns/999999', { method: 'PATCH', body: { priority: 1 } })).status).toBe(404);
    expect((await admin('/campaigns')).json.campaigns.map((c: { id: number }) => String(c.id))).toEqual([id]);

    const audit = await auditRows();
    expect(audit.map((a) => `${a.actor} ${a.action} ${a.subject}`)).toEqual([
      `admin_token campaign.create campaign ${id}`,
      `admin_token campaign.update campaign ${id}`,
    ]);
    expect(audit[1]!.before).toMatchObject({ max_concurrent_calls: 3, priority: 0 });
    expect(audit[1]!.after).toMatchObject({ max_concurrent_calls: 7, priority: 2 });
    const listed = await admin('/audit?limit=10');
    expect(listed.json.entries.map((e: { action: string }) => e.action)).toEqual(['campaign.update', 'campaign.create']);

    // Campaign dates: set through the API; an end before the stored start is refused by the table.
    const dated = await admin(`/campaigns/${id}`, {
      method: 'PATCH',
      body: { starts_at: '2026-12-01T08:00:00Z', ends_at: '2026-12-31T18:00:00Z' },
    });
    expect(dated.status).toBe(200);
    expect(Date.parse(dated.json.starts_at)).toBe(Date.parse('2026-12-01T08:00:00Z'));
    expect(Date.parse(dated.json.ends_at)).toBe(Date.parse('2026-12-31T18:00:00Z'));
    const early = await admin(`/campaigns/${id}`, { method: 'PATCH', body: { ends_at: '2026-11-01T00:00:00Z' } });
    expect(early.status).toBe(400);
    expect(early.json.field).toBe('ends_at');
    expect(early.json.message).toContain('campaigns_ends_after_starts');
  });

  it('pause releases queued calls and keeps active ones; resume serves again; cancel ends pending contacts; each previewed and audited', async () => {
    const id = await createCampaign(db, { cap: 4 });
    await addContacts(db, id, 6);
    const at = new Date('2026-06-03T12:00:00Z');
    await db.query('select public.launch_due_calls($1)', [at]); // 4 queued
    await db.query('select * from public.claim_queued_calls(1, null, $1)', [at]); // 1 dialing, 3 queued

    const preview = await admin(`/campaigns/${id}/preview-action?action=pause`);
    expect(preview.status).toBe(200);
    expect(preview.json).toMatchObject({
      allowed: true,
      status_after: 'PAUSED',
      queued_calls_released: 3,
      active_calls_finishing: 1,
      pending_contacts_ended: 0,
      pending_contacts: 2,
    });
    expect((await admin(`/campaigns/${id}/preview-action?action=resume`)).json).toMatchObject({ allowed: false });

    const paused = await admin(`/campaigns/${id}/pause`, { method: 'POST' });
    expect(paused.status).toBe(200);
    expect(paused.json).toMatchObject({ queued_calls_released: 3, active_calls_finishing: 1, campaign: { status: 'PAUSED' } });
    const calls = await db.query<{ status: string; n: number }>(
      `select status::text, count(*)::int as n from public.calls where campaign_id = $1 group by 1 order by 1`,
      [id],
    );
    expect(calls.rows).toEqual([{ status: 'canceled', n: 3 }, { status: 'dialing', n: 1 }]);
    const attempts = await db.query<{ n: number }>('select sum(attempts)::int as n from public.contacts where campaign_id = $1', [
      id,
    ]);
    expect(attempts.rows[0]!.n).toBe(1); // a released call is not an attempt
    expect(
      await db.query('select public.launch_due_calls($1)', [at]).then(() =>
        db.query(
          `select count(*)::int as n from public.calls where campaign_id = $1 and status = 'queued'`,
          [id],
        )
      ),
    ).toMatchObject({ rows: [{ n: 0 }] }); // nothing reserved while paused
    expect((await admin(`/campaigns/${id}/pause`, { method: 'POST' })).status).toBe(409);

    const resumed = await admin(`/campaigns/${id}/resume`, { method: 'POST' });
    expect(resumed.status).toBe(200);
    expect(['QUEUED', 'RUNNING']).toContain(resumed.json.campaign.status);
    await db.query('select public.launch_due_calls($1)', [at]);
    const queued = await db.query<{ n: number }>(
      `select count(*)::int as n from public.calls where campaign_id = $1 and status = 'queued'`,
      [id],
    );
    expect(queued.rows[0]!.n).toBe(3); // cap 4, one still dialing

    const cancelPreview = await admin(`/campaigns/${id}/preview-action?action=cancel`);
    expect(cancelPreview.json).toMatchObject({
      allowed: true,
      queued_calls_released: 3,
      active_calls_finishing: 1,
      pending_contacts_ended: 5,
    });
    const cancelled = await admin(`/campaigns/${id}/cancel`, { method: 'POST' });
    expect(cancelled.json).toMatchObject({ queued_calls_released: 3, active_calls_finishing: 1, pending_contacts_ended: 5 });
    const contacts = await db.query<{ status: string; n: number }>(
      `select status::text, count(*)::int as n from public.contacts where campaign_id = $1 group by 1 order by 1`,
      [id],
    );
    expect(contacts.rows).toEqual([{ status: 'cancelled', n: 5 }, { status: 'in_progress', n: 1 }]);
    expect((await admin(`/campaigns/${id}/resume`, { method: 'POST' })).status).toBe(409);
    expect(await invariantViolations(db)).toEqual([]);

    const audit = await auditRows();
    expect(audit.map((a) => a.action)).toEqual(['campaign.pause', 'campaign.resume', 'campaign.cancel']);
    expect(audit[0]!.before).toMatchObject({ status: expect.stringMatching(/QUEUED|RUNNING/) });
    expect(audit[2]!.after).toMatchObject({ campaign: { status: 'CANCELLED' }, pending_contacts_ended: 5 });
  });

  it('refuses without a credential, and names a named token in the audit trail', async () => {
    expect((await admin('/campaigns', { token: 'wrong' })).status).toBe(401);
    const token = await admin('/tokens', { method: 'POST', body: { name: 'dana', role: 'operator' } });
    const made = await admin('/campaigns', { method: 'POST', body: { name: 'by dana' }, token: token.json.token });
    expect(made.status).toBe(201);
    const audit = await auditRows();
    expect(audit.at(-1)).toMatchObject({ action: 'campaign.create', actor: `operator:${token.json.id}:dana` });
  });

  it('takes requires_consent on create and edit (off by default), audited; refuses anything but a boolean', async () => {
    const plain = await admin('/campaigns', { method: 'POST', body: { name: 'no consent needed' } });
    expect(plain.json.requires_consent).toBe(false);
    const made = await admin('/campaigns', { method: 'POST', body: { name: 'consented only', requires_consent: true } });
    expect(made.status).toBe(201);
    expect(made.json.requires_consent).toBe(true);
    const id = String(made.json.id);
    const refused = await admin(`/campaigns/${id}`, { method: 'PATCH', body: { requires_consent: 'yes' } });
    expect(refused.status).toBe(400);
    expect(refused.json.issues).toEqual([{ field: 'requires_consent', message: 'requires_consent must be true or false' }]);
    const off = await admin(`/campaigns/${id}`, { method: 'PATCH', body: { requires_consent: false } });
    expect(off.status).toBe(200);
    expect(off.json).toMatchObject({ requires_consent: false, name: 'consented only' });
    const audit = await auditRows();
    expect(audit.at(-1)).toMatchObject({
      action: 'campaign.update',
      before: { requires_consent: true },
      after: { requires_consent: false },
    });
  });
});

describe('machine answers and the provider options', () => {
  it('takes machine_answer_policy and checks provider_settings options, naming the field', async () => {
    const made = await admin('/campaigns', {
      method: 'POST',
      body: {
        name: 'voicemail ok',
        machine_answer_policy: 'done',
        provider_settings: { url: 'https://flow.example/a', machine_detection: 'DetectMessageEnd', timeout: 25 },
      },
    });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({
      machine_answer_policy: 'done',
      provider_settings: { machine_detection: 'DetectMessageEnd', timeout: 25 },
    });
    const id = String(made.json.id);
    const refused = await admin(`/campaigns/${id}`, {
      method: 'PATCH',
      body: { machine_answer_policy: 'voicemail', provider_settings: { url: 'https://flow.example/a', timeout: 0 } },
    });
    expect(refused.status).toBe(400);
    expect(refused.json.issues).toEqual([
      {
        field: 'provider_settings.timeout',
        message: 'provider_settings.timeout must be a whole number of seconds from 1 to 600',
      },
      { field: 'machine_answer_policy', message: 'machine_answer_policy must be retry or done' },
    ]);
    const back = await admin(`/campaigns/${id}`, { method: 'PATCH', body: { machine_answer_policy: 'retry' } });
    expect(back.status).toBe(200);
    expect(back.json.machine_answer_policy).toBe('retry');
    expect((await auditRows()).at(-1)).toMatchObject({
      action: 'campaign.update',
      before: { machine_answer_policy: 'done' },
      after: { machine_answer_policy: 'retry' },
    });
  });
});

describe('npm run campaign (the CLI, through the API)', () => {
  const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  function cli(args: string[], token = env.ADMIN_TOKEN!): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/campaign.ts', ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, SUPABASE_FUNCTIONS_URL: gw.url, OPERATOR_TOKEN: token },
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

  it('creates, edits, lists, and pauses / resumes / cancels only after showing the counts', async () => {
    const token = (await admin('/tokens', { method: 'POST', body: { name: 'cli-erin', role: 'operator' } })).json;
    const made = await cli([
      'create',
      '--name',
      'From the CLI',
      '--cap',
      '2',
      '--caller-id',
      '+15551230000',
      '--twiml',
      '<Response/>',
      '--window',
      '08:00-17:30',
      '--days',
      '1,2,3,4,5,6,7',
    ], token.token);
    expect(made.err).toBe('');
    expect(made.code).toBe(0);
    const id = /^created: (\d+)\t/.exec(made.out)![1]!;

    const bad = await cli(['edit', id, '--cap', '0', '--caller-id', '12'], token.token);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('max_concurrent_calls');
    expect(bad.err).toContain('caller_id');
    const zone = await cli(['edit', id, '--time-zone', 'Nowhere/Special'], token.token);
    expect(zone.code).toBe(1);
    expect(zone.err).toContain('time_zone');
    expect((await cli(['edit', id, '--cap', '9'], token.token)).code).toBe(0);
    // Dates (--starts / --ends, ISO 8601 with an offset): set, then listed.
    const dated = await cli([
      'edit',
      id,
      '--starts',
      '2026-12-01T09:00:00-05:00',
      '--ends',
      '2026-12-31T18:00:00Z',
      '--requires-consent',
      'yes',
    ], token.token);
    expect(dated.code).toBe(0);
    const row = await db.query<{ starts_at: Date; ends_at: Date }>(
      'select starts_at, ends_at from public.campaigns where id = $1',
      [id],
    );
    expect(row.rows[0]!.starts_at.toISOString()).toBe('2026-12-01T14:00:00.000Z');
    expect(row.rows[0]!.ends_at.toISOString()).toBe('2026-12-31T18:00:00.000Z');
    expect((await cli(['list'], token.token)).out).toMatch(
      new RegExp(
        `^${id}\\tQUEUED\\tFrom the CLI\\tcap 9\\t08:00:00-17:30:00 UTC\\t2026-12-01T14:00:00\\S* to 2026-12-31T18:00:00`,
      ),
    );
    // Consent (--requires-consent yes|no, set with the dates above), shown in the list.
    expect((await db.query('select requires_consent from public.campaigns where id = $1', [id])).rows[0]).toEqual({
      requires_consent: true,
    });
    expect((await cli(['list'], token.token)).out).toMatch(new RegExp(`^${id}\\t.*\\trequires consent\\t`, 'm'));
    expect((await cli(['edit', id, '--requires-consent', 'perhaps'], token.token)).code).not.toBe(0);
    // Machine answers, and provider options changed in place (the call action stays).
    const options = await cli(
      [
        'edit',
        id,
        '--machine-answers',
        'done',
        '--machine-detection',
        'Enable',
        '--ring-timeout',
        '40',
        '--purpose',
        'informational',
      ],
      token.token,
    );
    expect(options.err).toBe('');
    expect(
      (await db.query(
        'select machine_answer_policy, provider_settings, purpose from public.campaigns where id = $1',
        [id],
      )).rows[0],
    ).toEqual({
      machine_answer_policy: 'done',
      provider_settings: { twiml: '<Response/>', machine_detection: 'Enable', timeout: 40 },
      purpose: 'informational',
    });
    expect((await cli(['edit', id, '--ring-timeout', 'none', '--url', 'https://flow.example/b'], token.token)).code).toBe(0);
    expect((await db.query('select provider_settings from public.campaigns where id = $1', [id])).rows[0].provider_settings)
      .toEqual({ url: 'https://flow.example/b', machine_detection: 'Enable' });

    await addContacts(db, id, 3);
    const unconfirmed = await cli(['pause', id], token.token);
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.out).toContain('QUEUED -> PAUSED');
    expect(unconfirmed.err).toContain('--yes');
    expect((await db.query('select status::text from public.campaigns where id = $1', [id])).rows[0]!.status).toBe('QUEUED');

    const paused = await cli(['pause', id, '--yes'], token.token);
    expect(paused.code).toBe(0);
    expect(paused.out).toContain('is PAUSED');
    expect((await cli(['resume', id, '--yes'], token.token)).out).toContain('is QUEUED');
    const cancelled = await cli(['cancel', id, '--yes'], token.token);
    expect(cancelled.out).toContain('pending contacts ended: 3');
    expect(cancelled.out).toContain('3 pending contacts ended');
    expect((await cli(['resume', id, '--yes'], token.token)).code).toBe(1);
    expect((await cli(['pause', id], 'wrong-token')).err).toContain('401');

    const actor = `operator:${token.id}:cli-erin`;
    expect((await auditRows()).filter((a) => a.actor === actor).map((a) => a.action)).toEqual([
      'campaign.create',
      'campaign.update',
      'campaign.update',
      'campaign.update',
      'campaign.update',
      'campaign.pause',
      'campaign.resume',
      'campaign.cancel',
    ]);
  }, 120_000); // some fifteen CLI processes (tsx), each a cold Node start: slow on a busy machine
});

describe('npm run campaign -- import / export (the CLI, in parts)', () => {
  it('sends the file in parts of --rows rows, reports errors and duplicates with the file line numbers, and exports', async () => {
    const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'campaign-cli-'));
    const lines = ['phone,name'];
    for (let i = 0; i < 12; i++) lines.push(`(415) 555-01${String(10 + i)},"Person ${i}"`);
    lines[5] = 'nope,Bad'; // file line 6
    lines[9] = '"(415) 555-0111","multi\nline"'; // file lines 10-11: a duplicate of line 3
    lines.push('');
    lines.push('(415) 555-0199,Last'); // after an empty line
    const file = path.join(dir, 'contacts.csv');
    writeFileSync(file, lines.join('\n') + '\n');
    const id = await createCampaign(db);
    const run = (args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((resolve, reject) => {
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
    const imported = await run(['import', id, file, '--region', 'US', '--rows', '5']);
    expect(imported.code).toBe(0);
    expect(imported.out.match(/^part \d+:/gm)).toHaveLength(3);
    expect(imported.err).toContain('line 6, column phone: not a phone number');
    expect(imported.err).toContain('duplicates at lines 11');
    expect(imported.out).toContain('done: 13 rows, 11 imported, 1 duplicates, 1 errors');
    const count = await db.query<{ n: number }>('select count(*)::int as n from public.contacts where campaign_id = $1', [id]);
    expect(count.rows[0]!.n).toBe(11);

    const out = path.join(dir, 'export.csv');
    expect((await run(['export', id, '--out', out])).code).toBe(0);
    const exported = readFileSync(out, 'utf8').trimEnd().split('\r\n');
    expect(exported).toHaveLength(12);
    expect(exported[1]).toMatch(/^\d+,'\+14155550110,Person 0,,pending,0,/);
    const audit = (await auditRows()).map((a) => a.action);
    expect(audit).toEqual(['contacts.import', 'contacts.import', 'contacts.import']);
  });
});

describe('sign-in with a Supabase Auth session (SUPABASE_JWT_SECRET)', () => {
  it('accepts an operator user, names the user in the audit trail, and refuses the rest', async () => {
    const secret = randomSecret('jwt');
    const jwtEnv = functionsEnv(sim, { SUPABASE_JWT_SECRET: secret });
    const g = await startGateway(jwtEnv);
    try {
      const call = (token: string, body?: unknown) =>
        request(`${g.url}/scheduler-admin/campaigns`, {
          method: body ? 'POST' : 'GET',
          headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
      const sub = '5f0c7a52-1d1e-4d3c-9a51-3b7f3c1d2e01';
      const ok = mintSupabaseJwt(secret, { sub, email: 'olga@example.org' });
      const made = await call(ok, { name: 'by olga' });
      expect(made.status).toBe(201);
      const audit = await auditRows();
      expect(audit.at(-1)).toMatchObject({ action: 'campaign.create', actor: `user:${sub}:olga@example.org` });

      // A signed-in user without a scheduler role: forbidden, saying why; a viewer reads but does not write.
      const notOperator = await call(mintSupabaseJwt(secret, { appRole: null }));
      expect(notOperator.status).toBe(403);
      expect(notOperator.json).toMatchObject({ error: 'forbidden', message: expect.stringMatching(/no scheduler role/) });
      expect((await call(mintSupabaseJwt(secret, { appRole: 'member' }))).status).toBe(403);
      expect((await call(mintSupabaseJwt(secret, { appRole: 'viewer' }))).status).toBe(200);
      expect((await call(mintSupabaseJwt(secret, { appRole: 'viewer' }), { name: 'by a viewer' })).status).toBe(403);
      expect((await call(mintSupabaseJwt('another-secret-another-secret-xx'))).status).toBe(401); // forged
      expect((await call(mintSupabaseJwt(secret, { ttlSeconds: -10 }))).status).toBe(401); // expired
      expect((await call(mintSupabaseJwt(secret, { aud: 'anon' }))).status).toBe(401);
      const [h, p] = ok.split('.');
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.${'A'.repeat(43)}`;
      expect((await call(none)).status).toBe(401);
      expect(h).toBeTruthy();
      // Without SUPABASE_JWT_SECRET (the shared gateway) a session is not a credential.
      expect((await admin('/campaigns', { token: ok })).status).toBe(401);
    } finally {
      await g.stop('SIGKILL');
    }
  });
});

describe('answer URLs outside local development', () => {
  it('refuses an http:// provider_settings.url (400 naming it) unless ALLOW_INSECURE_URLS=1; https:// is accepted', async () => {
    // A deployment's configuration: https everywhere, no ALLOW_INSECURE_URLS. Nothing here dials.
    const secure = await startGateway(
      functionsEnv(sim, {
        ALLOW_INSECURE_URLS: undefined,
        TWILIO_API_BASE_URL: 'https://api.twilio.invalid',
        PUBLIC_FUNCTIONS_URL: 'https://functions.example.org/functions/v1',
        ADMIN_TOKEN: env.ADMIN_TOKEN,
      }),
    );
    try {
      const post = (url: string, method = 'POST', path = '/campaigns') =>
        request(`${secure.url}/scheduler-admin${path}`, {
          method,
          headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify(method === 'POST' ? { name: 'flow', provider_settings: { url } } : { provider_settings: { url } }),
        });
      const refused = await post('http://agent.example/answer');
      expect(refused.status).toBe(400);
      expect(String((refused.json as { message: string }).message)).toMatch(/provider_settings\.url: must be https:\/\//);
      const ok = await post('https://agent.example/answer');
      expect(ok.status).toBe(201);
      const id = (ok.json as { id: number }).id;
      expect((await post('http://agent.example/other', 'PATCH', `/campaigns/${id}`)).status).toBe(400);
      expect(
        (await db.query<{ url: string }>(`select provider_settings ->> 'url' as url from public.campaigns where id = $1`, [id]))
          .rows[0]!.url,
      ).toBe('https://agent.example/answer');
      // The local stack's setting (the default gateway of this file): http://127.0.0.1 flows are fine.
      expect(
        (await admin('/campaigns', {
          method: 'POST',
          body: { name: 'local', provider_settings: { url: 'http://127.0.0.1:9/flow' } },
        })).status,
      ).toBe(201);
    } finally {
      await secure.stop('SIGKILL');
    }
  });
});
