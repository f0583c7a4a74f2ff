// `npm run bench` dispatch part: calls created per second end to end by runTick() (claim queued
// calls, the Twilio adapter, the Twilio simulator on loopback, the result recorded), at zero and
// at 150 ms simulated provider latency, for a few dispatch concurrencies; next to a bare HTTP loop
// sending the same create-call requests to the same simulator with the same concurrency.
//
// Each run starts from fresh data: N queued calls reserved by launch_due_calls(), the rate set far
// above what is reached (provider_calls_per_second 10000, the product's rate_margin_ms) so only
// concurrency and latency bind. The
// simulator runs in its own process (as Twilio would be elsewhere: it must not share the
// dispatcher's event loop), with status callbacks off (a pure create-call throughput run), and is
// driven through its control API. The dispatcher reaches the database through PgBouncer in
// transaction mode (as the deployed functions reach Supabase's pooler on port 6543) unless the
// bench was told --direct. After each run: every call was created at the provider exactly once,
// every result was recorded, no 'dispatch' lease is left held, and invariants 1-3 hold.

import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { DISPATCH_LEASE } from '../../supabase/functions/_shared/lease.ts';
import { createPool } from '../../supabase/functions/_shared/pool.ts';
import type { Logger } from '../../supabase/functions/_shared/log.ts';
import { runTick } from '../../supabase/functions/_shared/tick.ts';
import { TwilioProvider } from '../../supabase/functions/_shared/twilio.ts';
import { BENCH_TWIML_URL, checkInvariants, truncateAll } from './data.ts';
import { type SimProcess, startSimProcess, stopSimProcess } from '../twilio-sim/process.ts';
import { summarize, type Summary } from './report.ts';
import { cpuSince, cpuSnapshot, formatCpuPerKilo, medianByRole, perKilo, postmasterOf } from './cpu-use.ts';

export interface DispatchRow {
  latencyMs: number;
  concurrency: number;
  /** Calls dispatched per run. */
  calls: number;
  oursCallsPerSecond: Summary;
  bareCallsPerSecond: Summary;
  /** How many times faster the bare HTTP loop is (bare / ours, medians). */
  bareOverOurs: number;
  /** Median tick duration, ms. */
  tickMs: Summary;
  /** Calls ours claimed but put back unsent (a missed rate slot, a 429 hold), per run. */
  oursRequeued: Summary;
  /**
   * CPU time per 1,000 calls by process role (dispatcher, postgres, pgbouncer, simulator), median
   * of the runs: what each call costs the machine, which a busy machine does not inflate as it does
   * wall-clock rates (cpu-use.ts). The bare loop's "dispatcher" is its HTTP client.
   */
  oursCpuPerKilo: Record<string, number>;
  bareCpuPerKilo: Record<string, number>;
  dbPoolSize: number;
  /** How the dispatcher reached the database: through PgBouncer (transaction mode) or directly. */
  via: 'pgbouncer' | 'direct';
  /** When a proposed runTick was measured in the same runs (bench --propose-tick). */
  proposedCallsPerSecond?: Summary;
  bareOverProposed?: number;
}

export type RunTick = typeof runTick;

export interface DispatchOptions {
  runs: number;
  quick: boolean;
  log: (s: string) => void;
  onInvariantFailure: (where: string, failures: string[]) => void;
  latencies?: number[];
  concurrencies?: number[];
  /** Pool size of the dispatcher (the Edge Function's DB_POOL_SIZE default, 20). */
  poolSize?: number;
  /** The dispatcher's database URL when it goes through a pooler (PgBouncer); default: the direct URL. */
  poolerUrl?: string;
  /** A candidate runTick measured beside ours, from the same fresh state, in the same runs. */
  proposedTick?: RunTick;
}

/** Simulated provider latencies (ms) and dispatch concurrencies measured unless told otherwise. */
export const DISPATCH_LATENCIES: readonly number[] = [0, 150];
export const DISPATCH_CONCURRENCIES: readonly number[] = [10, 50, 200];

const silent: Logger = { log: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const CAMPAIGNS = 20;
const TWIML_URL = BENCH_TWIML_URL;
const CALLBACK_BASE = 'http://127.0.0.1:9/functions/v1/call-status';

/**
 * Calls per run: about 2 s of work at the target rate (concurrency / latency, or 2,500/s at zero
 * latency; a fifth of a second with --quick, a smoke run), between 200 and 5,000.
 */
function callsFor(latencyMs: number, concurrency: number, quick: boolean): number {
  // With latency, a run fills the concurrency for one latency at its start and drains it for one at
  // its end, so even a loop without overhead reaches c / latency only in between: a run of 2 s at
  // 150 ms tops out near 93% of it, one of 6 s near 97.5%. Without latency, 2 s is plenty.
  const seconds = quick ? 0.2 : latencyMs > 0 ? 6 : 2;
  const rate = latencyMs > 0 ? concurrency / (latencyMs / 1000) : 2500;
  const most = latencyMs > 0 ? 8000 : 5000;
  return Math.max(200, Math.min(most, Math.round((rate * seconds) / CAMPAIGNS) * CAMPAIGNS));
}

/**
 * An IANA zone where it is 13:00-13:59 at `now` (Etc/GMT-N is UTC+N): the campaigns' zone, so the
 * bench's calls are inside the law's hours whatever the hour it runs at.
 */
export function afternoonZone(now: Date): string {
  const offset = ((13 - now.getUTCHours() + 36) % 24) - 12; // hours ahead of UTC, -12..+11
  return offset === 0 ? 'Etc/GMT' : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

/** Fresh data: CAMPAIGNS campaigns sharing n contacts, caps that fit them all, all reserved now. */
export async function seedQueued(c: pg.Client, n: number, concurrency: number): Promise<Date> {
  await truncateAll(c);
  await c.query('delete from public.provider_circuit_breakers');
  // One tick's own part is measured (background_dispatch_ms = 0: no continuous dispatch after it,
  // hence no 'dispatch' lease; see --only campaign for that). No lease is left held after a run
  // (checked after every run); the row goes too, so a run that broke that never makes the next one
  // wait out a TTL (budget + 5 s).
  await c.query('delete from public.scheduler_leases where name = $1', [DISPATCH_LEASE]);
  // The rate out of the way: the highest rate the settings allow, with the product's default margin
  // (rate_margin_ms 30). The margin also sets how late after its send slot a call may still go out
  // (rate_margin_ms / 2; a later one gives its slot up and goes back to the queue): with 0 every call
  // sent a fraction of a millisecond after its slot was put back, and a tick launched a few hundred
  // calls in two minutes. With 30 the bucket hands out 10,000 / 1.03 = 9,709 slots a second, above
  // what the bare loop reaches here.
  await c.query(
    `update public.scheduler_settings
        set global_max_concurrent_calls = 1000000, campaigns_per_tick = 100000, provider_calls_per_second = 10000,
            dispatch_concurrency = $1, queued_call_ttl = interval '1 hour', background_dispatch_ms = 0,
            rate_margin_ms = default`,
    [concurrency],
  );
  const per = n / CAMPAIGNS;
  await c.query(
    `insert into public.campaigns (name, status, max_concurrent_calls, caller_id, provider_settings, time_zone,
                                   window_start, window_end, window_days, max_attempts)
     select 'bench dispatch ' || g, 'QUEUED', $2, '+15550100000', jsonb_build_object('url', $3::text), $4,
            '00:00', '23:59:59', '{1,2,3,4,5,6,7}', 3
       from generate_series(1, $1::integer) g`,
    [CAMPAIGNS, per, TWIML_URL, afternoonZone(new Date())],
  );
  // Numbers without zone data (+999: no listed prefix): the shipped calling-hours rules (the every-
  // number rules, 08:00-21:00) hold in the campaigns' zone, one where it is early afternoon now, so
  // the rules are evaluated for every call as in production and allow it whatever the hour the bench
  // runs at (in UTC it reserved nothing from 21:00 to 08:00 UTC).
  await c.query(
    `insert into public.contacts (campaign_id, phone, next_attempt_at)
     select g, '+999' || lpad(((g - 1) * $2 + k)::text, 10, '0'), now() - interval '1 hour'
       from generate_series(1, $1::integer) g cross join lateral generate_series(1, $2::integer) k`,
    [CAMPAIGNS, per],
  );
  const now = new Date();
  const { rows } = await c.query<{ n: number }>(
    'select coalesce(sum(reserved), 0)::integer as n from public.launch_due_calls($1::timestamptz)',
    [now],
  );
  if (rows[0]?.n !== n) throw new Error(`dispatch seed: reserved ${rows[0]?.n}, expected ${n}`);
  await c.query('vacuum analyze public.calls, public.contacts, public.campaigns');
  return now;
}

async function simControl<T>(sim: SimProcess, method: 'GET' | 'POST', p: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sim.url}${p}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`simulator ${method} ${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Forgets calls and counters, then sets the latency. */
export async function simPrepare(sim: SimProcess, latencyMs: number): Promise<void> {
  await simControl(sim, 'POST', '/__sim/reset');
  await simControl(sim, 'POST', '/__sim/faults', { latencyMs });
}

/** The same create-call request the adapter sends, for the bare loop. */
function bareRequest(sim: SimProcess, i: number): { url: string; init: RequestInit } {
  const body = new URLSearchParams();
  body.append('To', `+1${String(9_000_000_000 + i).padStart(10, '0')}`);
  body.append('From', '+15550100000');
  body.append('Url', TWIML_URL);
  body.append('StatusCallback', `${CALLBACK_BASE}?call_id=${i}`);
  for (const e of ['initiated', 'ringing', 'answered', 'completed']) body.append('StatusCallbackEvent', e);
  body.append('StatusCallbackMethod', 'POST');
  return {
    url: `${sim.url}/2010-04-01/Accounts/${sim.accountSid}/Calls.json`,
    init: {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${sim.accountSid}:${sim.authToken}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: body.toString(),
    },
  };
}

/** `n` create-call requests with `concurrency` workers, each awaiting its answer. Returns calls/s. */
/** This process is the dispatcher (or the bare loop's client); the simulator runs in its own. */
function cpuRoles(sim: SimProcess): Map<number, string> {
  return new Map([[process.pid, 'dispatcher'], [sim.child.pid ?? -1, 'simulator']]);
}

/** The measured cluster's postmaster (set once the admin connection is up). */
let postmasterPid: number | null = null;

async function bareLoop(
  sim: SimProcess,
  n: number,
  concurrency: number,
): Promise<{ rate: number; cpu: Record<string, number> }> {
  let next = 0;
  let created = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const { url, init } = bareRequest(sim, i);
      const res = await fetch(url, init);
      await res.text();
      if (res.status === 201) created++;
    }
  };
  const roles = cpuRoles(sim);
  const cpu0 = cpuSnapshot(roles, postmasterPid);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSince(cpu0, cpuSnapshot(roles, postmasterPid));
  if (created !== n) throw new Error(`bare loop: ${created} of ${n} requests created a call`);
  return { rate: n / seconds, cpu };
}

async function tickOnce(
  tick: RunTick,
  who: string,
  url: string,
  admin: pg.Client,
  sim: SimProcess,
  latencyMs: number,
  concurrency: number,
  n: number,
  poolSize: number,
  opts: DispatchOptions,
): Promise<{ rate: number; ms: number; requeued: number; cpu: Record<string, number> }> {
  const reservedAt = await seedQueued(admin, n, concurrency);
  await simPrepare(sim, latencyMs);
  const pool = createPool(opts.poolerUrl ?? url, poolSize);
  // The campaigns' answer URL is on loopback (http://), as in local development.
  const provider = new TwilioProvider({
    accountSid: sim.accountSid,
    authToken: sim.authToken,
    baseUrl: sim.url,
    allowInsecureUrls: true,
  });
  const where = `dispatch ${latencyMs} ms, concurrency ${concurrency}, ${who}`;
  try {
    const roles = cpuRoles(sim);
    const cpu0 = cpuSnapshot(roles, postmasterPid);
    const t0 = performance.now();
    const r = await tick(
      { pool, provider, log: silent, statusCallbackUrl: (id) => `${CALLBACK_BASE}?call_id=${id}` },
      { trigger: 'local', budgetMs: 120_000 },
    );
    const ms = performance.now() - t0;
    const cpu = cpuSince(cpu0, cpuSnapshot(roles, postmasterPid));
    const failures: string[] = [];
    if (r.launched !== n) {
      failures.push(
        `launched ${r.launched} of ${n} (status ${r.status}, failed ${r.failed}, unknown ${r.unknown}, requeued ${r.requeued}, released ${r.released}, deadline ${r.deadlineReached}; ${
          r.errors[0]?.message ?? ''
        })`,
      );
    }
    const stats = await simControl<{ created: number; createdPerNumber: Record<string, number> }>(sim, 'GET', '/__sim/stats');
    const twice = Object.values(stats.createdPerNumber).filter((k) => k > 1).length;
    if (stats.created !== n || twice > 0) {
      failures.push(
        `the provider created ${stats.created} calls for ${n} reserved; ${twice} numbers more than once (invariant 4)`,
      );
    }
    const dialing = await admin.query<{ n: number }>(
      `select count(*)::integer as n from public.calls where status = 'dialing' and provider_call_id is not null`,
    );
    if (dialing.rows[0]?.n !== n) {
      failures.push(`${dialing.rows[0]?.n} calls recorded as dialing with a provider call id, expected ${n}`);
    }
    // The 'dispatch' lease belongs to continuous dispatch: a tick takes it (over) only for its
    // background part, after its answer, when background_dispatch_ms > 0, and releases it when that
    // part ends. seedQueued() sets 0, so this tick has no background part and never takes it; a
    // tick that did (a --propose-tick candidate may) must have released it by the time it returns.
    // Either way no live lease may be left held (one that is neither released nor expired).
    const lease = await admin.query<{ holder: string; expires_at: Date }>(
      `select holder, expires_at from public.scheduler_leases
        where name = $1 and released_at is null and expires_at > now()`,
      [DISPATCH_LEASE],
    );
    if (lease.rows.length > 0) {
      failures.push(
        `the '${DISPATCH_LEASE}' lease is still held after the tick returned (by ${lease.rows[0]!.holder}, until ${
          lease.rows[0]!.expires_at.toISOString()
        })`,
      );
    }
    failures.push(...(await checkInvariants(admin, reservedAt)).failures);
    if (failures.length) opts.onInvariantFailure(where, failures);
    return { rate: r.launched / (ms / 1000), ms, requeued: r.requeued, cpu };
  } finally {
    await pool.end();
  }
}

export async function benchDispatch(url: string, opts: DispatchOptions): Promise<DispatchRow[]> {
  const latencies = opts.latencies ?? DISPATCH_LATENCIES;
  const concurrencies = opts.concurrencies ?? DISPATCH_CONCURRENCIES;
  const poolSize = opts.poolSize ?? 20;
  const admin = new pg.Client({ connectionString: url, application_name: 'bench-dispatch' });
  await admin.connect();
  postmasterPid = postmasterOf((await admin.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid);
  const sim = await startSimProcess(['--seed', '7', '--no-callbacks']);
  const rows: DispatchRow[] = [];
  try {
    for (const latencyMs of latencies) {
      for (const concurrency of concurrencies) {
        const n = callsFor(latencyMs, concurrency, opts.quick);
        const ours: number[] = [];
        const proposed: number[] = [];
        const bare: number[] = [];
        const ticks: number[] = [];
        const requeued: number[] = [];
        const oursCpuRuns: Record<string, number>[] = [];
        const bareCpuRuns: Record<string, number>[] = [];
        for (let r = 0; r < opts.runs; r++) {
          let oursCpu: Record<string, number> = {};
          let bareCpu: Record<string, number> = {};
          const runBare = async () => {
            await simPrepare(sim, latencyMs);
            const b = await bareLoop(sim, n, concurrency);
            bare.push(b.rate);
            bareCpu = b.cpu;
          };
          const runOurs = async () => {
            const o = await tickOnce(runTick, 'ours', url, admin, sim, latencyMs, concurrency, n, poolSize, opts);
            ours.push(o.rate);
            oursCpu = o.cpu;
            ticks.push(o.ms);
            requeued.push(o.requeued);
          };
          const runProposed = async () => {
            if (!opts.proposedTick) return;
            const o = await tickOnce(opts.proposedTick, 'proposed', url, admin, sim, latencyMs, concurrency, n, poolSize, opts);
            proposed.push(o.rate);
          };
          // The order rotates from run to run.
          const order = [runOurs, runProposed, runBare];
          for (let i = 0; i < order.length; i++) await order[(i + r) % order.length]!();
          opts.log(
            `dispatch ${latencyMs} ms, concurrency ${concurrency}, ${n} calls, run ${r + 1}/${opts.runs}: ` +
              `ours ${ours[ours.length - 1]!.toFixed(0)}/s (tick ${ticks[ticks.length - 1]!.toFixed(0)} ms, ${
                requeued[requeued.length - 1]
              } put back for a missed slot or a hold)` +
              (opts.proposedTick ? `, proposed ${proposed[proposed.length - 1]!.toFixed(0)}/s` : '') +
              `, bare ${bare[bare.length - 1]!.toFixed(0)}/s`,
          );
          oursCpuRuns.push(perKilo(oursCpu, n));
          bareCpuRuns.push(perKilo(bareCpu, n));
          opts.log(`  CPU per 1,000 calls, ours: ${formatCpuPerKilo(oursCpuRuns.at(-1)!)}`);
          opts.log(`  CPU per 1,000 calls, bare: ${formatCpuPerKilo(bareCpuRuns.at(-1)!)}`);
        }
        const o = summarize(ours);
        const b = summarize(bare);
        rows.push({
          latencyMs,
          concurrency,
          calls: n,
          oursCallsPerSecond: o,
          bareCallsPerSecond: b,
          bareOverOurs: b.median / o.median,
          tickMs: summarize(ticks),
          oursRequeued: summarize(requeued),
          oursCpuPerKilo: medianByRole(oursCpuRuns),
          bareCpuPerKilo: medianByRole(bareCpuRuns),
          dbPoolSize: poolSize,
          via: opts.poolerUrl ? 'pgbouncer' : 'direct',
          ...(proposed.length
            ? { proposedCallsPerSecond: summarize(proposed), bareOverProposed: b.median / summarize(proposed).median }
            : {}),
        });
      }
    }
  } finally {
    await stopSimProcess(sim);
    await admin.end();
  }
  return rows;
}
