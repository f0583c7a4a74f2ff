// Load on loopback: 10,000 calls reserved by launch_due_calls() and dispatched by runTick() under
// Node (the Edge Function's own code: createPool, TwilioProvider) to the Twilio simulator running in
// its own process, while signed status callbacks arrive at ~200/s for ~10 s at the real call-status
// function (the Deno gateway). The test asserts correctness only: every call created at the provider
// exactly once, nothing lost, caps held. It prints the figures (calls/s, callbacks/s) and never
// asserts a time. LOAD_CALLS=<n> changes the size (the benchmark measures scale; LOAD_CALLS=50000 runs
// the size this test had before). The callbacks stop when the dispatch ends, so they stream in while
// calls are dispatched; 10,000 calls take longer to dispatch than CALLBACK_SECONDS on this machine.

import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../supabase/functions/_shared/log.ts';
import { createPool } from '../../supabase/functions/_shared/pool.ts';
import { runTick, type TickResult } from '../../supabase/functions/_shared/tick.ts';
import { TwilioProvider } from '../../supabase/functions/_shared/twilio.ts';
import { CALLER_ID, DUE_SINCE } from '../support/builders.ts';
import { sleep } from '../support/clock.ts';
import { connect, disableCronJobs, resetData, testDbUrl } from '../support/db.ts';
import { type SimProcess, startSimProcess } from '../../scripts/twilio-sim/process.ts';
import { functionsEnv, type Gateway, signedCallback, startGateway } from '../support/functions.ts';
import { invariantViolations } from '../support/invariants.ts';
import { ACTIVE } from '../support/rows.ts';

const CALLS = Number(process.env.LOAD_CALLS ?? 10_000);
const CAMPAIGNS = 10;
const CALLBACKS_PER_SECOND = 200;
const CALLBACK_SECONDS = 10;

interface SimStatsLike {
  createRequests: number;
  created: number;
  createdPerNumber: Record<string, number>;
  requestsPerNumber: Record<string, number>;
  rejected: Record<string, number>;
}

const quiet: Logger & { errors: string[] } = {
  errors: [],
  log(level, event, fields) {
    if (level === 'error') this.errors.push(`${event} ${JSON.stringify(fields ?? {})}`);
  },
  info() {},
  warn() {},
  error(event, fields) {
    this.errors.push(`${event} ${JSON.stringify(fields ?? {})}`);
  },
};

let db: pg.Client;
let sim: SimProcess | undefined;
let gw: Gateway | undefined;

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
  await resetData(db);
});

afterAll(async () => {
  await gw?.stop('SIGKILL');
  sim?.child.kill('SIGKILL');
  await resetData(db).catch(() => undefined); // 10k rows (past resetData's truncate size) would slow down the next file's first reset
  await db?.end();
});

describe(`load: ${CALLS} calls on loopback`, () => {
  it(
    'dispatches every queued call exactly once while signed callbacks stream in; nothing lost, caps held',
    async () => {
      sim = await startSimProcess(['--seed', '11', '--no-callbacks']);
      gw = await startGateway(functionsEnv(sim));

      // Seed set-based: CAMPAIGNS campaigns, CALLS contacts, caps large enough for all of them.
      const perCampaign = Math.ceil(CALLS / CAMPAIGNS);
      await db.query(
        `update public.scheduler_settings
            set global_max_concurrent_calls = $1, provider_calls_per_second = 10000, dispatch_concurrency = 100,
                dispatch_batch_size = 200, queued_call_ttl = '1 day', provider_request_timeout_ms = 10000`,
        [Math.max(CALLS, 50_000)],
      );
      await db.query(
        `select tests.create_campaign(name => 'load ' || g, cap => $1, window_start => '00:00', window_end => '24:00',
                                      window_days => '{1,2,3,4,5,6,7}')
           from generate_series(1, $2) g`,
        [perCampaign, CAMPAIGNS],
      );
      await db.query(
        `select count(*)
           from public.campaigns c,
                tests.add_contacts(campaign_id => c.id, how_many => least($1::integer, $2::integer - (c.id::integer - 1) * $1::integer),
                                   next_attempt_at => $3)`,
        [perCampaign, CALLS, DUE_SINCE],
      );

      let t = performance.now();
      const { rows: launched } = await db.query<{ reserved: number }>('select reserved from public.launch_due_calls(now())');
      const launchMs = performance.now() - t;
      expect(launched.reduce((n, r) => n + r.reserved, 0)).toBe(CALLS);

      const pool = createPool(testDbUrl(), 20);
      const functionsUrl = gw.url;
      const deps = {
        pool,
        provider: new TwilioProvider({ accountSid: sim.accountSid, authToken: sim.authToken, baseUrl: sim.url }),
        log: quiet,
        statusCallbackUrl: (callId: string) => `${functionsUrl}/call-status?call_id=${encodeURIComponent(callId)}`,
      };

      // Callbacks: ~200/s for ~10 s, for calls the provider has accepted, signed like Twilio's.
      const callbackStats = { sent: 0, applied: 0, otherAnswers: {} as Record<string, number> };
      let dispatching = true;
      const callbacks = (async () => {
        let lastId = 0;
        const started = performance.now();
        while (performance.now() - started < CALLBACK_SECONDS * 1000 && dispatching) {
          const second = performance.now();
          const { rows } = await db.query<{ id: string; sid: string }>(
            `select id::text, provider_call_id as sid from public.calls
              where status = 'dialing' and provider_call_id is not null and id > $1
              order by id limit $2`,
            [lastId, CALLBACKS_PER_SECOND],
          );
          lastId = Math.max(lastId, ...rows.map((r) => Number(r.id)));
          // Paced: one every 1000/CALLBACKS_PER_SECOND ms, at most 50 in flight.
          const inflight = new Set<Promise<void>>();
          for (const [i, r] of rows.entries()) {
            await sleep(Math.max(0, i * (1000 / CALLBACKS_PER_SECOND) - (performance.now() - second)));
            while (inflight.size >= 50) await Promise.race(inflight);
            const p = (async () => {
              const cb = await signedCallback(sim!.authToken, functionsUrl, r.id, {
                AccountSid: sim!.accountSid,
                CallSid: r.sid,
                CallStatus: 'completed',
                CallDuration: '17',
                To: '+15550000000',
                From: CALLER_ID,
              });
              callbackStats.sent++;
              const res = await fetch(cb.url, { method: 'POST', headers: cb.headers, body: cb.body });
              const body = (await res.json().catch(() => ({}))) as { result?: string };
              const key = `${res.status} ${body.result ?? ''}`.trim();
              if (key === '200 applied') callbackStats.applied++;
              else callbackStats.otherAnswers[key] = (callbackStats.otherAnswers[key] ?? 0) + 1;
            })();
            const tracked = p.finally(() => inflight.delete(tracked));
            inflight.add(tracked);
          }
          await Promise.all(inflight);
          await sleep(Math.max(0, 1000 - (performance.now() - second)));
        }
        return performance.now() - started;
      })();

      // Dispatch: runTick with a large budget, repeated until the queue is empty.
      t = performance.now();
      const ticks: TickResult[] = [];
      for (let i = 0; i < 20; i++) {
        const { rows } = await db.query<{ n: string }>(`select count(*) as n from public.calls where status = 'queued'`);
        if (Number(rows[0]!.n) === 0) break;
        ticks.push(await runTick(deps, { trigger: 'local', budgetMs: 120_000 }));
      }
      const dispatchMs = performance.now() - t;
      dispatching = false;
      const callbackMs = await callbacks;
      await pool.end();

      const launchedCalls = ticks.reduce((n, r) => n + r.launched, 0);
      const stats = (await (await fetch(`${sim.url}/__sim/stats`)).json()) as SimStatsLike;
      console.log(
        `[load] ${CALLS} calls: reserved in ${(launchMs / 1000).toFixed(2)} s; dispatched in ${
          (dispatchMs / 1000).toFixed(1)
        } s ` +
          `= ${Math.round((launchedCalls / dispatchMs) * 1000)} calls/s over ${ticks.length} tick(s) ` +
          `(concurrency 100, pool 20, simulator in its own process); callbacks: ${callbackStats.sent} sent in ` +
          `${(callbackMs / 1000).toFixed(1)} s = ${Math.round((callbackStats.sent / callbackMs) * 1000)}/s, ` +
          `${callbackStats.applied} applied, other answers ${JSON.stringify(callbackStats.otherAnswers)}`,
      );

      // Every call created exactly once; every create request answered and recorded.
      expect(ticks.every((r) => r.status === 'ok'), JSON.stringify(ticks.map((r) => [r.status, r.errors.slice(0, 3)]))).toBe(
        true,
      );
      expect(launchedCalls).toBe(CALLS);
      expect(stats.createRequests).toBe(CALLS);
      expect(stats.created).toBe(CALLS);
      expect(Object.keys(stats.createdPerNumber)).toHaveLength(CALLS);
      expect(Object.entries(stats.createdPerNumber).filter(([, n]) => n !== 1)).toEqual([]);
      expect(quiet.errors).toEqual([]);
      expect(callbackStats.applied).toBe(callbackStats.sent);
      expect(callbackStats.sent).toBeGreaterThan(0);

      const { rows: byStatus } = await db.query<{ status: string; n: string }>(
        `select status::text, count(*) as n from public.calls group by 1 order by 1`,
      );
      const counts = Object.fromEntries(byStatus.map((r) => [r.status, Number(r.n)]));
      expect(counts).toEqual({ completed: callbackStats.applied, dialing: CALLS - callbackStats.applied });
      const { rows: dialled } = await db.query<{ bad: string }>(
        `select count(*) as bad from public.calls where provider_call_id is null or dialed_at is null`,
      );
      expect(Number(dialled[0]!.bad)).toBe(0);
      const { rows: attempts } = await db.query<{ attempts: number; n: string }>(
        `select attempts, count(*) as n from public.contacts group by 1`,
      );
      expect(attempts).toEqual([{ attempts: 1, n: String(CALLS) }]);
      expect(await invariantViolations(db)).toEqual([]);

      // Nothing lost: the calls whose callbacks never came are expired by the reaper, slots freed.
      const { rows: hk } = await db.query<{ h: { calls_expired: number } }>(
        `select public.run_housekeeping(now() + interval '16 minutes') as h`,
      );
      expect(hk[0]!.h.calls_expired).toBe(CALLS - callbackStats.applied);
      const { rows: left } = await db.query<{ n: string }>(`select count(*) as n from public.calls where status in ${ACTIVE}`);
      expect(Number(left[0]!.n)).toBe(0);
      const { rows: contacts } = await db.query<{ status: string; n: string }>(
        `select status::text, count(*) as n from public.contacts group by 1 order by 1`,
      );
      expect(Object.fromEntries(contacts.map((r) => [r.status, Number(r.n)]))).toEqual({
        done: callbackStats.applied,
        pending: CALLS - callbackStats.applied,
      });
      const { rows: runs } = await db.query<{ status: string; calls_launched: number }>(
        `select status::text, calls_launched from public.scheduler_runs order by id`,
      );
      expect(runs.map((r) => r.status)).toEqual(ticks.map(() => 'ok'));
      expect(runs.reduce((n, r) => n + r.calls_launched, 0)).toBe(CALLS);
    },
    // Generous: the test asserts correctness, never time; a busy machine only makes it slower.
    20 * 60_000,
  );
});
