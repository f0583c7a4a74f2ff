// The functions behind a transaction-mode pooler, as on Supabase (port 6543): PgBouncer with
// pool_mode = transaction (started by `npm test`, POOLER_DATABASE_URL) between the real Deno
// functions and the database, and the 'dispatch' lease (public.scheduler_leases) that replaced the
// session advisory lock. Each case ends with the invariants: caps, one active call per contact,
// at most one create request per reserved call and no number called more than its attempts
// (invariants 1-4 in docs/ARCHITECTURE.md), and exactly one run row per tick.
//
//   (a) 40 due contacts, cap 7, 12 ticks through PgBouncer: everyone is called, no tick skipped
//       (with a session advisory lock, the scheduler stopped after two ticks); the same directly. The
//       contacts are in four campaigns over a Twilio, a Vapi, a Retell and a SignalWire account (the
//       last two with their own credentials), under a global cap of 7
//   (b) the pooler's server connections are terminated mid-tick
//   (c) a dispatcher is SIGKILLed mid-tick: the next tick does not wait and dials the rest; killed in
//       the background (holding the lease): the next tick takes the lease over at once
//   (d) a second tick while a background dispatcher holds the lease helps, then takes it over; the
//       first stops (handed over), one run row each
//   (e) the lease is taken from a holder that still works: the old holder's next claim is refused
//       (fencing, SL001), it stops and nothing more is dialled by it
// and DATABASE_URL (the pooler, as docs/DEPLOY.md says to set it) wins over SUPABASE_DB_URL.

import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/stack/localdb.ts';
import { databaseName } from '../../scripts/stack/test-databases.ts';
import { type SimOptions, startTwilioSimulator, type TwilioSimulator } from '../../scripts/twilio-sim/server.ts';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { waitFor } from '../support/clock.ts';
import {
  connect,
  disableCronJobs,
  dispatchLease,
  pgbouncerAdminUrl,
  poolerDbUrl,
  resetData,
  testDbUrl,
  unreachableDbUrl,
  waitForDispatchLeaseExpiry,
} from '../support/db.ts';
import { functionsEnv, type Gateway, startGateway, tick } from '../support/functions.ts';
import { createdPerCall, invariantViolations, overDialledNumbers } from '../support/invariants.ts';
import { activeCalls } from '../support/rows.ts';

let db: pg.Client;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
});

afterAll(async () => {
  await db?.end();
});

beforeEach(async () => {
  await resetData(db);
  await db.query('delete from public.scheduler_leases');
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function simulator(opts: SimOptions = {}): Promise<TwilioSimulator> {
  const sim = await startTwilioSimulator({
    seed: 11,
    timeScale: 0.005,
    outcomes: { completed: 1, 'no-answer': 0, busy: 0, failed: 0 },
    ...opts,
  });
  cleanups.push(() => sim.close());
  return sim;
}

async function gateway(env: Record<string, string | undefined>): Promise<Gateway> {
  const gw = await startGateway(env);
  cleanups.push(() => gw.stop('SIGKILL'));
  return gw;
}

const VAPI_KEY = `vapi-${randomBytes(12).toString('hex')}`;
const VAPI_SECRET = `vapi-secret-${randomBytes(12).toString('hex')}`;
const RETELL_ORG = {
  apiKey: `retell-${randomBytes(12).toString('hex')}`,
  eventKey: `retell-webhook-${randomBytes(12).toString('hex')}`,
};

/** The simulator's four parts: Twilio, SignalWire (its LaML API), Vapi (kind-level key), Retell (an organisation of its own). */
async function mixedSimulator(): Promise<TwilioSimulator> {
  const all = { completed: 1, 'no-answer': 0, busy: 0, failed: 0, voicemail: 0 };
  return await simulator({
    vapi: { apiKey: VAPI_KEY, serverSecret: VAPI_SECRET, outcomes: all },
    retell: { outcomes: all, organisations: { 'pool-retell': RETELL_ORG } },
  });
}

/** The functions' variables for mixedSimulator(): Vapi by kind, Retell and SignalWire by account. */
function mixedProvidersEnv(sim: TwilioSimulator): Record<string, string> {
  return {
    VAPI_API_KEY: VAPI_KEY,
    VAPI_API_BASE_URL: sim.url,
    VAPI_SERVER_SECRET: VAPI_SECRET,
    PROVIDER_ACCOUNT_CREDENTIALS: JSON.stringify({
      'pool-retell': { provider: 'retell', apiKey: RETELL_ORG.apiKey, webhookKey: RETELL_ORG.eventKey, baseUrl: sim.url },
      'pool-sw': {
        provider: 'signalwire',
        projectId: sim.accountSid,
        apiToken: sim.authToken,
        spaceUrl: sim.url,
        signingKey: sim.authToken,
      },
    }),
  };
}

/** Four campaigns of `contacts / 4` numbers each, one per account kind, cap `cap` each; the numbers. */
async function seedMixed(contacts: number, cap: number, settings: string): Promise<{ numbers: string[] }> {
  await db.query(`update public.scheduler_settings set ${settings}`);
  await db.query(
    `insert into public.provider_accounts (id, provider) values ('pool-vapi', 'vapi'), ('pool-retell', 'retell'), ('pool-sw', 'signalwire')`,
  );
  const accounts: Array<[string, Record<string, unknown>]> = [
    ['default', { twiml: '<Response/>' }],
    ['pool-vapi', { assistant_id: 'asst_pool', phone_number_id: 'pn_pool' }],
    ['pool-retell', {}],
    ['pool-sw', { twiml: '<Response/>' }],
  ];
  const numbers: string[] = [];
  for (const [account, providerSettings] of accounts) {
    const campaign = await createCampaign(db, { name: `pooler test ${account}`, cap, maxAttempts: 3, retryDelay: '1 minute' });
    await db.query('update public.campaigns set provider_account = $2, provider_settings = $3::jsonb where id = $1', [
      campaign,
      account,
      JSON.stringify(providerSettings),
    ]);
    const own = freshPhones(contacts / accounts.length);
    await addContacts(db, campaign, own);
    numbers.push(...own);
  }
  return { numbers };
}

/** Create requests per number over the simulator's four parts. */
function createdPerNumberEverywhere(sim: TwilioSimulator): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of [sim.stats().createdPerNumber, sim.vapi.stats().createdPerNumber, sim.retell.stats().createdPerNumber]) {
    for (const [n, k] of Object.entries(part)) out[n] = (out[n] ?? 0) + k;
  }
  return out;
}

/** One campaign of `contacts` numbers, cap `cap`, any hour; returns its id and the numbers. */
async function seed(contacts: number, cap: number, settings: string): Promise<{ campaign: string; numbers: string[] }> {
  await db.query(`update public.scheduler_settings set ${settings}`);
  const campaign = await createCampaign(db, { name: 'pooler test', cap, maxAttempts: 3, retryDelay: '1 minute' });
  const numbers = freshPhones(contacts);
  await addContacts(db, campaign, numbers);
  return { campaign, numbers };
}

async function runRows(): Promise<
  Array<{ id: string; status: string; calls_launched: number; errors: Array<{ stage: string; message: string }> }>
> {
  const { rows } = await db.query(`select id::text, status, calls_launched, errors from public.scheduler_runs order by id`);
  return rows;
}

/** Invariant 4 from the provider's side, 1-3 (and 5 unless a run was killed) from the database's. */
async function expectInvariants(sim: TwilioSimulator, opts: { allowRunning?: boolean } = {}): Promise<void> {
  const perCall = createdPerCall(sim.calls());
  expect([...perCall].filter(([, n]) => n > 1), 'call ids the provider created more than once').toEqual([]);
  expect(await overDialledNumbers(db, sim.stats().createdPerNumber)).toEqual([]);
  expect(await invariantViolations(db, opts)).toEqual([]);
}

/** Exactly one run row per tick: the answered ticks' run ids are distinct and all in the run log. */
async function expectOneRunRowPerTick(runIds: string[], extraRows = 0): Promise<void> {
  expect(new Set(runIds).size, 'distinct run ids').toBe(runIds.length);
  const rows = await runRows();
  expect(rows).toHaveLength(runIds.length + extraRows);
  const logged = new Set(rows.map((r) => r.id));
  for (const id of runIds) expect(logged.has(id), `run ${id} is in the run log`).toBe(true);
}

async function admin<R extends pg.QueryResultRow>(sql: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: pgbouncerAdminUrl() });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query<R>(sql)).rows;
  } finally {
    await c.end();
  }
}

async function pooledTransactions(): Promise<number> {
  const rows = await admin<{ database: string; total_xact_count: string }>('show stats');
  return rows.filter((r) => r.database === databaseName(poolerDbUrl())).reduce((n, r) => n + Number(r.total_xact_count), 0);
}

interface TickLine {
  tick: number;
  http: number;
  status: string;
  reserved: number;
  launched: number;
}

describe('(a) 40 due contacts, cap 7, 12 ticks', () => {
  for (const via of ['pgbouncer', 'direct'] as const) {
    it(
      `calls everyone and skips no tick (${via === 'pgbouncer' ? 'through PgBouncer in transaction mode' : 'direct connection'})`,
      async () => {
        const { numbers } = await seedMixed(
          40,
          7,
          'provider_calls_per_second = 100, dispatch_concurrency = 10, global_max_concurrent_calls = 7',
        );
        const sim = await mixedSimulator();
        const env = functionsEnv(sim, mixedProvidersEnv(sim), via === 'pgbouncer' ? poolerDbUrl() : testDbUrl());
        const gw = await gateway(env);
        sim.vapi.setEventUrl(`${gw.url}/call-status/vapi`);
        sim.retell.setEventUrl(`${gw.url}/call-status/retell`);
        const xactsBefore = await pooledTransactions();

        const sequence: TickLine[] = [];
        const runIds: string[] = [];
        for (let i = 1; i <= 12; i++) {
          const t = await tick(gw.url, env.CRON_SECRET!);
          expect(t.status, JSON.stringify(t.body)).toBe(200);
          runIds.push(String(t.body.run_id));
          sequence.push({
            tick: i,
            http: t.status,
            status: String(t.body.status),
            reserved: Number(t.body.reserved),
            launched: Number(t.body.launched),
          });
          // The calls end (the simulator answers and hangs up) before the next tick: slots are free.
          await waitFor('no active call', async () => (await activeCalls(db)) === 0, { timeoutMs: 20_000, orTimeout: 'return' });
        }

        const made = { twilio_laml: sim.stats().created, vapi: sim.vapi.stats().created, retell: sim.retell.stats().created };
        const report = { via, contacts: 40, cap: 7, ticks: sequence, calls_made: made };
        process.stdout.write(`[pooler] tick sequence (${via}): ${JSON.stringify(report)}\n`);
        await mkdir(path.join(REPO_ROOT, 'test-results'), { recursive: true });
        await writeFile(
          path.join(REPO_ROOT, 'test-results', `pooler-tick-sequence-${via}.json`),
          `${JSON.stringify(report, null, 2)}\n`,
        );

        expect(sequence.filter((s) => s.status !== 'ok'), 'ticks that were not ok').toEqual([]);
        expect(sequence.every((s) => s.reserved <= 7 && s.launched <= 7)).toBe(true);
        expect(sequence.reduce((n, s) => n + s.launched, 0)).toBe(40);
        // Ten calls on each platform (Twilio and SignalWire share the Twilio part), each number once.
        expect(made).toEqual({ twilio_laml: 20, vapi: 10, retell: 10 });
        expect(sim.retell.stats().createdPerOrganisation).toEqual({ 'pool-retell': 10 });
        const everywhere = createdPerNumberEverywhere(sim);
        for (const n of numbers) expect(everywhere[n], n).toBe(1);
        const { rows } = await db.query<{ status: string; n: number }>(
          `select status::text, count(*)::int as n from public.contacts group by 1`,
        );
        expect(rows).toEqual([{ status: 'done', n: 40 }]);
        const { rows: byKind } = await db.query<{ provider: string; n: number }>(
          `select provider, count(*) filter (where status = 'completed')::int as n from public.calls group by 1 order by 1`,
        );
        expect(byKind).toEqual(['retell', 'signalwire', 'twilio', 'vapi'].map((provider) => ({ provider, n: 10 })));
        await expectInvariants(sim);
        expect(await overDialledNumbers(db, everywhere)).toEqual([]);
        await expectOneRunRowPerTick(runIds);
        // (Dispatch only inside the ticks here: no background dispatcher, so no lease is held.)
        expect((await dispatchLease(db))?.held ?? false).toBe(false);
        if (via === 'pgbouncer') expect(await pooledTransactions()).toBeGreaterThan(xactsBefore);
      },
      180_000,
    );
  }
});

describe('(b) the pooler drops its server connections mid-tick', () => {
  it('the tick finishes and records its run; the next ticks carry on; nothing is dialled twice', async () => {
    await seed(
      20,
      20,
      'provider_calls_per_second = 100, dispatch_concurrency = 5, dispatch_batch_size = 5, global_max_concurrent_calls = 100',
    );
    const sim = await simulator({ faults: { latencyMs: 1200 } });
    const env = functionsEnv(sim, {}, poolerDbUrl());
    const gw = await gateway(env);

    const running = tick(gw.url, env.CRON_SECRET!);
    expect(await waitFor('3 calls created at the provider', () => sim.stats().created >= 3, { timeoutMs: 20_000 })).toBe(true);
    // PgBouncer's server connections (SHOW SERVERS: remote_pid is the backend) are terminated while
    // create-call requests are in flight.
    const servers = await admin<{ database: string; remote_pid: string }>('show servers');
    const pids = servers.filter((s) => s.database === databaseName(poolerDbUrl())).map((s) => Number(s.remote_pid)).filter((p) =>
      p > 0
    );
    expect(pids.length).toBeGreaterThan(0);
    const { rows: killed } = await db.query<{ ok: boolean }>(
      'select pg_terminate_backend(pid) as ok from unnest($1::int[]) as pid',
      [pids],
    );
    expect(killed.some((k) => k.ok)).toBe(true);

    const answer = await running;
    expect(gw.child.exitCode, `the functions process died:\n${gw.logs.slice(-10).join('\n')}`).toBeNull();
    expect(answer.status, JSON.stringify(answer.body)).toBeGreaterThan(0);
    const runIds = [String(answer.body.run_id)];
    const [run] = await runRows();
    expect(run!.status).not.toBe('running');

    // Answers whose write was cut off are settled by their status callbacks; then tick to the end.
    await waitFor('every answer cut off to be settled by its callback', async () => {
      const { rows } = await db.query<{ n: number }>(
        `select count(*)::int as n from public.calls where status = 'dialing' and provider_call_id is null`,
      );
      return rows[0]!.n === 0;
    }, { timeoutMs: 20_000, orTimeout: 'return' });
    sim.setFaults({ latencyMs: null });
    // The tick released its lease through a fresh connection (or it expires after its TTL).
    await waitForDispatchLeaseExpiry(db);
    for (let i = 0; i < 8 && sim.stats().created < 20; i++) {
      const t = await tick(gw.url, env.CRON_SECRET!);
      expect(t.status, JSON.stringify(t.body)).toBe(200);
      expect(t.body.status).not.toBe('skipped');
      runIds.push(String(t.body.run_id));
      await waitFor('no active call', async () => (await activeCalls(db)) === 0, { timeoutMs: 20_000, orTimeout: 'return' });
    }
    expect(sim.stats().created).toBe(20);
    await expectInvariants(sim);
    await expectOneRunRowPerTick(runIds);
  }, 120_000);
});

describe('(c) a dispatcher is killed', () => {
  it('mid-tick: the next tick does not wait, it dials the rest; nothing is dialled twice', async () => {
    const { numbers } = await seed(
      6,
      6,
      'provider_calls_per_second = 100, dispatch_concurrency = 2, dispatch_batch_size = 2, global_max_concurrent_calls = 100, tick_budget_ms = 2000',
    );
    const sim = await simulator({ faults: { latencyMs: 1500, dropCallbackRate: 1 } });
    const env = functionsEnv(sim, {}, poolerDbUrl());
    const victim = await startGateway(env);
    cleanups.push(() => victim.stop('SIGKILL'));

    const killedTick = tick(victim.url, env.CRON_SECRET!);
    expect(await waitFor('1 call created at the provider', () => sim.stats().created >= 1, { timeoutMs: 20_000 })).toBe(true);
    await victim.stop('SIGKILL');
    expect((await killedTick).status, 'the killed tick never answered').toBe(0);
    const createdAtKill = sim.stats().created;
    const [killedRun] = await runRows();
    expect(killedRun!.status).toBe('running');

    sim.setFaults({ latencyMs: null, dropCallbackRate: null });
    const gw = await gateway(env);
    const next = await tick(gw.url, env.CRON_SECRET!);
    expect(next.status).toBe(200);
    expect(next.body.status, JSON.stringify(next.body)).toBe('ok');

    // The calls the killed tick had claimed stay dialing (never re-sent); the rest were dialled by
    // the next tick, once each.
    const { rows: byRun } = await db.query<{ run: string; n: number }>(
      `select dispatch_run_id::text as run, count(*)::int as n from public.calls where dialed_at is not null group by 1`,
    );
    const claimedBy = Object.fromEntries(byRun.map((r) => [r.run, r.n]));
    expect(createdAtKill).toBeGreaterThan(0);
    expect((claimedBy[killedRun!.id] ?? 0) + Number(next.body.launched)).toBe(numbers.length);
    expect(sim.stats().created).toBe(createdAtKill + Number(next.body.launched));
    await expectInvariants(sim, { allowRunning: true });
    await expectOneRunRowPerTick([String(next.body.run_id)], 1);
  }, 120_000);

  it('in the background: its lease outlives it, the next tick takes it over at once; nothing is dialled twice', async () => {
    const { numbers } = await seed(
      12,
      12,
      'provider_calls_per_second = 2, rate_margin_ms = 200, dispatch_concurrency = 2, global_max_concurrent_calls = 100, tick_budget_ms = 2000, background_dispatch_ms = 60000',
    );
    const sim = await simulator({ faults: { dropCallbackRate: 1 } });
    const env = functionsEnv(sim, {}, poolerDbUrl());
    const victim = await startGateway(env);
    cleanups.push(() => victim.stop('SIGKILL'));

    const first = await tick(victim.url, env.CRON_SECRET!);
    expect(first.body).toMatchObject({ status: 'ok' });
    expect(first.body.continues_until).not.toBeNull();
    await waitFor('the background dispatcher holds the lease', async () => (await dispatchLease(db))?.held === true);
    await waitFor('a call dialled in the background', () => sim.stats().created > Number(first.body.launched));
    await victim.stop('SIGKILL');
    const deadLease = await dispatchLease(db);
    expect(deadLease, 'the dead holder still holds the lease').toMatchObject({ held: true });

    const gw = await gateway(env);
    await db.query(`update public.scheduler_settings set background_dispatch_ms = 4000`);
    const next = await tick(gw.url, env.CRON_SECRET!);
    expect(next.body.status, JSON.stringify(next.body)).toBe('ok');
    await waitFor(
      'the next tick took the lease over',
      async () => (await dispatchLease(db))?.holder.startsWith(`run ${String(next.body.run_id)} `),
    );
    expect(BigInt((await dispatchLease(db))!.token)).toBeGreaterThan(BigInt(deadLease!.token));
    await waitFor(
      'the run finished',
      async () => (await runRows()).find((r) => r.id === String(next.body.run_id))?.status === 'ok',
      { timeoutMs: 30_000 },
    );
    const run = (await runRows()).find((r) => r.id === String(next.body.run_id))!;
    expect(run.calls_launched).toBeGreaterThan(0);
    // What the dead dispatcher had claimed but not sent stays dialing (never re-sent; the reaper
    // settles it): every number reached the provider at most once.
    for (const n of numbers) expect(sim.stats().createdPerNumber[n] ?? 0, n).toBeLessThanOrEqual(1);
    await expectInvariants(sim, { allowRunning: true });
  }, 120_000);
});

describe('(d) a second tick while a background dispatcher holds the lease', () => {
  it('helps, then takes the lease over; the first stops claiming and finishes its run (handed over)', async () => {
    const { numbers } = await seed(
      16,
      16,
      'provider_calls_per_second = 2, rate_margin_ms = 200, dispatch_concurrency = 2, global_max_concurrent_calls = 100, tick_budget_ms = 2000, background_dispatch_ms = 60000',
    );
    const sim = await simulator({ faults: { dropCallbackRate: 1 } });
    const env = functionsEnv(sim, {}, poolerDbUrl());
    const gw = await gateway(env);

    const first = await tick(gw.url, env.CRON_SECRET!);
    expect(first.body).toMatchObject({ status: 'ok' });
    await waitFor(
      'the first tick dials in the background',
      async () => (await dispatchLease(db))?.holder.startsWith(`run ${String(first.body.run_id)} `),
    );
    await db.query(`update public.scheduler_settings set background_dispatch_ms = 3000`);
    const second = await tick(gw.url, env.CRON_SECRET!);
    expect(second.body).toMatchObject({ status: 'ok', skipped: false });

    await waitFor('both runs finished', async () => (await runRows()).every((r) => r.status !== 'running'), {
      timeoutMs: 30_000,
    });
    const { rows } = await db.query<{ id: string; details: Record<string, unknown> }>(
      `select id::text, details from public.scheduler_runs order by id`,
    );
    expect(rows[0]!.details).toMatchObject({ handed_over: true });
    expect(rows[1]!.details).toMatchObject({ handed_over: false });
    await expectOneRunRowPerTick([String(first.body.run_id), String(second.body.run_id)]);
    expect(await dispatchLease(db)).toMatchObject({ held: false });
    for (const n of numbers) expect(sim.stats().createdPerNumber[n] ?? 0, n).toBeLessThanOrEqual(1);
    await expectInvariants(sim);
  }, 90_000);
});

describe('(e) the lease is taken from a holder that still works', () => {
  it('the old holder notices before it claims more (fencing) and stops; nothing is dialled twice', async () => {
    const { numbers } = await seed(
      12,
      12,
      'provider_calls_per_second = 2, rate_margin_ms = 200, dispatch_concurrency = 1, dispatch_batch_size = 1, global_max_concurrent_calls = 100, tick_budget_ms = 2000, background_dispatch_ms = 60000',
    );
    const sim = await simulator({ faults: { dropCallbackRate: 1 } });
    const env = functionsEnv(sim, {}, poolerDbUrl());
    const gw = await gateway(env);

    const old = await tick(gw.url, env.CRON_SECRET!);
    await waitFor('the background dispatcher holds the lease', async () => (await dispatchLease(db))?.held === true);
    const oldLease = await dispatchLease(db);

    // Another holder takes the lease over, and counts what the old holder had claimed by then:
    // claims take the lease row FOR SHARE, so none can slip in between.
    await db.query('begin');
    const { rows: taken } = await db.query<{ acquired: boolean; token: string }>(
      `select acquired, token::text as token from public.acquire_scheduler_lease('dispatch', 'usurper (test)', 3600000, now(), true)`,
    );
    const { rows: claimed } = await db.query<{ n: number }>(
      `select count(*)::int as n from public.calls where status <> 'queued'`,
    );
    await db.query('commit');
    expect(taken[0]).toMatchObject({ acquired: true });
    expect(BigInt(taken[0]!.token)).toBeGreaterThan(BigInt(oldLease!.token));
    const claimedAtTakeover = claimed[0]!.n;
    expect(claimedAtTakeover).toBeLessThan(numbers.length);

    await waitFor('the old run finished', async () => (await runRows()).every((r) => r.status !== 'running'), {
      timeoutMs: 20_000,
    });
    const { rows: runs } = await db.query<{ status: string; details: Record<string, unknown>; calls_launched: number }>(
      `select status::text, details, calls_launched from public.scheduler_runs where id = $1`,
      [String(old.body.run_id)],
    );
    expect(runs[0]).toMatchObject({ status: 'ok', details: expect.objectContaining({ handed_over: true }) });
    // It claimed nothing after the takeover; what it had sent was answered and recorded.
    expect(await db.query(`select count(*)::int as n from public.calls where status <> 'queued'`).then((r) => r.rows[0].n)).toBe(
      claimedAtTakeover,
    );
    expect(sim.stats().created).toBe(claimedAtTakeover);
    expect(runs[0]!.calls_launched).toBe(claimedAtTakeover);
    await expectInvariants(sim);
  }, 90_000);
});

describe('which URL the functions use', () => {
  it('DATABASE_URL (the pooler) wins over SUPABASE_DB_URL, which Supabase sets to the direct connection', async () => {
    await seed(3, 3, 'provider_calls_per_second = 100, global_max_concurrent_calls = 100');
    const sim = await simulator();
    // SUPABASE_DB_URL cannot be overridden on a Supabase project (the SUPABASE_ prefix is
    // reserved): the pooler's URL comes in DATABASE_URL. Here SUPABASE_DB_URL leads nowhere.
    const env = functionsEnv(sim, { DATABASE_URL: poolerDbUrl() }, await unreachableDbUrl());
    const gw = await gateway(env);
    const before = await pooledTransactions();
    const t = await tick(gw.url, env.CRON_SECRET!);
    expect(t.body).toMatchObject({ status: 'ok', launched: 3 });
    expect(await pooledTransactions()).toBeGreaterThan(before);
    await waitFor('no active call', async () => (await activeCalls(db)) === 0, { timeoutMs: 20_000, orTimeout: 'return' });
    await expectInvariants(sim);
  }, 60_000);
});
