// `npm run bench -- --only campaign`: whole campaigns, time-scaled, end to end. The real
// scheduler-tick and call-status Edge Functions (each index.ts in the local Deno gateway, the
// database through PgBouncer as on Supabase) dial the Twilio simulator, whose signed status
// callbacks come back to call-status; the ticks arrive as Vercel Cron sends them (GET, Bearer
// CRON_SECRET, trigger vercel with its scheduled minute). Everything runs `scale` times faster than
// real life (default 10x): a tick every 60 s / scale, tick_budget_ms 10 s / scale, the provider's
// calls per second x scale, call durations x 1 / scale (the simulator's timeScale).
//
// Each configuration (CPS 1 and CPS 10, before scaling; baseline = background_dispatch_ms 0, the
// minute-tick-only behaviour; continuous = background_dispatch_ms 90 s / scale) runs the same
// campaigns from a fresh state until every contact is final, and is measured against its ideal
// bound (see idealBound() and docs/performance.md, "Campaign makespan"): the makespan, the
// ratio ideal / makespan, slot utilisation, calls per (unscaled) minute, and the most create-call
// requests the SIMULATOR received in any one-second window against the configured rate. After
// every run: invariants 1-3 (tests.invariant_violations()), every contact called exactly once
// (at the provider), every contact final, the caps never exceeded (active calls per campaign
// sampled in the database, and concurrent calls per campaign at the provider), every tick answered
// 200, and no dispatch lease held nor run left running once the last background dispatcher ended.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pg from 'pg';
import { startTwilioSimulator, type TwilioSimulator } from '../twilio-sim/server.ts';
import { startGateway } from '../../test/support/functions.ts';
import { ACTIVE, BENCH_TWIML_URL, checkInvariants, truncateAll } from './data.ts';
import { FINISH_MARGIN_MS, MIN_REQUEST_WINDOW_MS } from '../../supabase/functions/_shared/dispatch/dispatcher.ts';
import { fmtInt, renderTable, summarize, type Summary } from './report.ts';

export type DispatchMode = 'baseline' | 'continuous';

export interface CampaignPlan {
  name: string;
  cap: number;
  contacts: number;
}

export interface CampaignBenchOptions {
  runs: number;
  /** Time scale: 10 = ten times faster than real life. */
  scale: number;
  /** Provider calls per second before scaling. */
  cpsList: number[];
  modes: DispatchMode[];
  /** Campaigns (caps and contacts) per CPS setting (before scaling). */
  campaigns: (cps: number) => CampaignPlan[];
  log: (s: string) => void;
  onInvariantFailure: (where: string, failures: string[]) => void;
  /** The functions' database URL (PgBouncer in transaction mode, as Supabase's pooler), else the direct one. */
  poolerUrl?: string;
  /** Give up on a run after this long (real ms). */
  runTimeoutMs?: number;
}

/** The realistic outcome mix: 60% no-answer after 20-30 s of ringing, 10% busy, 30% answered for 30-180 s. */
export const OUTCOMES = { completed: 30, 'no-answer': 60, busy: 10, failed: 0 } as const;
export const TIMING = {
  // Twilio's queue and the first ring, as the simulator's defaults.
  initiatedMs: [50, 500] as [number, number],
  ringingMs: [300, 2000] as [number, number],
  // An answered call rings 2-12 s first; a busy line answers after a quarter of that (0.5-3 s).
  ringMs: [2000, 12000] as [number, number],
  talkMs: [30_000, 180_000] as [number, number],
  noAnswerMs: [20_000, 30_000] as [number, number],
};

/** Unscaled settings of the product that the bench scales (the defaults of scheduler_settings). */
const TICK_EVERY_MS = 60_000;
const TICK_BUDGET_MS = 10_000;
const REQUEST_TIMEOUT_MS = 8000;
const BACKGROUND_DISPATCH_MS = 90_000;
const REFILL_INTERVAL_MS = 1000;
const SAMPLE_EVERY_MS = 200;

export interface RunResult {
  run: number;
  seed: number;
  contacts: number;
  /** Real ms from the first tick sent to the last call ended (calls.ended_at): every contact final. */
  makespanMs: number;
  ideal: IdealBound;
  /** ideal.boundMs / makespanMs. */
  idealRatio: number;
  /** zeroLatencyMakespan() of this run's calls, and it / makespanMs. */
  zeroLatencyMs: number;
  zeroLatencyRatio: number;
  /** Slot-time the provider held (created -> final) / (sum of caps x makespan). */
  utilisation: number;
  /** The same inside each campaign's dialling phase (first tick -> its last create request). */
  diallingUtilisation: number;
  /** Mean active calls in the database (sampled) / sum of caps, over the makespan. */
  dbUtilisation: number;
  /** Contacts per unscaled minute of makespan. */
  callsPerMinute: number;
  /**
   * Create requests per unscaled minute in the steady part of the dialling: between the arrival
   * of the request at the 10th percentile and the one at the 90th (the ramp of the first tick and
   * the last contacts of the campaign with the fewest slots left out).
   */
  dialRatePerMinute: number;
  /** The same between the first create request and the last. */
  dialRateFullPerMinute: number;
  /** Most create requests the simulator received in any [t, t + 1000 ms) (real time). */
  maxRequestsPerSecond: number;
  /**
   * The densest one-second window: when it starts (ms after the first tick) and the gaps between
   * its arrivals (ms), to see how a window came to hold more than the rate.
   */
  densestWindow: { atMs: number; gapsMs: number[] };
  /** ... and in any [t, t + 1000 / scale ms), one unscaled second. */
  maxRequestsPerScaledSecond: number;
  /**
   * The shortest time (ms) the simulator saw between a create request and the R-th after it (R the
   * rate): the rate holds while it is >= 1000; the bucket spaces them 1000 + rate_margin_ms apart, so
   * 1000 + margin - this is how much of the margin the run's jitter used.
   */
  tightestSpanMs: number;
  /**
   * The longest stall (ms) of this process's event loop during the run: the simulator runs here and
   * timestamps each create request when its handler runs, so a stall delays the timestamps of
   * the requests that arrive during it (the instrument's own jitter, not the dispatcher's).
   */
  simEventLoopMaxDelayMs: number;
  createRequests: number;
  /** Max active calls per campaign: sampled in the database, and concurrent at the provider. */
  maxActive: { campaign: string; cap: number; db: number; provider: number }[];
  ticks: {
    sent: number;
    answered: number;
    statuses: Record<string, number>;
    launchedInTicks: number;
    /** The errors the tick answers reported (stage: message), distinct, with how many times. */
    errors: Record<string, number>;
  };
  /** ms from the last create request to the end (the tail of the last calls). */
  tailMs: number;
  complete: boolean;
}

export interface CampaignRow {
  cps: number;
  rate: number;
  mode: DispatchMode;
  scale: number;
  campaigns: CampaignPlan[];
  contacts: number;
  runs: RunResult[];
  makespanS: Summary;
  idealS: Summary;
  idealRatio: Summary;
  zeroLatencyS: Summary;
  zeroLatencyRatio: Summary;
  utilisation: Summary;
  diallingUtilisation: Summary;
  callsPerMinute: Summary;
  dialRatePerMinute: Summary;
  maxRequestsPerSecond: number;
  tightestSpanMs: number;
  binding: string;
}

export interface IdealBound {
  boundMs: number;
  /** Which bound binds: 'rate', 'cap <campaign>', 'global cap', 'longest call'. */
  binding: string;
  rateMs: number;
  capMs: Record<string, number>;
  globalCapMs: number;
  longestMs: number;
  meanHoldMs: number;
}

/**
 * A lower bound on the makespan of any dispatcher, given the slot-holding times h_i the provider
 * measured in this run (created -> final status, real ms), the caps and the rate R (calls/s):
 *   - rate: the k-th create request (0-based) cannot leave before floor(k / R) s (at most R in any
 *     one-second window), and its call then lasts h; the best order sends the longest calls first:
 *     max over k of floor(k / R) * 1000 + h_(k), h sorted longest first;
 *   - cap of campaign c: its calls hold sum(h_i, i in c) ms of slot time on cap_c slots:
 *     sum / cap_c; the global cap likewise with every call;
 *   - the longest call.
 * The bound is the largest of these. It knows each call's length in advance, which no dispatcher
 * does, so even a perfect one ends a little later: the last calls it sends run on after the
 * others (the tail).
 */
export function idealBound(
  holds: { campaign: string; ms: number }[],
  caps: Record<string, number>,
  globalCap: number,
  rate: number,
): IdealBound {
  const sorted = holds.map((h) => h.ms).sort((a, b) => b - a);
  let rateMs = 0;
  sorted.forEach((h, k) => (rateMs = Math.max(rateMs, Math.floor(k / rate) * 1000 + h)));
  const capMs: Record<string, number> = {};
  for (const [name, cap] of Object.entries(caps)) {
    capMs[name] = holds.filter((h) => h.campaign === name).reduce((a, h) => a + h.ms, 0) / cap;
  }
  const total = sorted.reduce((a, b) => a + b, 0);
  const globalCapMs = total / globalCap;
  const longestMs = sorted[0] ?? 0;
  // On a tie the simplest explanation wins (the longest call, then a cap, then the rate).
  const candidates: [string, number][] = [
    ['longest call', longestMs],
    ...Object.entries(capMs).map(([n, v]) => [`cap ${n}`, v] as [string, number]),
    ['global cap', globalCapMs],
    ['rate', rateMs],
  ];
  const [binding, boundMs] = candidates.reduce((a, b) => (b[1] > a[1] ? b : a));
  return {
    boundMs,
    binding,
    rateMs,
    capMs,
    globalCapMs,
    longestMs,
    meanHoldMs: sorted.length ? total / sorted.length : 0,
  };
}

/**
 * The makespan of a zero-latency dispatcher dealt the same calls: the k-th call it sends lasts
 * as long as the k-th call of the measured run did (the simulator draws each call's outcome and
 * timing in the order the calls are created, so this is the same sequence of call lengths). It
 * sends the next call the moment a campaign has a free slot and the rate allows one (calls spaced
 * exactly 1000 / R ms apart: never more than R in any one-second window), to the campaign with the
 * most contacts left per slot. Not a lower bound (a dispatcher that knew the lengths in advance
 * could do better), but what "every freed slot refilled at once, the rate used all the time" gives
 * with these calls, tail included.
 */
export function zeroLatencyMakespan(
  holdsInOrder: readonly number[],
  campaigns: readonly { name: string; cap: number; contacts: number }[],
  rate: number,
): number {
  const spacing = 1000 / rate;
  const state = campaigns.map((c) => ({ cap: c.cap, left: c.contacts, ends: [] as number[] }));
  let last = -Infinity;
  let makespan = 0;
  const n = Math.min(holdsInOrder.length, campaigns.reduce((a, c) => a + c.contacts, 0));
  for (let k = 0; k < n; k++) {
    const earliest = k === 0 ? 0 : last + spacing;
    const freeAt = (c: (typeof state)[number], t: number) => {
      const active = c.ends.filter((e) => e > t);
      return active.length < c.cap ? t : Math.min(...active);
    };
    const open = state.filter((c) => c.left > 0);
    const t = Math.max(earliest, Math.min(...open.map((c) => freeAt(c, earliest))));
    const ready = open.filter((c) => freeAt(c, t) <= t);
    const pick = ready.reduce((a, b) => (b.left / b.cap > a.left / a.cap ? b : a));
    pick.ends = pick.ends.filter((e) => e > t);
    pick.ends.push(t + holdsInOrder[k]!);
    pick.left--;
    last = t;
    makespan = Math.max(makespan, t + holdsInOrder[k]!);
  }
  return makespan;
}

/** Requests per unscaled minute between the 10th- and the 90th-percentile arrival (sorted). */
function steadyRate(sorted: readonly number[], scale: number): number {
  const lo = Math.floor(sorted.length * 0.1);
  const hi = Math.ceil(sorted.length * 0.9) - 1;
  if (hi <= lo) return Number.NaN;
  return (hi - lo) / (((sorted[hi]! - sorted[lo]!) * scale) / 60_000);
}

/** The fullest window [t, t + windowMs) of sorted arrivals: its start after t0 and its inner gaps. */
function densest(sorted: readonly number[], windowMs: number, t0: number): { atMs: number; gapsMs: number[] } {
  let best = [0, 0];
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi]! - sorted[lo]! >= windowMs) lo++;
    if (hi - lo > best[1]! - best[0]!) best = [lo, hi];
  }
  const inside = sorted.slice(best[0], best[1]! + 1);
  return {
    atMs: Math.round((inside[0] ?? t0) - t0),
    gapsMs: inside.slice(1).map((t, i) => Math.round((t - inside[i]!) * 10) / 10),
  };
}

/** The shortest span from one sorted arrival to the n-th after it (Infinity when there are not n + 1). */
export function tightestSpan(sorted: readonly number[], n: number): number {
  let best = Infinity;
  for (let k = 0; k + n < sorted.length; k++) best = Math.min(best, sorted[k + n]! - sorted[k]!);
  return best;
}

/** Busy ms of intervals inside [from, to). */
function overlap(intervals: [number, number][], from: number, to: number): number {
  let busy = 0;
  for (const [a, b] of intervals) busy += Math.max(0, Math.min(b, to) - Math.max(a, from));
  return busy;
}

/** The most intervals [start, end) open at once. */
function maxConcurrent(intervals: [number, number][]): number {
  const events = intervals.flatMap(([a, b]) => [[a, 1], [b, -1]] as [number, number][]);
  // Ends before starts at the same instant: a slot freed and taken at once is not two calls.
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let best = 0;
  for (const [, d] of events) {
    open += d;
    best = Math.max(best, open);
  }
  return best;
}

/**
 * The product's settings, scaled. The dispatcher keeps two fixed margins at the end of a tick's
 * budget (it claims no call later than min(request timeout, MIN_REQUEST_WINDOW_MS) +
 * FINISH_MARGIN_MS before the deadline), which a scaled budget cannot shrink: 10 s / 10 = 1 s of
 * budget would leave no time to claim anything. So what is scaled is the window in which a tick
 * claims calls (with the defaults, 10 s - 1 s - 250 ms = 8.75 s: 875 ms at 10x), and the budget is
 * that window plus the margins. The request timeout is not scaled: it is about the network and
 * the provider's answer, which the bench does not speed up (scaled to 800 ms, the loaded 2-core
 * box timed requests out and left calls 'unknown').
 */
export function scaledTiming(scale: number): {
  tickEveryMs: number;
  requestTimeoutMs: number;
  tickBudgetMs: number;
  claimWindowMs: number;
  backgroundDispatchMs: number;
  refillIntervalMs: number;
} {
  const margins = (timeoutMs: number) => Math.min(timeoutMs, MIN_REQUEST_WINDOW_MS) + FINISH_MARGIN_MS;
  const requestTimeoutMs = REQUEST_TIMEOUT_MS;
  const claimWindowMs = Math.round((TICK_BUDGET_MS - margins(REQUEST_TIMEOUT_MS)) / scale);
  return {
    tickEveryMs: TICK_EVERY_MS / scale,
    requestTimeoutMs,
    tickBudgetMs: Math.max(1000, claimWindowMs + margins(requestTimeoutMs)),
    claimWindowMs,
    backgroundDispatchMs: Math.round(BACKGROUND_DISPATCH_MS / scale),
    refillIntervalMs: Math.max(100, Math.round(REFILL_INTERVAL_MS / scale)),
  };
}

const LOOP_RESOLUTION_MS = 5;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const nowMs = () => performance.timeOrigin + performance.now();

interface Env {
  admin: pg.Client;
  gatewayUrl: string;
  cronSecret: string;
  /** One simulator for every run (re-seeded per run), so the gateway's connections to it stay valid. */
  sim: TwilioSimulator;
}

/** Fresh data and settings for one run; returns the campaigns' ids by name. */
async function seed(
  c: pg.Client,
  plans: CampaignPlan[],
  rate: number,
  mode: DispatchMode,
  scale: number,
): Promise<Map<string, string>> {
  await truncateAll(c);
  await c.query('delete from public.provider_circuit_breakers');
  await c.query(`delete from public.scheduler_leases`);
  await c.query(`update public.provider_accounts set next_send_at = '-infinity', calls_per_second = null,
                        max_concurrent_calls = null`);
  const t = scaledTiming(scale);
  await c.query(
    `update public.scheduler_settings
        set global_max_concurrent_calls = 1000000, provider_calls_per_second = $1, tick_budget_ms = $2,
            provider_request_timeout_ms = $3, background_dispatch_ms = $4, refill_interval_ms = $5`,
    [rate, t.tickBudgetMs, t.requestTimeoutMs, mode === 'baseline' ? 0 : t.backgroundDispatchMs, t.refillIntervalMs],
  );
  const ids = new Map<string, string>();
  for (const [i, p] of plans.entries()) {
    const { rows } = await c.query<{ id: string }>(
      `insert into public.campaigns (name, status, max_concurrent_calls, caller_id, provider_settings, time_zone,
                                     window_start, window_end, window_days, max_attempts)
       values ($1, 'QUEUED', $2, '+15550100000', jsonb_build_object('url', $3::text), 'UTC',
               '00:00', '23:59:59', '{1,2,3,4,5,6,7}', 1)
       returning id`,
      [p.name, p.cap, BENCH_TWIML_URL],
    );
    const id = rows[0]!.id;
    ids.set(p.name, id);
    await c.query(
      `insert into public.contacts (campaign_id, phone, next_attempt_at)
       select $1, '+1' || lpad(($2::bigint * 1000000 + k)::text, 10, '0'), now() - interval '1 hour'
         from generate_series(1, $3::integer) k`,
      [id, i + 1, p.contacts],
    );
  }
  await c.query('vacuum analyze public.calls, public.contacts, public.campaigns');
  return ids;
}

interface TickAnswer {
  status: number;
  body: Record<string, unknown>;
}

async function sendTick(env: Env, scheduledFor: Date): Promise<TickAnswer> {
  const u = new URL(`${env.gatewayUrl}/scheduler-tick`);
  u.searchParams.set('trigger', 'vercel');
  u.searchParams.set('scheduled_for', scheduledFor.toISOString());
  try {
    const res = await fetch(u, {
      method: 'GET',
      headers: { authorization: `Bearer ${env.cronSecret}`, 'user-agent': 'vercel-cron/1.0' },
      signal: AbortSignal.timeout(120_000),
    });
    const text = await res.text();
    let body: Record<string, unknown> = { text };
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON: kept as text
    }
    return { status: res.status, body };
  } catch (err) {
    return { status: 0, body: { error: err instanceof Error ? err.message : String(err) } };
  }
}

/**
 * Waits until no dispatcher holds the 'dispatch' lease and every run has finished (a background
 * dispatcher records its run's end when it stops), so the next run starts from a quiet database.
 */
export async function waitLeaseFree(c: pg.Client, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await c.query<{ held: number; running: number }>(
      `select (select count(*)::integer from public.scheduler_leases
                where released_at is null and expires_at > now()) as held,
              (select count(*)::integer from public.scheduler_runs where status = 'running') as running`,
    );
    if (rows[0]!.held === 0 && rows[0]!.running === 0) return true;
    if (Date.now() > until) return false;
    await sleep(250);
  }
}

async function runOnce(
  env: Env,
  opts: CampaignBenchOptions,
  cps: number,
  mode: DispatchMode,
  run: number,
): Promise<RunResult> {
  const scale = opts.scale;
  const rate = cps * scale;
  const plans = opts.campaigns(cps);
  const contacts = plans.reduce((a, p) => a + p.contacts, 0);
  const where = `campaign CPS ${cps}, ${mode}, run ${run + 1}`;
  const seedValue = 1000 + run;
  const { admin } = env;
  const ids = await seed(admin, plans, rate, mode, scale);
  const nameOf = new Map([...ids].map(([n, id]) => [id, n]));
  const sim = env.sim;
  sim.reset({ seed: seedValue });
  const failures: string[] = [];
  const ticks: Promise<TickAnswer>[] = [];
  const dbMax = new Map<string, number>();
  let activeSamples = 0;
  let activeSum = 0;
  let complete = false;
  let t0 = 0;
  // Sampled every LOOP_RESOLUTION_MS: its max is the longest gap between samples, the stall + that.
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  const stallMs = () => Math.max(0, loopDelay.max / 1e6 - LOOP_RESOLUTION_MS);
  try {
    loopDelay.enable();
    t0 = nowMs();
    // 20 minutes, or three times what the rate alone needs for long runs (--contacts-per-slot).
    const runTimeout = opts.runTimeoutMs ?? Math.max(20 * 60_000, (contacts / rate) * 3000);
    const tickEvery = scaledTiming(scale).tickEveryMs;
    const minute0 = Math.floor(Date.now() / 60_000) * 60_000;
    let nextTick = 0;
    let lastSample = 0;
    let lastProgress = nowMs();
    for (;;) {
      const t = nowMs();
      if (t >= t0 + nextTick * tickEvery) {
        // Tick i of the run stands for minute i: each has its own scheduled minute, as Vercel Cron's.
        ticks.push(sendTick(env, new Date(minute0 + nextTick * 60_000)));
        nextTick++;
      }
      if (t - lastSample >= SAMPLE_EVERY_MS) {
        lastSample = t;
        const { rows } = await admin.query<{ campaign_id: string; n: number }>(
          `select campaign_id::text, count(*)::integer as n from public.calls where status in ${ACTIVE} group by 1`,
        );
        let sum = 0;
        for (const r of rows) {
          const name = nameOf.get(r.campaign_id) ?? r.campaign_id;
          dbMax.set(name, Math.max(dbMax.get(name) ?? 0, r.n));
          sum += r.n;
        }
        activeSum += sum;
        activeSamples++;
        const open = await admin.query<{ n: number }>(
          `select count(*)::integer as n from public.contacts where status in ('pending', 'in_progress')`,
        );
        if (t - lastProgress >= 15_000) {
          lastProgress = t;
          opts.log(`${where}: ${Math.round((t - t0) / 1000)} s, ${open.rows[0]!.n} contacts open, ${sum} active calls`);
        }
        if (open.rows[0]!.n === 0 && sum === 0) {
          complete = true;
          break;
        }
      }
      if (t - t0 > runTimeout) {
        failures.push(`not every contact was final after ${Math.round(runTimeout / 1000)} s`);
        break;
      }
      const wait = Math.min(t0 + nextTick * tickEvery, lastSample + SAMPLE_EVERY_MS) - nowMs();
      await sleep(Math.min(wait, SAMPLE_EVERY_MS));
    }
    // While the campaign ran (the analysis below is this process's own work, after it).
    loopDelay.disable();
    const answers = await Promise.all(ticks);
    if (!(await waitLeaseFree(admin, BACKGROUND_DISPATCH_MS / scale + 15_000))) {
      failures.push('the dispatch lease was still held long after the end');
    }
    await sim.settled(30_000).catch((e: unknown) => failures.push(String(e)));

    // --- what the provider saw ----------------------------------------------------------------
    const calls = sim.calls();
    const stats = sim.stats();
    const { rows: callRows } = await admin.query<{ sid: string; campaign_id: string }>(
      `select provider_call_id as sid, campaign_id::text from public.calls where provider_call_id is not null`,
    );
    const campaignOfSid = new Map(callRows.map((r) => [r.sid, nameOf.get(r.campaign_id) ?? r.campaign_id]));
    const intervals = new Map<string, [number, number][]>(plans.map((p) => [p.name, []]));
    const holds: { campaign: string; ms: number }[] = [];
    for (const c of calls) {
      const name = campaignOfSid.get(c.sid);
      if (!name || c.endedAt === null) {
        failures.push(`provider call ${c.sid} ${name ? 'never ended' : 'is not one of our calls'}`);
        continue;
      }
      intervals.get(name)!.push([c.createdAt, c.endedAt]);
      holds.push({ campaign: name, ms: c.endedAt - c.createdAt });
    }
    const twice = Object.values(stats.createdPerNumber).filter((k) => k > 1).length;
    if (stats.created !== contacts || twice > 0) {
      failures.push(`the provider created ${stats.created} calls for ${contacts} contacts; ${twice} numbers twice`);
    }
    const { rows: endRows } = await admin.query<{ end_ms: number | null; open: number; finals: number }>(
      `select (extract(epoch from max(ended_at)) * 1000)::float8 as end_ms,
              (select count(*)::integer from public.contacts where status in ('pending', 'in_progress')) as open,
              count(*) filter (where ended_at is not null and released_at is null)::integer as finals
         from public.calls`,
    );
    const end = endRows[0]!;
    if (end.open > 0) failures.push(`${end.open} contacts not final`);
    if (end.finals !== contacts) failures.push(`${end.finals} calls ended for ${contacts} contacts`);
    const makespanMs = (end.end_ms ?? nowMs()) - t0;

    const caps = Object.fromEntries(plans.map((p) => [p.name, p.cap]));
    const capSum = plans.reduce((a, p) => a + p.cap, 0);
    const ideal = idealBound(holds, caps, 1_000_000, rate);
    const inOrder = [...calls].filter((c) => c.endedAt !== null).sort((a, b) => a.createdAt - b.createdAt);
    const zeroLatencyMs = zeroLatencyMakespan(inOrder.map((c) => c.endedAt! - c.createdAt), plans, rate);
    const arrivals = sim.createArrivals();
    const firstCreate = arrivals[0] ?? t0;
    const lastCreate = arrivals[arrivals.length - 1] ?? t0;
    let busy = 0;
    let dialBusy = 0;
    let dialCapacity = 0;
    const maxActive: RunResult['maxActive'] = [];
    for (const p of plans) {
      const iv = intervals.get(p.name)!;
      busy += overlap(iv, t0, t0 + makespanMs);
      const last = Math.max(t0, ...iv.map(([a]) => a));
      dialBusy += overlap(iv, t0, last);
      dialCapacity += p.cap * (last - t0);
      const provider = maxConcurrent(iv);
      const db = dbMax.get(p.name) ?? 0;
      maxActive.push({ campaign: p.name, cap: p.cap, db, provider });
      if (db > p.cap || provider > p.cap) {
        failures.push(`cap of ${p.name} (${p.cap}) exceeded: ${db} active in the database, ${provider} at the provider`);
      }
    }
    const statuses: Record<string, number> = {};
    let launchedInTicks = 0;
    const tickErrors: Record<string, number> = {};
    for (const a of answers) {
      for (const e of Array.isArray(a.body.errors) ? (a.body.errors as { stage?: string; message?: string }[]) : []) {
        const k = `${e.stage ?? '?'}: ${(e.message ?? '').replace(/\d+/g, 'N')}`;
        tickErrors[k] = (tickErrors[k] ?? 0) + 1;
      }
      const s = a.status === 200 ? String(a.body.status ?? 'ok') : `http ${a.status}`;
      statuses[s] = (statuses[s] ?? 0) + 1;
      launchedInTicks += Number(a.body.launched ?? 0);
    }
    // A tick answers 200 unless it failed (500: no database, or an error outside dispatch); status 0
    // is no answer at all within 120 s.
    const notAnswered = answers.filter((a) => a.status !== 200);
    if (notAnswered.length > 0) {
      failures.push(
        `${notAnswered.length} of ${answers.length} ticks not answered 200: ${
          JSON.stringify(Object.fromEntries(Object.entries(statuses).filter(([k]) => k.startsWith('http '))))
        }`,
      );
    }
    failures.push(...(await checkInvariants(admin, new Date())).failures);
    const result: RunResult = {
      run,
      seed: seedValue,
      contacts,
      makespanMs,
      ideal,
      idealRatio: ideal.boundMs / makespanMs,
      zeroLatencyMs,
      zeroLatencyRatio: zeroLatencyMs / makespanMs,
      utilisation: busy / (capSum * makespanMs),
      diallingUtilisation: dialCapacity > 0 ? dialBusy / dialCapacity : Number.NaN,
      dbUtilisation: activeSamples ? activeSum / activeSamples / capSum : Number.NaN,
      callsPerMinute: contacts / ((makespanMs * scale) / 60_000),
      dialRatePerMinute: steadyRate(arrivals, scale),
      dialRateFullPerMinute: arrivals.length > 1 ? (arrivals.length - 1) / (((lastCreate - firstCreate) * scale) / 60_000) : 0,
      maxRequestsPerSecond: sim.maxRequestsInWindow(1000),
      densestWindow: densest(arrivals, 1000, t0),
      maxRequestsPerScaledSecond: sim.maxRequestsInWindow(1000 / scale),
      tightestSpanMs: tightestSpan(arrivals, Math.floor(rate)),
      simEventLoopMaxDelayMs: stallMs(),
      createRequests: arrivals.length,
      maxActive,
      ticks: {
        sent: ticks.length,
        answered: answers.filter((a) => a.status === 200).length,
        statuses,
        launchedInTicks,
        errors: tickErrors,
      },
      tailMs: t0 + makespanMs - lastCreate,
      complete: complete && failures.length === 0,
    };
    opts.log(
      `${where}: ${contacts} contacts, makespan ${(makespanMs / 1000).toFixed(1)} s (ideal ${
        (ideal.boundMs / 1000).toFixed(1)
      } s, ${ideal.binding}, ${pct(result.idealRatio, 1)}; zero-latency dispatcher ${(zeroLatencyMs / 1000).toFixed(1)} s, ${
        pct(result.zeroLatencyRatio, 1)
      }), util ${pct(result.utilisation)} (dialling ${pct(result.diallingUtilisation)}), ${
        result.callsPerMinute.toFixed(1)
      } calls/min (dialling ${result.dialRateFullPerMinute.toFixed(1)}/min, steady ${
        result.dialRatePerMinute.toFixed(1)
      }/min), max ${result.maxRequestsPerSecond}/s vs ${rate} (tightest ${Math.floor(rate) + 1} creates: ${
        result.tightestSpanMs.toFixed(1)
      } ms; simulator's event loop stalled up to ${stallMs().toFixed(1)} ms), ticks ${JSON.stringify(statuses)}, tail ${
        (result.tailMs / 1000).toFixed(1)
      } s`,
    );
    return result;
  } finally {
    loopDelay.disable();
    if (failures.length) opts.onInvariantFailure(where, failures);
  }
}

const pct = (x: number, digits = 0) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '-');

export async function benchCampaign(url: string, opts: CampaignBenchOptions): Promise<CampaignRow[]> {
  const admin = new pg.Client({ connectionString: url, application_name: 'bench-campaign' });
  await admin.connect();
  // The calling-hours rules seeded for production stop dialling outside their hours on the wall
  // clock; the bench's campaigns call around the clock.
  const { rows: rules } = await admin.query<{ id: string }>(
    'update public.calling_hours_rules set enabled = false where enabled returning id',
  );
  // In this process: the bench's own work between samples is small, and the simulator timestamps
  // every create request as it arrives.
  const sim = await startTwilioSimulator({ timeScale: 1 / opts.scale, outcomes: OUTCOMES, timing: TIMING });
  const t = scaledTiming(opts.scale);
  opts.log(
    `campaign: x${opts.scale}: a tick every ${t.tickEveryMs} ms, tick_budget_ms ${t.tickBudgetMs} (claims for ${t.claimWindowMs} ms), ` +
      `provider_request_timeout_ms ${t.requestTimeoutMs}, background_dispatch_ms 0 (baseline) or ${t.backgroundDispatchMs}, ` +
      `refill_interval_ms ${t.refillIntervalMs}`,
  );
  const env: Env = { admin, gatewayUrl: '', cronSecret: `cron-${randomBytes(16).toString('hex')}`, sim };
  const gw = await startGateway({
    SUPABASE_DB_URL: opts.poolerUrl ?? url,
    CRON_SECRET: env.cronSecret,
    ADMIN_TOKEN: `admin-${randomBytes(16).toString('hex')}`,
    TWILIO_ACCOUNT_SID: sim.accountSid,
    TWILIO_AUTH_TOKEN: sim.authToken,
    TWILIO_API_BASE_URL: sim.url,
    TICK_JITTER_MS: '0',
    ALLOW_INSECURE_URLS: '1',
  });
  env.gatewayUrl = gw.url;
  // An interrupted bench (Ctrl-C) leaves no gateway behind (the cluster cleans up after itself).
  const killGateway = () => void gw.child.kill('SIGKILL');
  process.once('SIGINT', killGateway);
  process.once('SIGTERM', killGateway);
  const results = new Map<string, RunResult[]>();
  try {
    for (let run = 0; run < opts.runs; run++) {
      for (const cps of opts.cpsList) {
        // The order of the modes alternates from run to run.
        const modes = run % 2 === 0 ? opts.modes : [...opts.modes].reverse();
        for (const mode of modes) {
          const key = `${cps}/${mode}`;
          const r = await runOnce(env, opts, cps, mode, run);
          results.set(key, [...(results.get(key) ?? []), r]);
        }
      }
    }
  } finally {
    process.off('SIGINT', killGateway);
    process.off('SIGTERM', killGateway);
    await gw.stop();
    await sim.close();
    if (rules.length) {
      await admin.query('update public.calling_hours_rules set enabled = true where id = any($1::bigint[])', [
        rules.map((r) => r.id),
      ]);
    }
    await admin.end();
  }
  const rows: CampaignRow[] = [];
  for (const cps of opts.cpsList) {
    for (const mode of opts.modes) {
      const runs = results.get(`${cps}/${mode}`) ?? [];
      const plans = opts.campaigns(cps);
      const s = (f: (r: RunResult) => number) => summarize(runs.map(f));
      const bindings = [...new Set(runs.map((r) => r.ideal.binding))];
      rows.push({
        cps,
        rate: cps * opts.scale,
        mode,
        scale: opts.scale,
        campaigns: plans,
        contacts: plans.reduce((a, p) => a + p.contacts, 0),
        runs,
        makespanS: s((r) => r.makespanMs / 1000),
        idealS: s((r) => r.ideal.boundMs / 1000),
        idealRatio: s((r) => r.idealRatio),
        zeroLatencyS: s((r) => r.zeroLatencyMs / 1000),
        zeroLatencyRatio: s((r) => r.zeroLatencyRatio),
        utilisation: s((r) => r.utilisation),
        diallingUtilisation: s((r) => r.diallingUtilisation),
        callsPerMinute: s((r) => r.callsPerMinute),
        dialRatePerMinute: s((r) => r.dialRatePerMinute),
        maxRequestsPerSecond: Math.max(0, ...runs.map((r) => r.maxRequestsPerSecond)),
        tightestSpanMs: Math.min(...runs.map((r) => r.tightestSpanMs)),
        binding: bindings.join(', '),
      });
    }
  }
  return rows;
}

const sec = (s: Summary) => (s.runs ? `${s.median.toFixed(1)} (${s.min.toFixed(1)}..${s.max.toFixed(1)})` : '-');
const pcts = (s: Summary, digits = 0) => s.runs ? `${pct(s.median, digits)} (${pct(s.min, digits)}..${pct(s.max, digits)})` : '-';
const one = (s: Summary) => (s.runs ? `${s.median.toFixed(1)} (${s.min.toFixed(1)}..${s.max.toFixed(1)})` : '-');

export function campaignTable(rows: CampaignRow[]): string {
  const header = [
    'CPS',
    'dispatch',
    'contacts',
    'makespan s (unscaled min)',
    'bound s',
    'binds',
    'bound/makespan',
    'zero-latency s',
    '0-lat/makespan',
    'slot util',
    'util dialling',
    'calls/min',
    'steady dial rate/min',
    'max creates in 1 s (rate)',
    'max active vs cap',
  ];
  const body = rows.map((r) => {
    const caps = r.campaigns.map((p) => {
      const db = Math.max(0, ...r.runs.map((x) => x.maxActive.find((m) => m.campaign === p.name)?.db ?? 0));
      return `${db}/${p.cap}`;
    });
    return [
      `${r.cps} (x${r.scale}: ${r.rate})`,
      r.mode,
      fmtInt(r.contacts),
      `${sec(r.makespanS)} (${((r.makespanS.median * r.scale) / 60).toFixed(1)})`,
      sec(r.idealS),
      r.binding,
      pcts(r.idealRatio, 1),
      sec(r.zeroLatencyS),
      pcts(r.zeroLatencyRatio, 1),
      pcts(r.utilisation),
      pcts(r.diallingUtilisation),
      one(r.callsPerMinute),
      one(r.dialRatePerMinute),
      `${r.maxRequestsPerSecond} (${r.rate})`,
      caps.join(' '),
    ];
  });
  return renderTable(header, body);
}

export function campaignMachineNote(): string {
  return `load average now ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}`;
}
