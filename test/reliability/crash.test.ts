// Crashes and faults in the middle of a tick, with the real Deno functions (test/support/functions.ts)
// talking to the Twilio simulator, and what recovery looks like afterwards:
//
//   * the functions process is SIGKILLed while create-call requests are in flight;
//   * the database backends of a running tick are terminated (pg_terminate_backend on the
//     connections named 'campaign-scheduler': PgBouncer's server connections under `npm test`);
//   * PostgreSQL itself restarts during a tick (a dedicated throwaway cluster, so nobody else's
//     database goes down);
//   * the provider is down (every create-call request gets 503) for several ticks, then comes back.
//
// After recovery: no call id was sent to the provider twice and no number was called more often than
// its attempts say (invariant 4), no call is lost (every call is final, or active with a path to
// final: the reaper), caps held and slots freed (1, 6), and the run log says what happened (5):
// the crashed run is marked failed by housekeeping, the others finished.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapSupabaseShape, type LocalDb, pushMigrations, startLocalDb, stopCluster } from '../../scripts/stack/localdb.ts';
import { missingPrerequisites } from '../../scripts/stack/prereqs.ts';
import { type SimOptions, startTwilioSimulator, type TwilioSimulator } from '../../scripts/twilio-sim/server.ts';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { sleep, waitFor } from '../support/clock.ts';
import { connect, disableCronJobs, resetData, waitForDispatchLeaseExpiry } from '../support/db.ts';
import { functionsEnv, type Gateway, startGateway, tick } from '../support/functions.ts';
import { createdPerCall, invariantViolations, overDialledNumbers } from '../support/invariants.ts';
import { ACTIVE, activeCalls } from '../support/rows.ts';
import { installTestsSchema } from '../../scripts/tests-schema.ts';
import type { InDoubtCounts } from '../../supabase/functions/_shared/calls-in-doubt.ts';

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
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function simulator(opts: SimOptions): Promise<TwilioSimulator> {
  const sim = await startTwilioSimulator({ seed: 7, timeScale: 0.01, ...opts });
  cleanups.push(() => sim.close());
  return sim;
}

async function gateway(env: Record<string, string | undefined>): Promise<Gateway> {
  const gw = await startGateway(env);
  cleanups.push(() => gw.stop('SIGKILL'));
  return gw;
}

/** One campaign of n contacts, callable at any hour, cap n; returns the numbers. */
async function seed(client: pg.ClientBase, n: number, settings: string): Promise<string[]> {
  // The crash is of a tick's own part (its background part, continuous dispatch, is off here).
  await client.query(`update public.scheduler_settings set background_dispatch_ms = 0, ${settings}`);
  const id = await createCampaign(client, { name: 'crash test', cap: n, maxAttempts: 3, retryDelay: '1 minute' });
  const numbers = freshPhones(n);
  await addContacts(client, id, numbers);
  return numbers;
}

/** Invariant 4 from the provider's side, and invariants 1-3 from the database's. */
async function expectNoDoubleDial(client: pg.ClientBase, sim: TwilioSimulator): Promise<void> {
  const perCall = createdPerCall(sim.calls());
  expect([...perCall].filter(([, n]) => n > 1), 'call ids the provider created more than once').toEqual([]);
  expect(await overDialledNumbers(client, sim.stats().createdPerNumber)).toEqual([]);
  expect(await invariantViolations(client, { allowRunning: true })).toEqual([]);
}

/** Every call the provider created is one of ours that we consider dialled. */
async function expectProviderCallsKnown(client: pg.ClientBase, sim: TwilioSimulator): Promise<void> {
  const ids = [...createdPerCall(sim.calls()).keys()];
  const { rows } = await client.query<{ id: string }>(
    `select id::text from public.calls where id = any($1::bigint[]) and dialed_at is not null`,
    [ids],
  );
  expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
}

/**
 * Invariant 6 after a crash: the reaper (housekeeping with the clock past stuck_call_timeout and
 * abandoned_run_timeout) leaves nothing active, no contact in progress, no run running.
 */
async function expectNothingLostAfterReaper(client: pg.ClientBase, reaperClock = "now() + interval '5 hours'"): Promise<void> {
  await client.query(`select public.run_housekeeping(${reaperClock})`);
  const { rows } = await client.query<{ what: string; n: string }>(
    `select 'active calls' as what, count(*) as n from public.calls where status in ${ACTIVE}
     union all select 'contacts in progress', count(*) from public.contacts where status = 'in_progress'
     union all select 'runs running', count(*) from public.scheduler_runs where status = 'running'
     union all select 'calls without a final timestamp', count(*) from public.calls where status not in ${ACTIVE} and ended_at is null`,
  );
  expect(Object.fromEntries(rows.map((r) => [r.what, Number(r.n)]))).toEqual({
    'active calls': 0,
    'contacts in progress': 0,
    'runs running': 0,
    'calls without a final timestamp': 0,
  });
}

async function runLog(
  client: pg.ClientBase,
): Promise<Array<{ id: string; status: string; errors: Array<{ stage: string; message: string }> }>> {
  const { rows } = await client.query(`select id::text, status::text, errors from public.scheduler_runs order by id`);
  return rows;
}

/**
 * Ticks until nothing is queued (or `max` ticks), then waits for the provider's callbacks to end the
 * calls those ticks dialled (calls of `crashedRunId` may wait for the reaper: their callbacks died).
 */
async function tickUntilDrained(
  client: pg.ClientBase,
  functionsUrl: string,
  cronSecret: string,
  crashedRunId: string | null = null,
  max = 10,
): Promise<number> {
  // A crashed (or cut-off) holder's dispatch lease is not released: it expires after its TTL, and
  // ticks before that are skipped.
  await waitForDispatchLeaseExpiry(client);
  let ticks = 0;
  for (; ticks < max; ticks++) {
    const { rows } = await client.query<{ n: string }>(
      `select count(*) as n from public.calls where status = 'queued'
       union all select count(*) from public.contacts where status = 'pending' and next_attempt_at <= now() and attempts < 3`,
    );
    if (rows.every((r) => Number(r.n) === 0)) break;
    const r = await tick(functionsUrl, cronSecret);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
  await waitFor('the calls of the draining ticks to end', async () => {
    const { rows } = await client.query<{ n: string }>(
      `select count(*) as n from public.calls where status in ${ACTIVE} and dispatch_run_id is distinct from $1::bigint`,
      [crashedRunId],
    );
    return Number(rows[0]!.n) === 0;
  }, { timeoutMs: 20_000, orTimeout: 'return' });
  return ticks;
}

describe('a crash of the functions process', () => {
  it('SIGKILLed mid-dispatch: nothing is sent twice, the reaper settles what was in flight, the run is marked failed', async () => {
    const numbers = await seed(
      db,
      30,
      'provider_calls_per_second = 20, dispatch_concurrency = 4, global_max_concurrent_calls = 100',
    );
    const sim = await simulator({ faults: { latencyMs: [300, 800] } });
    const env = functionsEnv(sim);
    const first = await gateway(env);

    const killedTick = tick(first.url, env.CRON_SECRET!);
    expect(await waitFor('8 calls created at the provider', () => sim.stats().created >= 8, { timeoutMs: 20_000 })).toBe(true);
    await first.stop('SIGKILL');
    const killed = await killedTick;
    expect(killed.status, 'the killed tick never answered').toBe(0);

    // Right after the crash: the run is still 'running', some calls are stuck in flight (their
    // create-call answer or their callbacks died with the process: dialing, or ringing when an early
    // callback reached the database before the crash), the caps hold.
    expect(await invariantViolations(db, { allowRunning: true })).toEqual([]);
    const [crashedRun] = await runLog(db);
    expect(crashedRun?.status).toBe('running');
    const { rows: stuck } = await db.query<{ n: string }>(
      `select count(*) as n from public.calls where status in ('dialing', 'unknown', 'ringing', 'in_progress')`,
    );
    expect(Number(stuck[0]!.n)).toBeGreaterThan(0);

    // Recovery: a new process; housekeeping later than stuck_call_timeout, max_call_duration and
    // abandoned_run_timeout expires the stuck calls (dialing or ringing) and fails the crashed run;
    // ticks dispatch the rest.
    const second = await gateway(env);
    const hk = await db.query<{ h: { calls_expired: number; runs_abandoned: number } }>(
      `select public.run_housekeeping(now() + greatest(s.stuck_call_timeout, s.max_call_duration, s.abandoned_run_timeout)
                                            + interval '1 minute') as h
         from public.scheduler_settings s`,
    );
    expect(hk.rows[0]!.h.calls_expired).toBeGreaterThan(0);
    expect(hk.rows[0]!.h.runs_abandoned).toBe(1);
    await tickUntilDrained(db, second.url, env.CRON_SECRET!, crashedRun!.id);

    await expectNoDoubleDial(db, sim);
    await expectProviderCallsKnown(db, sim);
    // Every number was called at least once (those stuck in the crash count as a failed attempt).
    const { rows: attempts } = await db.query<{ phone: string; attempts: number }>(`select phone, attempts from public.contacts`);
    expect(attempts.filter((a) => a.attempts === 0).map((a) => a.phone)).toEqual([]);
    expect(attempts).toHaveLength(numbers.length);

    const log = await runLog(db);
    expect(log[0]).toMatchObject({ id: crashedRun!.id, status: 'failed' });
    expect(log[0]!.errors.map((e) => e.stage)).toContain('abandoned');
    expect(log.slice(1).every((r) => r.status === 'ok' || r.status === 'partial')).toBe(true);
    await expectNothingLostAfterReaper(db);
  });
});

describe('a crash of the functions process, then the calls in doubt looked up at the provider', () => {
  it('SIGKILLed mid-dispatch: the next tick settles what the provider placed, retries what it never placed, and dials nobody twice', async () => {
    const numbers = await seed(
      db,
      30,
      'provider_calls_per_second = 20, dispatch_concurrency = 4, global_max_concurrent_calls = 100',
    );
    const sim = await simulator({ faults: { latencyMs: [300, 800] } });
    const env = functionsEnv(sim);
    const first = await gateway(env);

    const killedTick = tick(first.url, env.CRON_SECRET!);
    expect(await waitFor('8 calls created at the provider', () => sim.stats().created >= 8, { timeoutMs: 20_000 })).toBe(true);
    await first.stop('SIGKILL');
    expect((await killedTick).status, 'the killed tick never answered').toBe(0);
    // The calls the provider placed end there; their callbacks find no function to answer them.
    await waitFor("the provider's calls to end", () => sim.calls().every((c) => c.endedAt !== null), { timeoutMs: 20_000 });
    const { rows: inDoubt } = await db.query<{ status: string; n: number }>(
      `select status::text, count(*)::int as n from public.calls where status in ${ACTIVE} and status <> 'queued' group by 1`,
    );
    const doubtful = inDoubt.reduce((a, r) => a + r.n, 0);
    expect(doubtful).toBeGreaterThan(0);

    // provider_check_after (2 minutes) later, as far as these calls are concerned.
    await db.query(
      `update public.calls set dialed_at = dialed_at - interval '3 minutes', ringing_at = ringing_at - interval '3 minutes',
              answered_at = answered_at - interval '3 minutes'
        where status in ('dialing', 'unknown', 'ringing', 'in_progress')`,
    );
    const second = await gateway(env);
    await waitForDispatchLeaseExpiry(db);
    // The calls the provider placed before the crash (the tick below places new ones too).
    const placedBefore = sim.calls().map((c) => c.sid);
    const r = await tick(second.url, env.CRON_SECRET!);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const run = await db.query<{ in_doubt: InDoubtCounts }>(
      `select details -> 'in_doubt' as in_doubt from public.scheduler_runs where id = $1`,
      [(r.body as { run_id: string }).run_id],
    );
    const figures = run.rows[0]!.in_doubt;
    // What the crash left in doubt, and what asking the provider made of it.
    console.log(
      `crash run: ${doubtful} calls in doubt after the crash (${inDoubt.map((x) => `${x.n} ${x.status}`).join(', ')}); ` +
        `looked up ${figures.looked_up}: ${figures.found} settled from the provider's answer, ` +
        `${figures.not_placed} never placed (retried), ${figures.kept} kept for the reaper, ${figures.failed_lookups} failed lookups`,
    );
    const said = JSON.stringify({ inDoubt, figures, errors: (r.body as { errors?: unknown }).errors });
    expect(figures.looked_up, said).toBe(doubtful);
    expect(figures.failed_lookups, said).toBe(0);
    expect(figures.found + figures.not_placed, said).toBe(doubtful);
    // Every call the provider placed is settled with the provider's own outcome: not left to the reaper.
    const { rows: placedOpen } = await db.query<{ n: number }>(
      `select count(*)::int as n from public.calls
        where provider_call_id = any($1::text[]) and status in ${ACTIVE}`,
      [placedBefore],
    );
    expect(placedOpen[0]!.n, said).toBe(0);

    await tickUntilDrained(db, second.url, env.CRON_SECRET!);
    await expectNoDoubleDial(db, sim);
    await expectProviderCallsKnown(db, sim);
    const { rows: attempts } = await db.query<{ phone: string; attempts: number }>(`select phone, attempts from public.contacts`);
    expect(attempts.filter((a) => a.attempts === 0).map((a) => a.phone)).toEqual([]);
    expect(attempts).toHaveLength(numbers.length);
    await expectNothingLostAfterReaper(db);
  });
});

describe('the database connections of a running tick are terminated', () => {
  it('the tick survives, records what the provider answered, and the next tick carries on', async () => {
    await seed(db, 20, 'provider_calls_per_second = 100, dispatch_concurrency = 10, global_max_concurrent_calls = 100');
    const sim = await simulator({ faults: { latencyMs: 1500 } });
    const env = functionsEnv(sim);
    const gw = await gateway(env);

    const running = tick(gw.url, env.CRON_SECRET!);
    expect(await waitFor('5 calls created at the provider', () => sim.stats().created >= 5, { timeoutMs: 20_000 })).toBe(true);
    // The tick's connections (the lock holder, the dispatcher's) are the pool's: application_name
    // 'campaign-scheduler', in this database (other test workers' run in the same cluster).
    // Create-call requests are in flight meanwhile.
    const { rows: killedBackends } = await db.query<{ pid: number }>(
      `select pid from pg_stat_activity
        where application_name = 'campaign-scheduler' and datname = current_database() and pid <> pg_backend_pid()`,
    );
    expect(killedBackends.length).toBeGreaterThan(0);
    await db.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where application_name = 'campaign-scheduler' and datname = current_database()`,
    );

    const answer = await running;
    await sleep(200);
    expect(gw.child.exitCode, `the functions process died:\n${gw.logs.slice(-10).join('\n')}`).toBeNull();
    expect(answer.status, `the tick got no answer: ${JSON.stringify(answer.body)}`).toBeGreaterThan(0);

    // The run row is finished (ok, partial or failed: it says what happened), not left running.
    const log = await runLog(db);
    expect(log).toHaveLength(1);
    expect(log[0]!.status).not.toBe('running');

    // The answers of the requests in flight were recorded through fresh connections.
    await waitFor('every answer in flight to be recorded', async () => {
      const { rows } = await db.query<{ n: string }>(
        `select count(*) as n from public.calls where status = 'dialing' and provider_call_id is null`,
      );
      return Number(rows[0]!.n) === 0;
    }, { timeoutMs: 10_000, orTimeout: 'return' });
    await tickUntilDrained(db, gw.url, env.CRON_SECRET!);
    await expectNoDoubleDial(db, sim);
    await expectProviderCallsKnown(db, sim);
    expect(sim.stats().created).toBe(20);
    await expectNothingLostAfterReaper(db);
  });
});

describe('PostgreSQL restarts during a tick', () => {
  const prerequisites = missingPrerequisites('database', { external: false }).map((r) => r.package);

  // A dedicated throwaway cluster: restarting the shared test database would break other suites.
  it.skipIf(prerequisites.length > 0)(
    'the functions keep running, reconnect, and nothing is sent twice or lost',
    async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'ccs-restart-'));
      const external = process.env.DATABASE_URL;
      let cluster: LocalDb | undefined;
      let restarted: LocalDb | undefined;
      let own: pg.Client | undefined;
      // startLocalDb() uses DATABASE_URL when set: hide it while we start our own cluster.
      delete process.env.DATABASE_URL;
      try {
        cluster = await startLocalDb({ persistent: false, dir, log: () => undefined });
      } finally {
        if (external !== undefined) process.env.DATABASE_URL = external;
      }
      cleanups.push(async () => {
        await own?.end().catch(() => undefined);
        await (restarted ?? cluster)?.stop();
        await rm(dir, { recursive: true, force: true });
      });
      await bootstrapSupabaseShape(cluster.url);
      await pushMigrations(cluster.url, { log: () => undefined });
      await installTestsSchema(cluster.url);
      own = await connect(cluster.url);
      await disableCronJobs(own);
      // A fresh cluster keeps the seeded calling-hours rules (resetData empties them elsewhere):
      // the tick runs on the wall clock, which the US federal rule would make depend on the hour.
      await own.query('update public.calling_hours_rules set enabled = false');
      await seed(own, 20, 'provider_calls_per_second = 50, dispatch_concurrency = 5, global_max_concurrent_calls = 100');

      const sim = await simulator({ faults: { latencyMs: 1000 } });
      const env = functionsEnv(sim, {}, cluster.url);
      const gw = await gateway(env);

      const running = tick(gw.url, env.CRON_SECRET!);
      expect(await waitFor('3 calls created at the provider', () => sim.stats().created >= 3, { timeoutMs: 20_000 })).toBe(true);
      await own.end();
      own = undefined;
      expect(await stopCluster(path.join(dir, 'data'))).toBe(true);
      await sleep(500);
      delete process.env.DATABASE_URL;
      try {
        restarted = await startLocalDb({ persistent: false, dir, port: cluster.port, log: () => undefined });
      } finally {
        if (external !== undefined) process.env.DATABASE_URL = external;
      }
      const answer = await running;
      await sleep(200);
      expect(gw.child.exitCode, `the functions process died:\n${gw.logs.slice(-10).join('\n')}`).toBeNull();
      expect(answer.status).toBeGreaterThan(0);

      own = await connect(restarted.url);
      // The next tick works on fresh connections.
      const next = await tick(gw.url, env.CRON_SECRET!);
      expect(next.status, JSON.stringify(next.body)).toBe(200);

      // Whatever the restart cut off (answers never recorded, a run never finished) is settled by
      // housekeeping once stuck_call_timeout and abandoned_run_timeout have passed.
      await own.query(`select public.run_housekeeping(now() + interval '16 minutes')`);
      const [cutOffRun] = await runLog(own);
      await tickUntilDrained(own, gw.url, env.CRON_SECRET!, cutOffRun?.id ?? null);
      await expectNoDoubleDial(own, sim);
      await expectProviderCallsKnown(own, sim);
      const log = await runLog(own);
      expect(log.length).toBeGreaterThanOrEqual(2);
      expect(log.every((r) => r.status !== 'running')).toBe(true);
      await expectNothingLostAfterReaper(own);
    },
    120_000,
  );
});

describe('the provider is down for several ticks, then comes back', () => {
  it('requeues without counting attempts, opens the breaker, probes, then dials everyone exactly once', async () => {
    const numbers = await seed(
      db,
      10,
      `provider_calls_per_second = 50, dispatch_concurrency = 2, breaker_failure_threshold = 3,
       breaker_cooldown = '1 second', global_max_concurrent_calls = 100`,
    );
    const sim = await simulator({ faults: { outage: true }, outcomes: { completed: 1, 'no-answer': 0, busy: 0, failed: 0 } });
    const env = functionsEnv(sim);
    const gw = await gateway(env);

    // Down: 503s (not created: retryable), the breaker opens after 3 in a row.
    const down1 = await tick(gw.url, env.CRON_SECRET!);
    expect(down1.status).toBe(200);
    expect(down1.body).toMatchObject({ launched: 0, breaker: 'open' });
    expect(Number(down1.body.requeued)).toBeGreaterThanOrEqual(3);
    // Still open: nothing is sent at all.
    const down2 = await tick(gw.url, env.CRON_SECRET!);
    expect(down2.body).toMatchObject({ status: 'partial', launched: 0, requeued: 0 });
    // After the cool-down one probe goes out, fails, and the breaker opens again.
    await sleep(1100);
    const requestsBefore = sim.stats().createRequests;
    const down3 = await tick(gw.url, env.CRON_SECRET!);
    expect(down3.body).toMatchObject({ launched: 0, breaker: 'open' });
    expect(sim.stats().createRequests - requestsBefore).toBe(1);
    expect(sim.stats().created).toBe(0);

    const { rows: during } = await db.query<{ attempts: number; status: string }>(`select attempts, status from public.contacts`);
    expect(during.every((c) => c.attempts === 0), 'a 503 is not an attempt').toBe(true);
    expect(await invariantViolations(db)).toEqual([]);

    // Back: the next probe succeeds, the breaker closes, the rest follow.
    sim.setFaults({ outage: false });
    await sleep(1100);
    for (let i = 0; i < 10; i++) {
      const { rows } = await db.query<{ n: string }>(`select count(*) as n from public.calls where status = 'queued'`);
      if (Number(rows[0]!.n) === 0 && i > 0) break;
      const up = await tick(gw.url, env.CRON_SECRET!);
      expect(up.status).toBe(200);
      await sleep(1100); // requeued calls wait out their backoff (dispatch_after)
    }
    await waitFor('no active call', async () => (await activeCalls(db)) === 0, { timeoutMs: 20_000, orTimeout: 'return' });

    // Everyone dialled exactly once, every attempt counted once, the slots freed.
    expect(sim.stats().createdPerNumber).toEqual(Object.fromEntries(numbers.map((n) => [n, 1])));
    expect(sim.stats().rejected['20503']).toBeGreaterThanOrEqual(4);
    const { rows: contacts } = await db.query<{ attempts: number; status: string }>(
      `select attempts, status::text from public.contacts`,
    );
    expect(contacts.every((c) => c.attempts === 1 && c.status === 'done')).toBe(true);
    await expectNoDoubleDial(db, sim);

    // The run log tells the story: requeues while down, the open breaker, then the dispatches.
    const { rows: runs } = await db.query<
      {
        status: string;
        calls_requeued: number;
        calls_launched: number;
        breaker_state: string | null;
        errors: Array<{ message: string }>;
      }
    >(
      `select status::text, calls_requeued, calls_launched, breaker_state, errors from public.scheduler_runs order by id`,
    );
    expect(runs[0]).toMatchObject({ breaker_state: 'open', calls_launched: 0 });
    expect(runs[1]!.errors.map((e) => e.message).join(' ')).toMatch(/circuit breaker .* is open/);
    expect(runs.reduce((n, r) => n + r.calls_launched, 0)).toBe(numbers.length);
    expect(runs.at(-1)?.breaker_state).toBe('closed');
    const { rows: breaker } = await db.query(`select state, consecutive_failures from public.provider_circuit_breakers`);
    expect(breaker).toEqual([{ state: 'closed', consecutive_failures: 0 }]);
  });
});
