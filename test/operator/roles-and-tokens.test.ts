// Containing a credential, over real HTTP against scheduler-admin served by the real Deno gateway and
// the real database:
//   * token lifetimes: 90 days when not said, at most 365, never past the token that made it;
//   * revocation by id only: a name of digits only is refused, so the decoy named after another
//     token's id cannot exist, and DELETE /tokens/<name> is refused;
//   * POST /tokens/revoke-by-creator: every token a credential made (and what those made) at once;
//   * roles: viewer reads, operator runs campaigns and the do-not-call list, admin manages tokens and
//     provider accounts; each boundary answers 403 {error: 'forbidden', role, needed_role} and
//     changes nothing; nobody makes a token above their own role;
//   * the audit trail names the role of each actor (operator_audit_log.actor_role, GET /audit).
//
// The clock: the functions' own (the host's) clock. Lifetimes are checked against the created_at
// the database stored for the same request (expires_at - created_at), never against the test's clock.

import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mintSupabaseJwt } from '../../scripts/stack/operator-jwt.ts';
import { connect, disableCronJobs, resetData } from '../support/db.ts';
import { functionsEnv, type Gateway, randomSecret, startGateway, startSim, type TwilioSimulator } from '../support/functions.ts';
import { type HttpAnswer, request } from '../support/net.ts';

const DAY_MS = 86_400_000;
let db: pg.Client;
let sim: TwilioSimulator;
let gw: Gateway;
let env: Record<string, string | undefined>;
const jwtSecret = randomSecret('jwt');

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
  sim = await startSim({ seed: 21, callbacks: false });
  env = functionsEnv(sim, { SUPABASE_JWT_SECRET: jwtSecret, AUTH_FAILURE_LIMIT: '1000' });
  gw = await startGateway(env);
});

afterAll(async () => {
  await gw?.stop('SIGKILL');
  await sim?.close();
  await resetData(db);
  await db?.end();
});

beforeEach(async () => {
  await resetData(db);
});

function api(credential: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { authorization: `Bearer ${credential}` };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  return request(`${gw.url}/scheduler-admin${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(30_000),
  });
}

const admin = () => env.ADMIN_TOKEN!;

interface Made {
  id: string;
  name: string;
  role: string;
  token: string;
  created_at: string;
  expires_at: string;
}

async function makeToken(by: string, body: Record<string, unknown>): Promise<Made> {
  const r = await api(by, '/tokens', { method: 'POST', body });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json as Made;
}

const lifetimeDays = (t: { created_at: string; expires_at: string }) =>
  (Date.parse(t.expires_at) - Date.parse(t.created_at)) / DAY_MS;

async function tableCounts(): Promise<Record<string, number>> {
  const { rows } = await db.query<Record<string, number>>(
    `select (select count(*)::int from public.operator_tokens) as tokens,
            (select count(*)::int from public.operator_tokens where revoked_at is not null) as revoked,
            (select count(*)::int from public.campaigns) as campaigns,
            (select count(*)::int from public.provider_accounts) as accounts,
            (select count(*)::int from public.do_not_call_numbers) as do_not_call,
            (select count(*)::int from public.operator_audit_log) as audit,
            (select count(*)::int from public.auth_failures) as auth_failures`,
  );
  return rows[0]!;
}

describe('token lifetimes', () => {
  it('90 days when not said, at most 365, after now; a token made by a token never outlives it', async () => {
    const plain = await makeToken(admin(), { name: 'plain' });
    expect(plain.role).toBe('viewer'); // the default role: the least one
    expect(lifetimeDays(plain)).toBe(90);
    expect(lifetimeDays(await makeToken(admin(), { name: 'year', expires_in_days: 365 }))).toBe(365);

    for (const days of [366, 3650, 0, -1]) {
      const r = await api(admin(), '/tokens', { method: 'POST', body: { name: `d${days}`, expires_in_days: days } });
      expect(r.status, String(days)).toBe(400);
      expect(r.json).toMatchObject({ error: 'bad_request', field: 'expires_in_days' });
    }
    // The database holds the same bound when the API is bypassed.
    await expect(
      db.query(
        `insert into public.operator_tokens (name, token_sha256, created_by, created_at, expires_at)
         values ('direct', sha256('direct'), 'test', now(), now() + interval '366 days')`,
      ),
    ).rejects.toMatchObject({ code: '23514' });

    // An admin token valid 10 days makes another: no expiry said is cut to its own; later is refused.
    const parent = await makeToken(admin(), { name: 'parent', role: 'admin', expires_in_days: 10 });
    const child = await makeToken(parent.token, { name: 'child' });
    expect(child.expires_at).toBe(parent.expires_at);
    const late = await api(parent.token, '/tokens', { method: 'POST', body: { name: 'late', expires_in_days: 11 } });
    expect(late.status).toBe(400);
    expect(late.json.message).toMatch(/not be later than the creating token/);
    const { rows } = await db.query<{ name: string; created_by: string; created_by_token_id: string | null }>(
      `select name, created_by, created_by_token_id::text from public.operator_tokens where name in ('plain', 'child') order by name`,
    );
    expect(rows).toEqual([
      { name: 'child', created_by: `operator:${parent.id}:parent`, created_by_token_id: parent.id },
      { name: 'plain', created_by: 'admin_token', created_by_token_id: null },
    ]);
  });
});

describe('revocation by id only', () => {
  it('refuses a name of digits only, so a decoy named "12" cannot exist, and Revoke on row 12 revokes row 12', async () => {
    // Identities restart at 1 (resetData): tokens 1..11, then the victim is token 12.
    for (let i = 1; i <= 11; i++) await makeToken(admin(), { name: `t${i}` });
    const victim = await makeToken(admin(), { name: 'victim', role: 'operator' });
    expect(victim.id).toBe('12');
    const attacker = await makeToken(admin(), { name: 'attacker', role: 'admin' });

    // The decoy is refused, whoever asks (the API, and the table itself).
    for (const name of ['12', '0012', '99999']) {
      const decoy = await api(attacker.token, '/tokens', { method: 'POST', body: { name } });
      expect(decoy.status, name).toBe(400);
      expect(decoy.json).toMatchObject({ error: 'bad_request', field: 'name', message: expect.stringMatching(/digits only/) });
    }
    await expect(
      db.query(
        `insert into public.operator_tokens (name, token_sha256, created_by, expires_at)
         values ('12', sha256('decoy'), 'test', now() + interval '1 day')`,
      ),
    ).rejects.toMatchObject({ code: '23514' });

    // A name is never an identifier: refused, nothing revoked.
    const byName = await api(admin(), '/tokens/victim', { method: 'DELETE' });
    expect(byName.status).toBe(400);
    expect(byName.json.message).toMatch(/by its id/);
    expect((await api(victim.token, '/status')).status).toBe(200);

    // Revoke on row 12 revokes row 12, and says which.
    const revoked = await api(admin(), '/tokens/12', { method: 'DELETE' });
    expect(revoked.status).toBe(200);
    expect(revoked.json).toMatchObject({ id: '12', name: 'victim' });
    expect((await api(victim.token, '/status')).status).toBe(401);
    expect((await api(attacker.token, '/status')).status).toBe(200);
    expect((await api(admin(), '/tokens/12', { method: 'DELETE' })).status).toBe(404); // not twice
    const tokens = (await api(admin(), '/tokens')).json.tokens as Array<{ id: string; state: string }>;
    expect(tokens.filter((t) => t.state === 'revoked').map((t) => t.id)).toEqual(['12']);
  });
});

describe('revoke everything a credential made', () => {
  it('revokes the tokens a token made and what those made; a Supabase user by their subject; the rest stay', async () => {
    const mallory = await makeToken(admin(), { name: 'mallory', role: 'admin' });
    const m1 = await makeToken(mallory.token, { name: 'm1', role: 'admin' });
    const m2 = await makeToken(m1.token, { name: 'm2', role: 'operator' });
    const carol = await makeToken(admin(), { name: 'carol', role: 'operator' });
    const sub = '8c1f7d4e-4b1a-4f7e-9a55-2f1d0c9b8a71';
    const adminUser = mintSupabaseJwt(jwtSecret, { sub, email: 'ann@example.org', appRole: 'admin' });
    const u1 = await makeToken(adminUser, { name: 'u1', role: 'viewer' });

    const answer = await api(admin(), '/tokens/revoke-by-creator', {
      method: 'POST',
      body: { created_by: `operator:${mallory.id}` },
    });
    expect(answer.status).toBe(200);
    expect(answer.json.revoked.map((t: { name: string }) => t.name)).toEqual(['m1', 'm2']);
    for (const t of [m1, m2]) expect((await api(t.token, '/status')).status, t.name).toBe(401);
    // Mallory herself is revoked by her id (what admin_token made would take carol too).
    expect((await api(mallory.token, '/status')).status).toBe(200);
    expect((await api(admin(), `/tokens/${mallory.id}`, { method: 'DELETE' })).status).toBe(200);

    // A user whose role was taken away: what they made is revoked by their subject, whatever their email.
    const byUser = await api(admin(), '/tokens/revoke-by-creator', { method: 'POST', body: { created_by: `user:${sub}` } });
    expect(byUser.json.revoked).toEqual([expect.objectContaining({ name: 'u1', created_by: `user:${sub}:ann@example.org` })]);
    expect((await api(u1.token, '/status')).status).toBe(401);
    expect((await api(carol.token, '/status')).status).toBe(200);

    // Each revocation is audited, with the reason and the revoker's role.
    const { rows } = await db.query<{ subject: string; actor: string; actor_role: string; why: string }>(
      `select subject, actor, actor_role, after ->> 'revoked_because' as why
         from public.operator_audit_log where action = 'token.revoke' order by id`,
    );
    expect(rows).toEqual([
      { subject: 'm1', actor: 'admin_token', actor_role: 'admin', why: `made by operator:${mallory.id}` },
      { subject: 'm2', actor: 'admin_token', actor_role: 'admin', why: `made by operator:${mallory.id}` },
      { subject: 'mallory', actor: 'admin_token', actor_role: 'admin', why: null },
      { subject: 'u1', actor: 'admin_token', actor_role: 'admin', why: `made by user:${sub}` },
    ]);
    // Only an admin may do it; a blank creator is refused.
    expect((await api(carol.token, '/tokens/revoke-by-creator', { method: 'POST', body: { created_by: 'admin_token' } })).status)
      .toBe(403);
    expect((await api(admin(), '/tokens/revoke-by-creator', { method: 'POST', body: { created_by: '' } })).status).toBe(400);
    expect((await api(carol.token, '/status')).status).toBe(200);
  });
});

describe('roles', () => {
  it('a viewer reads and cannot write; an operator runs campaigns but cannot manage tokens or accounts, nor mint an admin', async () => {
    const viewer = (await makeToken(admin(), { name: 'vera', role: 'viewer' })).token;
    const operator = (await makeToken(admin(), { name: 'otto', role: 'operator' })).token;
    const viewerSession = mintSupabaseJwt(jwtSecret, { appRole: 'viewer' });
    const operatorSession = mintSupabaseJwt(jwtSecret, { appRole: 'operator' });

    expect((await api(viewer, '/whoami')).json).toEqual({
      actor: expect.stringMatching(/^operator:\d+:vera$/),
      role: 'viewer',
      kind: 'operator_token',
      token_id: expect.any(String),
    });
    expect((await api(admin(), '/whoami')).json).toMatchObject({ actor: 'admin_token', role: 'admin' });
    expect((await api(operatorSession, '/whoami')).json).toMatchObject({ role: 'operator', kind: 'supabase_user' });

    // Reads: every role.
    for (const who of [viewer, viewerSession, operator]) {
      for (const path of ['/status', '/wait-reasons', '/campaigns', '/accounts', '/accounts/default', '/do-not-call', '/audit']) {
        expect((await api(who, path)).status, path).toBe(200);
      }
    }
    const campaign = await api(operator, '/campaigns', { method: 'POST', body: { name: 'otto runs this' } });
    expect(campaign.status).toBe(201);
    const id = String(campaign.json.id);
    const before = await tableCounts();

    const refusals: Array<[string, string, string, unknown, string]> = [
      // [who, method, path, body, needed role]
      ...[viewer, viewerSession].flatMap((v): Array<[string, string, string, unknown, string]> => [
        [v, 'POST', '/campaigns', { name: 'by a viewer' }, 'operator'],
        [v, 'PATCH', `/campaigns/${id}`, { name: 'renamed' }, 'operator'],
        [v, 'POST', `/campaigns/${id}/pause`, undefined, 'operator'],
        [v, 'POST', '/trigger', undefined, 'operator'],
        [v, 'POST', '/do-not-call', { phone: '+15551230000', reason: 'asked' }, 'operator'],
        [v, 'GET', '/tokens', undefined, 'admin'],
        [v, 'POST', '/tokens', { name: 'more', role: 'viewer' }, 'admin'],
      ]),
      ...[operator, operatorSession].flatMap((o): Array<[string, string, string, unknown, string]> => [
        [o, 'GET', '/tokens', undefined, 'admin'],
        [o, 'POST', '/tokens', { name: 'boss', role: 'admin' }, 'admin'],
        [o, 'POST', '/tokens', { name: 'peer', role: 'operator' }, 'admin'],
        [o, 'DELETE', '/tokens/1', undefined, 'admin'],
        [o, 'POST', '/tokens/revoke-by-creator', { created_by: 'admin_token' }, 'admin'],
        [o, 'POST', '/accounts', { id: 'sub-1' }, 'admin'],
        [o, 'PATCH', '/accounts/default', { calls_per_second: 50 }, 'admin'],
        [o, 'DELETE', '/accounts/default', undefined, 'admin'],
      ]),
    ];
    for (const [who, method, path, body, needed] of refusals) {
      const r = await api(who, path, { method, body });
      const role = who === viewer || who === viewerSession ? 'viewer' : 'operator';
      expect(r.status, `${role} ${method} ${path}`).toBe(403);
      expect(r.json).toEqual({
        error: 'forbidden',
        message: expect.stringMatching(new RegExp(`needs the ${needed} role`)),
        role,
        needed_role: needed,
      });
    }
    // Nothing changed, and a refusal by role is not a failed sign-in.
    expect(await tableCounts()).toEqual(before);
    expect((await api(viewer, '/status')).status).toBe(200);

    // What an operator may do, it does.
    expect((await api(operator, `/campaigns/${id}/pause`, { method: 'POST' })).status).toBe(200);
    expect(
      (await api(operatorSession, '/do-not-call', { method: 'POST', body: { phone: '+15551230000', reason: 'asked' } })).status,
    )
      .toBe(201);
    // And an admin session may make tokens, up to admin.
    const adminSession = mintSupabaseJwt(jwtSecret, { appRole: 'admin' });
    expect((await makeToken(adminSession, { name: 'by-session', role: 'admin' })).role).toBe('admin');
  });

  it('the audit trail names the role of each actor', async () => {
    const operator = (await makeToken(admin(), { name: 'otto', role: 'operator' })).token;
    const sub = '2b9d0c6e-7f3a-4c1d-8e2f-5a6b7c8d9e00';
    const operatorSession = mintSupabaseJwt(jwtSecret, { sub, email: 'olga@example.org', appRole: 'operator' });
    expect((await api(operator, '/campaigns', { method: 'POST', body: { name: 'by otto' } })).status).toBe(201);
    expect((await api(operatorSession, '/campaigns', { method: 'POST', body: { name: 'by olga' } })).status).toBe(201);
    expect((await api(admin(), '/accounts', { method: 'POST', body: { id: 'sub-1' } })).status).toBe(201);
    const csv = 'phone,reason\n+15551230001,asked\n';
    const imported = await request(`${gw.url}/scheduler-admin/do-not-call/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'text/csv' },
      body: csv,
    });
    expect(imported.status).toBe(200);

    const { rows } = await db.query<{ actor: string; actor_role: string | null; action: string }>(
      'select actor, actor_role, action from public.operator_audit_log order by id',
    );
    expect(rows).toEqual([
      { actor: 'admin_token', actor_role: 'admin', action: 'token.create' },
      { actor: expect.stringMatching(/^operator:\d+:otto$/), actor_role: 'operator', action: 'campaign.create' },
      { actor: `user:${sub}:olga@example.org`, actor_role: 'operator', action: 'campaign.create' },
      { actor: 'admin_token', actor_role: 'admin', action: 'account.create' },
      { actor: expect.stringMatching(/^operator:\d+:otto$/), actor_role: 'operator', action: 'do_not_call.import' },
    ]);
    const listed = await api(operator, '/audit?limit=10');
    expect(listed.json.entries[0]).toMatchObject({ action: 'do_not_call.import', actor_role: 'operator' });
    // The column only takes the three roles.
    await expect(
      db.query(`insert into public.operator_audit_log (actor, actor_role, action) values ('x', 'root', 'tick.trigger')`),
    ).rejects.toMatchObject({ code: '23514' });
  });
});
