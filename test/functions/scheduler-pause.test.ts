// Pausing the whole scheduler (scheduler_settings.paused_at), end to end over real HTTP: the admin
// routes POST /scheduler/pause and /scheduler/resume (audited; GET /status shows the pause and the
// version), a tick while paused reserves and sends nothing, a background dispatcher under way stops
// claiming at the pause while status callbacks of its calls are still applied, the queued calls
// stay queued, and after the resume every contact is called exactly once. Which role may call the
// routes is checked with every other route in test/operator/admin-routes.test.ts.
//
// The clock: the ticks run at the real time; contacts are due since DUE_SINCE and callable every day.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { VERSION } from '../../supabase/functions/_shared/version.ts';
import type { StatusPayload } from '../../supabase/functions/_shared/status.ts';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { waitFor } from '../support/clock.ts';
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
import { dialledTwice, invariantViolations } from '../support/invariants.ts';
import { request } from '../support/net.ts';
import { runRow } from '../support/rows.ts';
import { runCampaignCli } from '../../scripts/campaign.ts';

const SECRET = randomSecret();

let pool: pg.Pool;
let sim: TwilioSimulator;
let gw: Gateway;
let adminToken: string;

beforeAll(async () => {
  pool = newPool(6);
  sim = await startSim({ timeScale: 0.02, outcomes: ALL_COMPLETED });
  const env = functionsEnv(sim, { CRON_SECRET: SECRET });
  adminToken = env.ADMIN_TOKEN!;
  gw = await startGateway(env);
});

afterAll(async () => {
  await gw?.stop();
  await sim?.close();
  await pool?.end();
});

beforeEach(async () => {
  sim.reset();
  await resetData(pool);
  await updateSettings(pool, {
    provider_calls_per_second: 4,
    tick_budget_ms: 1000,
    background_dispatch_ms: 0,
    refill_interval_ms: 100,
  });
});

function admin(method: string, route: string, body?: unknown) {
  return request(`${gw.url}/scheduler-admin${route}`, {
    method,
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(sql, params);
  return rows[0]!.n;
}

describe('pausing the whole scheduler', () => {
  it('pause and resume over the admin API: audited, shown on GET /status with the version', async () => {
    const paused = await admin('POST', '/scheduler/pause', { reason: 'upgrade to the next release' });
    expect(paused.status, paused.text).toBe(200);
    const state = paused.json as { paused_at: string; paused_reason: string };
    expect(state.paused_reason).toBe('upgrade to the next release');
    expect(Number.isNaN(Date.parse(state.paused_at))).toBe(false);

    const status = (await admin('GET', '/status')).json as StatusPayload;
    expect(status.version).toBe(VERSION);
    expect(status.pause).toEqual(state);

    const refused = await admin('POST', '/scheduler/pause', { reason: '', extra: 1 });
    expect(refused.status).toBe(400);

    const resumed = await admin('POST', '/scheduler/resume');
    expect(resumed.status, resumed.text).toBe(200);
    expect(resumed.json).toEqual({ paused_at: null, paused_reason: null });
    expect(((await admin('GET', '/status')).json as StatusPayload).pause).toEqual({ paused_at: null, paused_reason: null });

    const { rows } = await pool.query<{ action: string; after: unknown }>(
      `select action, after from public.operator_audit_log where action like 'scheduler.%' order by id`,
    );
    expect(rows.map((r) => r.action)).toEqual(['scheduler.pause', 'scheduler.resume']);
    expect(rows[0]!.after).toEqual(state);
  });

  it('pause, status and resume from the CLI (npm run campaign -- scheduler ...), the admin role only', async () => {
    const cli = async (args: string[], token: string) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCampaignCli(args, {
        env: { SUPABASE_FUNCTIONS_URL: gw.url, OPERATOR_TOKEN: token },
        out: (l) => out.push(l),
        err: (l) => err.push(l),
      });
      return { code, out: out.join('\n'), err: err.join('\n') };
    };
    expect(await cli(['scheduler'], adminToken)).toMatchObject({ code: 0, out: `scheduler ${VERSION}: running (not paused)` });
    const paused = await cli(['scheduler', 'pause', '--reason', 'upgrade'], adminToken);
    expect(paused).toMatchObject({ code: 0 });
    expect(paused.out).toMatch(/^scheduler paused since \S+ \(upgrade\)$/);
    expect((await cli(['scheduler', 'status'], adminToken)).out).toMatch(
      new RegExp(`^scheduler ${VERSION.replace(/\./g, '\\.')}: paused since`),
    );

    const made = await admin('POST', '/tokens', { name: 'pause-olga', role: 'operator' });
    const operator = (made.json as { token: string }).token;
    const refused = await cli(['scheduler', 'resume'], operator);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/403/);
    expect(await cli(['scheduler', 'resume'], adminToken)).toMatchObject({ code: 0, out: 'scheduler running (not paused)' });
    expect((await cli(['scheduler', 'sideways'], adminToken)).code).toBe(2);
  });

  it('a tick while paused reserves and sends nothing and is recorded as skipped', async () => {
    const campaign = await createCampaign(pool, { cap: 5, maxAttempts: 1 });
    await addContacts(pool, campaign, freshPhones(3));
    expect((await admin('POST', '/scheduler/pause', {})).status).toBe(200);

    const a = await postTick(gw, SECRET);
    expect(a.status).toBe(200);
    const answer = a.json as { run_id: string; status: string; skipped: boolean; reserved: number; launched: number };
    expect(answer).toMatchObject({ status: 'skipped', skipped: true, reserved: 0, launched: 0 });
    expect((await runRow(pool, answer.run_id)).status).toBe('skipped');
    expect(sim.stats().created).toBe(0);
    expect(await count(`select count(*)::int as n from public.calls`)).toBe(0);
    expect(await count(`select count(*)::int as n from public.contacts where status = 'pending'`)).toBe(3);

    expect((await admin('POST', '/scheduler/resume')).status).toBe(200);
    const b = (await postTick(gw, SECRET)).json as { status: string; reserved: number };
    expect(b).toMatchObject({ status: 'ok', reserved: 3 });
  });

  it('stops a background dispatcher under way; queued calls wait, callbacks are applied, and the resume calls everyone once', async () => {
    await updateSettings(pool, { background_dispatch_ms: 30_000 });
    const campaign = await createCampaign(pool, { cap: 30, maxAttempts: 1 });
    const phones = freshPhones(30);
    await addContacts(pool, campaign, phones);

    const first = (await postTick(gw, SECRET)).json as { run_id: string; continues_until: string | null };
    expect(first.continues_until).not.toBeNull();
    await waitFor('a few calls sent in the background', () => sim.stats().created >= 4, { timeoutMs: 15_000 });
    expect((await admin('POST', '/scheduler/pause', { reason: 'schema change' })).status).toBe(200);

    // The dispatcher stops at its next refill (its claims come back empty at once) and finishes its run.
    const run = await waitFor('the background run finished', async () => {
      const r = await runRow(pool, first.run_id);
      return r.finished_at !== null ? r : null;
    }, { timeoutMs: 15_000 });
    expect(run.details).toMatchObject({ stopped_by: 'paused' });
    // Calls claimed before the pause committed may still go out (at most one claim's worth);
    // after that, nothing.
    const sentAtPause = sim.stats().created;
    await new Promise((r) => setTimeout(r, 1500));
    expect(sim.stats().created).toBe(sentAtPause);
    expect(sentAtPause).toBeLessThan(30);
    // The calls sent are answered and their callbacks applied while paused.
    await waitFor('every sent call ended', async () =>
      (await count(
        `select count(*)::int as n from public.calls where status in ('dialing', 'unknown', 'ringing', 'in_progress')`,
      )) === 0, { timeoutMs: 15_000 });
    expect(await count(`select count(*)::int as n from public.calls where status = 'completed'`)).toBe(sentAtPause);
    const queued = await count(`select count(*)::int as n from public.calls where status = 'queued'`);
    expect(queued).toBeGreaterThan(0);
    expect(await count(`select count(*)::int as n from public.calls where status = 'canceled'`)).toBe(0);

    expect((await admin('POST', '/scheduler/resume')).status).toBe(200);
    await updateSettings(pool, { background_dispatch_ms: 20_000 });
    const second = (await postTick(gw, SECRET)).json as { run_id: string; status: string };
    expect(second.status).toBe('ok');
    await waitFor(
      'every contact called',
      async () =>
        (await count(`select count(*)::int as n from public.contacts where campaign_id = $1 and status = 'done'`, [campaign])) ===
          30,
      { timeoutMs: 30_000 },
    );
    expect(sim.stats().created).toBe(30);
    expect(dialledTwice(sim)).toEqual([]);
    for (const p of phones) expect(sim.stats().createdPerNumber[p]).toBe(1);
    await pool.query(`update public.scheduler_leases set expires_at = now() where name = 'dispatch'`);
    await waitFor('the second run finished', async () => (await runRow(pool, second.run_id)).finished_at !== null, {
      timeoutMs: 25_000,
    });
    expect(await invariantViolations(pool)).toEqual([]);
  });
});
