// Continuous dispatch driven at random in real time (fast-check, fixed seed): the tick's
// own code (startTick: dispatch inside the budget, then the background dispatcher that takes the
// 'dispatch' lease over and refills the queue) running in this process against the real database,
// the real adapters of the four kinds of provider account (Twilio, SignalWire, Vapi, Retell) talking
// to the simulator in its own process (so that its clock and event loop are not this process's: its
// Twilio part also serves SignalWire's LaML API, its Vapi and Retell parts their APIs), and the
// simulator's signed status callbacks and events going to the real call-status function behind the
// Deno gateway (they end calls and free the slots the refills use).
//
// Each scenario: 1-3 campaigns (cap 1-40, 40-120 contacts each; in half of them the campaigns share
// their phone numbers, with max_calls_per_number_per_day = 1), a first provider account of a random
// kind (Twilio: the migrations' 'default') with a rate of 5-20 calls per second (or, in one of
// seven, none of its own: provider_calls_per_second applies) and an optional cap (and in a third of
// them a second account from the start, of the first one's kind in three of four and of another
// kind otherwise, with its own rate and cap, that some campaigns dial through), a global cap 4-80,
// provider_calls_per_second 1 or 10 (it sets the claim horizon), tick budget 1000-1500 ms,
// background_dispatch_ms 2000-4000, refill_interval_ms 100, rate_margin_ms RATE_MARGIN_MS, dispatch
// concurrency 2-10 and batch size 1-10. The simulator's calls last 0.1-2.2 s. Steps (the first one
// always starts 1-3 ticks, then 4-12 random ones):
//
//   tick        1-3 ticks started at once (not awaited: they overlap the next steps and each other)
//   wait        100-2000 ms of real time
//   expire      the dispatch lease's expires_at set in the past (its holder must stop at its next claim)
//   pause / resume a campaign
//   rate        an account's calls_per_second changed (5-20)
//   cap         an account's max_concurrent_calls changed (1-30, or none)
//   account     a second provider account with its own rate and cap (once; its kind as above)
//   move        a campaign moved to the other account if that is of the campaign's kind (while its
//               calls are active); else nothing. The database would let a campaign change platform
//               (the campaigns' trigger sets its provider from the account), but its queued calls
//               were reserved for the old platform and its provider_settings are that platform's.
//
// After every step (with the ticks still running) and after the drain at the end:
//   - caps at every level (campaign, account, global), one active call per contact and per number:
//     a poller samples them from SQL every POLL_MS ms in one statement (counts and caps from the same
//     snapshot) while everything runs, plus tests.invariant_violations() (with the pause periods);
//   - at most one create request per reserved call, as the simulator saw them in all its parts (call
//     ids from the StatusCallback URLs, or the Vapi / Retell request's metadata), each at the part
//     of its account's kind, and per number across the parts (createdPerNumber: the retry delay is an hour, and shared
//     numbers are capped at one call a day, so a number is called once in a scenario);
//   - the rate: for each account, the most create requests the SIMULATOR received (arrival times: its
//     calls' createdAt, from each part's /__sim/.../calls) in any 1000 ms window <= that account's
//     calls_per_second. Which account a request belongs to is
//     what claim_queued_calls answered for that call (recorded by a thin wrapper around the pool);
//   - and the product's own part of the rate, exact (no loopback in it): the send slots the bucket
//     handed out hold at most calls_per_second in any 1000 + margin ms, and the dispatcher called
//     createCall (a thin wrapper around the real provider notes when) never before a call's slot and
//     at most the claim's shift (at most CLAIM_SHIFT_MAX_MS) and margin / 2 after it. A violation at the simulator prints each request's slot, send and
//     arrival, so a failure says whether the bucket, the dispatcher or the delivery compressed it.
//
// Changes of the limits, and what counts as a violation around them:
//   - a cap lowered below the active calls (or a campaign moved, with its active calls, to an account
//     near its cap) cannot end calls: the count may stay over the cap, but must never grow while it is
//     over it. The change runs holding the reservation's advisory lock (so no reservation races it)
//     and measures the counts it leaves; from then on the poller lets the count shrink, never grow.
//   - a rate lowered: send slots handed out before the change (at most one claim horizon ahead) are
//     honoured, so for rateChangeGraceMs() after the change committed a window may hold the old
//     rate's calls; a raised rate counts from the moment the change was issued.
//
// rate_margin_ms = RATE_MARGIN_MS (100): the bucket spaces slots (1000 + margin) / cps apart, so the
// cps+1-th slot after any slot is 1000 + margin ms after it. The dispatcher sends at most margin / 2
// after a slot (else it gives the slot up), which leaves margin / 2 for what happens after the send
// (this process's event loop, loopback, the simulator's event loop): a window as the simulator
// measures it overflows only when a request is delayed that much more than a later one. Measured
// here (the summary prints it: send after slot, arrival after send, the tightest window) on a
// shared 2-core machine at load average ~15: arrival after send p50 10-20 ms, p99 120-230 ms, max
// up to ~490 ms; the tightest span of cps+1 requests was 1000 ms once at margin 100 (on the edge),
// 994 ms once (14 requests at 13 CPS: a failure, seed 3, not reproduced by the replays while the
// slot and send checks above held in the same scenario's reruns) and 1024-1103 ms otherwise; 1051
// ms in one run at margin 50. So at that load about one scenario in a hundred may see a request
// delayed more than margin / 2 relative to a later one. 100 (the brief's upper end) costs 10% of the
// nominal rate; PROP_RATE_MARGIN_MS tries another. The Twilio path of production has more jitter
// than loopback: the product's default of 30 ms leaves 15 ms for it.
//
// Also one deterministic test: two ticks at once at 5 CPS, each dispatching inside a 5000 ms budget
// (claims stop 1250 ms before it: ~3.75 s of two dispatchers side by side, no background part):
// never more than 5 requests in any 1000 ms window at the simulator, both dispatchers sent calls, and
// at least 10 calls in all (the bucket's ceiling is ~17).
//
// FC_SEED=<n> explores other scenarios, FC_RUNS=<n> runs more of them (default RUNS: 14 scenarios,
// 5-13 steps each, ~80 s here); a failure prints the seed and the shrunk path (replay with
// FC_SEED and FC_PATH; FC_TIME_LIMIT_MS bounds the shrinking, default 6 minutes). Steps run in real
// time, so a replay follows the same steps but not the same timings. PROP_VERBOSE=1 prints each
// scenario.

import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlPool } from '../../supabase/functions/_shared/db.ts';
import type { Logger } from '../../supabase/functions/_shared/log.ts';
import type { TelephonyProvider } from '../../supabase/functions/_shared/provider.ts';
import { createPool } from '../../supabase/functions/_shared/pool.ts';
import { startTick, type TickDeps, type TickResult } from '../../supabase/functions/_shared/tick.ts';
import { TwilioProvider } from '../../supabase/functions/_shared/twilio.ts';
import type { ProviderSet } from '../../supabase/functions/_shared/providers/registry.ts';
import { RetellProvider } from '../../supabase/functions/_shared/providers/retell.ts';
import { signalWireBaseUrl, SignalWireProvider } from '../../supabase/functions/_shared/providers/signalwire.ts';
import { VapiProvider } from '../../supabase/functions/_shared/providers/vapi.ts';
import { CLAIM_SHIFT_MAX_MS } from '../../supabase/functions/_shared/dispatch/claim-loop.ts';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { sleep } from '../support/clock.ts';
import { connect, disableCronJobs, functionsDbUrl, newPool, resetData, updateSettings } from '../support/db.ts';
import { type SimProcess, startSimProcess } from '../../scripts/twilio-sim/process.ts';
import { functionsEnv, type Gateway, randomSecret, startGateway } from '../support/functions.ts';
import { type ClaimInterval, dialledTwice, invariantViolations, overDialledNumbers, type Period } from '../support/invariants.ts';
import { ACTIVE } from '../support/rows.ts';

const SEED = Number(process.env.FC_SEED ?? 20261130);
const RUNS = Number(process.env.FC_RUNS ?? 14);
const PATH = process.env.FC_PATH;
/** PROP_VERBOSE=1: one line per scenario (what it did, the highest counts against their caps). */
const VERBOSE = process.env.PROP_VERBOSE === '1';

/** scheduler_settings.rate_margin_ms of every scenario (see the header for why 100; PROP_RATE_MARGIN_MS tries another). */
const RATE_MARGIN_MS = Number(process.env.PROP_RATE_MARGIN_MS ?? 100);
/** The simulator's durations scaled: no-answer after ~0.1-0.6 s, answered calls 0.3-2.2 s. */
const SIM_TIME_SCALE = 0.04;
/** How often the poller samples the caps. */
const POLL_MS = 20;
/** The second provider account's id. */
const SECOND = 'second';

/** The kinds of provider account (provider_accounts.provider), each served by its part of the simulator. */
const KINDS = ['twilio', 'signalwire', 'vapi', 'retell'] as const;
type Kind = (typeof KINDS)[number];
const kindArb = fc.constantFrom<Kind>(...KINDS);
/**
 * A second account's kind: null (two times in three) the first account's, so that campaigns may move
 * between the two; else any kind (the first one's too, one time in four).
 */
const secondKindArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: kindArb },
);

/** The first account's id: the migrations' 'default' for Twilio, else one of that kind. */
function firstAccount(kind: Kind): string {
  return kind === 'twilio' ? 'default' : `first-${kind}`;
}

/** What a campaign of each kind needs in provider_settings (null: the builder's TwiML, for twilio and signalwire). */
const PROVIDER_SETTINGS: Record<Kind, Record<string, string> | null> = {
  twilio: null,
  signalwire: null,
  vapi: { assistant_id: 'asst_continuous', phone_number_id: 'pn_continuous' },
  retell: { agent_id: 'agent_continuous' },
};

/** A campaign's provider_settings for its kind, as a JSON parameter (null: keep the builder's). */
function settingsOf(kind: Kind): string | null {
  const settings = PROVIDER_SETTINGS[kind];
  return settings === null ? null : JSON.stringify(settings);
}

const VAPI_KEY = randomSecret('vapi-key');
const VAPI_SECRET = randomSecret('vapi-secret');
const RETELL_KEY = randomSecret('retell-key');
/**
 * How long a lowered rate may still see the old rate's requests: the claim horizon at the global
 * provider_calls_per_second (claimHorizonMs: 2200 ms at 1 CPS with this margin, else 1000 ms), the
 * claim's shift and the lateness a slot may have after it (margin / 2), and some loopback delay.
 */
function rateChangeGraceMs(globalCps: number): number {
  return Math.max(1000, Math.ceil((2 * (1000 + RATE_MARGIN_MS)) / globalCps)) + CLAIM_SHIFT_MAX_MS + RATE_MARGIN_MS / 2 + 250;
}

// ------------------------------------------------------------------------------------------------
// Scenarios

const stepArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('tick' as const), ticks: fc.constantFrom<number>(1, 1, 1, 2, 2, 3) }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 100, max: 2000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pause' as const), campaign: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('resume' as const), campaign: fc.nat(5) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('rate' as const), account: fc.nat(1), cps: fc.integer({ min: 5, max: 20 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('cap' as const),
      account: fc.nat(1),
      cap: fc.option(fc.integer({ min: 1, max: 30 }), { nil: null, freq: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('account' as const),
      provider: secondKindArb,
      cps: fc.integer({ min: 5, max: 20 }),
      cap: fc.option(fc.integer({ min: 1, max: 30 }), { nil: null, freq: 4 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('move' as const), campaign: fc.nat(5) }) },
);

const scenarioArb = fc.record({
  globalCap: fc.integer({ min: 4, max: 80 }),
  // 1 CPS (Twilio's default) makes the claim horizon 2.2 s; 10 makes it 1 s
  globalCps: fc.constantFrom(1, 10),
  budgetMs: fc.integer({ min: 1000, max: 1500 }),
  backgroundMs: fc.integer({ min: 2000, max: 4000 }),
  concurrency: fc.integer({ min: 2, max: 10 }),
  batchSize: fc.integer({ min: 1, max: 10 }),
  account: fc.record({
    provider: kindArb,
    // null: the account has no rate of its own, provider_calls_per_second applies
    cps: fc.option(fc.integer({ min: 5, max: 20 }), { nil: null, freq: 6 }),
    cap: fc.option(fc.integer({ min: 2, max: 30 }), { nil: null, freq: 3 }),
  }),
  // the second account from the start (else an 'account' step may add it)
  second: fc.option(
    fc.record({
      provider: secondKindArb,
      cps: fc.integer({ min: 5, max: 20 }),
      cap: fc.option(fc.integer({ min: 2, max: 30 }), { nil: null, freq: 3 }),
      campaigns: fc.nat(3),
    }),
    { nil: null, freq: 2 },
  ),
  campaigns: fc.array(fc.record({ cap: fc.integer({ min: 1, max: 40 }), contacts: fc.integer({ min: 40, max: 120 }) }), {
    minLength: 1,
    maxLength: 3,
  }),
  // campaigns share phone numbers, with max_calls_per_number_per_day = 1 (one call per number, across campaigns)
  sharedNumbers: fc.boolean(),
  // the first step starts ticks (a scenario without any would check nothing)
  firstTicks: fc.integer({ min: 1, max: 3 }),
  steps: fc.array(stepArb, { minLength: 4, maxLength: 12 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;
type Step = Scenario['steps'][number];

// ------------------------------------------------------------------------------------------------
// The simulator in its own process: its Twilio part (which also serves SignalWire's LaML API, the
// same Calls API under /api/laml), its Vapi part and its Retell part

/** Where a call was created: the Twilio part (twilio and signalwire accounts), the Vapi or the Retell part. */
type SimPart = 'twilio' | 'vapi' | 'retell';

/** A created call, from any part of the simulator. */
interface SimCall {
  part: SimPart;
  /** The kind of account that sent it, as the simulator saw it (the Twilio part's SignalWire calls name call-status's SignalWire path). */
  kind: Kind;
  /** The platform's id of the call (Twilio's CallSid, Vapi's id, Retell's call_id). */
  sid: string;
  /** Our call id: from the StatusCallback URL (Twilio part) or the request's metadata (Vapi, Retell). */
  callId: string | null;
  to: string;
  /** When the create request arrived (the simulator's clock, epoch ms). */
  createdAt: number;
  status: string;
}

/** The three parts' counters together. */
interface SimStats {
  createRequests: number;
  /** Refused requests by part and HTTP status ("vapi 400"). */
  rejected: Record<string, number>;
  /** Calls created per number, across the parts (one number on two platforms counts twice). */
  createdPerNumber: Record<string, number>;
  /** Callbacks (Twilio part) and events (Vapi, Retell) not yet delivered or given up. */
  pending: number;
  /** Callbacks call-status refused or that failed, events not delivered. */
  failed: number;
}

interface TwilioCallLike {
  sid: string;
  to: string;
  statusCallback: string | null;
  createdAt: number;
  status: string;
}

interface TwilioStatsLike {
  createRequests: number;
  rejected: Record<string, number>;
  createdPerNumber: Record<string, number>;
  callbacksPending: number;
  callbacksFailed: number;
}

interface PlatformCallLike {
  id: string;
  to: string;
  request: { metadata?: { call_id?: unknown } };
  createdAt: number;
  status: string;
}

interface PlatformStatsLike {
  createRequests: number;
  rejected: Record<string, number>;
  createdPerNumber: Record<string, number>;
  eventsSent: number;
  eventsDelivered: number;
  eventsPending: number;
}

async function simGet<T>(p: string): Promise<T> {
  const res = await fetch(`${sim.url}${p}`);
  if (!res.ok) throw new Error(`simulator ${p}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

async function simPost(p: string, body?: unknown): Promise<void> {
  const res = await fetch(`${sim.url}${p}`, { method: 'POST', ...(body ? { body: JSON.stringify(body) } : {}) });
  if (!res.ok) throw new Error(`simulator ${p}: HTTP ${res.status}`);
  await res.text();
}

async function simReset(): Promise<void> {
  await simPost('/__sim/reset');
}

/** Every part's counters, summed. */
async function simStats(): Promise<SimStats> {
  const [twilio, vapi, retell] = await Promise.all([
    simGet<TwilioStatsLike>('/__sim/stats'),
    simGet<PlatformStatsLike>('/__sim/vapi/stats'),
    simGet<PlatformStatsLike>('/__sim/retell/stats'),
  ]);
  const out: SimStats = { createRequests: 0, rejected: {}, createdPerNumber: {}, pending: 0, failed: 0 };
  const parts: Array<[SimPart, TwilioStatsLike | PlatformStatsLike]> = [['twilio', twilio], ['vapi', vapi], ['retell', retell]];
  for (const [part, st] of parts) {
    out.createRequests += st.createRequests;
    for (const [status, n] of Object.entries(st.rejected)) out.rejected[`${part} ${status}`] = n;
    for (const [phone, n] of Object.entries(st.createdPerNumber)) {
      out.createdPerNumber[phone] = (out.createdPerNumber[phone] ?? 0) + n;
    }
  }
  out.pending = twilio.callbacksPending + vapi.eventsPending + retell.eventsPending;
  // An event sent and not delivered (once none is pending) was refused or failed.
  out.failed = twilio.callbacksFailed + (vapi.eventsSent - vapi.eventsDelivered) + (retell.eventsSent - retell.eventsDelivered);
  return out;
}

/** Every call the simulator created, from all three parts. */
async function simCalls(): Promise<SimCall[]> {
  const [twilio, vapi, retell] = await Promise.all([
    simGet<TwilioCallLike[]>('/__sim/calls'),
    simGet<PlatformCallLike[]>('/__sim/vapi/calls'),
    simGet<PlatformCallLike[]>('/__sim/retell/calls'),
  ]);
  const platform = (part: SimPart) => (c: PlatformCallLike): SimCall => {
    const ours = c.request.metadata?.call_id;
    return {
      part,
      kind: part,
      sid: c.id,
      callId: typeof ours === 'string' ? ours : null,
      to: c.to,
      createdAt: c.createdAt,
      status: c.status,
    };
  };
  return [
    ...twilio.map((c): SimCall => {
      const callback = c.statusCallback ? new URL(c.statusCallback) : null;
      return {
        part: 'twilio',
        kind: callback?.pathname.endsWith('/signalwire') ? 'signalwire' : 'twilio',
        sid: c.sid,
        callId: callback ? callback.searchParams.get('call_id') : null,
        to: c.to,
        createdAt: c.createdAt,
        status: c.status,
      };
    }),
    ...vapi.map(platform('vapi')),
    ...retell.map(platform('retell')),
  ];
}

/** How many calls the simulator created for each of our call ids. */
function createdPerCall(calls: SimCall[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of calls) out.set(c.callId ?? 'none', (out.get(c.callId ?? 'none') ?? 0) + 1);
  return out;
}

// ------------------------------------------------------------------------------------------------
// The rate, as the simulator saw it

/** An account's calls_per_second over time: each value from `from` (ms) until the next one's `from`. */
interface RateChange {
  from: number;
  /** When the change had surely committed (a lowered rate applies to slots claimed after this). */
  committed: number;
  cps: number;
}

/** The most requests any window [t, t + 1000) may hold, for windows starting at t. */
function rateBoundAt(history: RateChange[], t: number, graceMs: number): number {
  let bound = 0;
  for (const [i, h] of history.entries()) {
    const next = history[i + 1];
    // in force from h.from (a raise counts at once) until the next change committed, plus the grace
    const until = next ? next.committed + graceMs : Number.POSITIVE_INFINITY;
    if (h.from < t + 1000 && until > t) bound = Math.max(bound, h.cps);
  }
  return bound;
}

interface RateReport {
  violations: string[];
  /** Per account: requests, the fullest window, and the smallest span of cps+1 consecutive requests. */
  perAccount: Record<string, { requests: number; fullest: number; tightestMs: number | null }>;
}

/** One create request of an account: when it happened (simulator arrival, or its slot) and our call id. */
interface Timed {
  t: number;
  id: string;
}

/** Where a request's time went: its slot, when createCall was called, when the simulator saw it (ms after `base`). */
function timeline(id: string, base: number): string {
  const at = (x: number | undefined) => (x === undefined ? '?' : String(x - base));
  return `${id}: slot ${at(slotOf.get(id))} sent ${at(sentAt.get(id))} arrived ${at(arrivedAt.get(id))}`;
}

/**
 * The most requests of each account in any window [t, t + widthMs) against its rate: at the
 * simulator (arrival times, widthMs 1000), or the send slots the bucket handed out (the product's
 * own spacing, no delays: widthMs 1000 + margin, less 2 ms of rounding).
 */
function checkRate(
  what: 'simulator' | 'slots',
  events: Map<string, Timed[]>,
  histories: Map<string, RateChange[]>,
  graceMs: number,
  widthMs = 1000,
): RateReport {
  const report: RateReport = { violations: [], perAccount: {} };
  const over: Record<string, number> = {};
  for (const [account, list] of events) {
    const e = [...list].sort((a, b) => a.t - b.t);
    const history = histories.get(account) ?? [];
    let fullest = 0;
    let tightest: number | null = null;
    let j = 0;
    for (let i = 0; i < e.length; i++) {
      if (j < i) j = i;
      while (j + 1 < e.length && e[j + 1]!.t - e[i]!.t < widthMs) j++;
      const n = j - i + 1;
      fullest = Math.max(fullest, n);
      const bound = rateBoundAt(history, e[i]!.t, graceMs);
      if (n > bound && (over[account] = (over[account] ?? 0) + 1) <= 3) {
        const base = e[i]!.t;
        report.violations.push(
          `rate (${what}): account ${account} had ${n} create requests within ${widthMs} ms from ` +
            `${new Date(base).toISOString()} (last at +${e[j]!.t - base} ms), over its ${bound} calls per second; ` +
            `rate history ${JSON.stringify(history.map((h) => [new Date(h.from).toISOString(), h.cps]))}; ` +
            `the requests (ms after the first): ${e.slice(i, j + 1).map((x) => timeline(x.id, base)).join('; ')}`,
        );
      }
      const cps = Math.floor(bound);
      if (bound > 0 && i + cps < e.length) {
        const span = e[i + cps]!.t - e[i]!.t;
        if (tightest === null || span < tightest) tightest = span;
      }
    }
    report.perAccount[account] = { requests: e.length, fullest, tightestMs: tightest };
    if ((over[account] ?? 0) > 3) {
      report.violations.push(`rate (${what}): account ${account}: ${over[account]! - 3} more windows over its rate`);
    }
  }
  return report;
}

// ------------------------------------------------------------------------------------------------
// The caps, sampled while everything runs

interface Sample {
  level: 'campaign' | 'account' | 'global' | 'contact' | 'number';
  key: string;
  cap: number | null;
  n: number;
}

const SAMPLE_SQL = `
  with active as (
    select cl.campaign_id, cl.contact_id, cl.to_phone, c.provider_account
      from public.calls cl join public.campaigns c on c.id = cl.campaign_id
     where cl.status in ${ACTIVE}
  )
  select 'campaign' as level, c.id::text as key, c.max_concurrent_calls as cap,
         (select count(*) from active a where a.campaign_id = c.id)::int as n
    from public.campaigns c
  union all
  select 'account', pa.id, pa.max_concurrent_calls,
         (select count(*) from active a where a.provider_account = pa.id)::int
    from public.provider_accounts pa
  union all
  select 'global', 'all', s.global_max_concurrent_calls, (select count(*) from active)::int
    from public.scheduler_settings s
  union all
  select 'contact', 'any', 1, coalesce((select max(x.n) from (select count(*) as n from active group by contact_id) x), 0)::int
  union all
  select 'number', 'any', 1, coalesce((select max(x.n) from (select count(*) as n from active group by to_phone) x), 0)::int`;

/**
 * Samples caps and counts every POLL_MS ms on its own connection (one statement: one snapshot).
 * A count over its cap is allowed only right after a change that left it there (allow()), and only
 * while it does not grow.
 */
class CapPoller {
  readonly violations: string[] = [];
  readonly max = new Map<string, { n: number; cap: number | null }>();
  samples = 0;
  #allowance = new Map<string, number>();
  #epoch = 0;
  #pending = 0;
  #running = false;
  #loop: Promise<void> = Promise.resolve();

  constructor(private readonly db: pg.Client) {}

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        await this.sampleOnce();
        await sleep(POLL_MS);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  reset(): void {
    this.violations.length = 0;
    this.max.clear();
    this.#allowance.clear();
  }

  /**
   * A change of limits begins: until end(), no sample decays an allowance (a sample issued now may
   * see the state before or after the commit).
   */
  begin(): void {
    this.#pending++;
    this.#epoch++;
  }

  /** The change (not committed yet) leaves `n` active calls against `cap`: over it, n is allowed while it shrinks. */
  allow(key: string, cap: number | null, n: number): void {
    if (cap !== null && n > cap) this.#allowance.set(key, Math.max(n, this.#allowance.get(key) ?? 0));
  }

  /** The change committed (or rolled back): samples issued from now on see it. */
  end(): void {
    this.#pending--;
    this.#epoch++;
  }

  async sampleOnce(): Promise<void> {
    const epoch = this.#epoch;
    /** Issued after every change committed and nothing is changing: it may tighten the allowances. */
    const fresh = () => epoch === this.#epoch && this.#pending === 0;
    let rows: Sample[];
    try {
      ({ rows } = await this.db.query<Sample>(SAMPLE_SQL));
    } catch (err) {
      this.violations.push(`poller: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.samples++;
    for (const r of rows) {
      const key = `${r.level} ${r.key}`;
      const seen = this.max.get(key);
      if (!seen || r.n > seen.n) this.max.set(key, { n: r.n, cap: r.cap });
      if (r.cap === null || r.n <= r.cap) {
        if (fresh()) this.#allowance.delete(key);
        continue;
      }
      const allowed = this.#allowance.get(key);
      if (allowed !== undefined && r.n <= allowed) {
        // Over the cap a change left it at: it may only shrink from here (samples issued after the change).
        if (fresh()) this.#allowance.set(key, r.n);
        continue;
      }
      const v = `caps: ${r.level} ${r.key} held ${r.n} active calls, over its cap of ${r.cap}` +
        (allowed !== undefined ? ` (a change left it at ${allowed} at most)` : '');
      if (!this.violations.includes(v)) this.violations.push(v);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// The world of one scenario

const logEvents: Record<string, number> = {};
const logErrors: string[] = [];
const logger: Logger = {
  log(level, event, fields) {
    if (level === 'error') this.error(event, fields);
    else logEvents[event] = (logEvents[event] ?? 0) + 1;
  },
  info(event) {
    logEvents[event] = (logEvents[event] ?? 0) + 1;
  },
  warn(event) {
    logEvents[event] = (logEvents[event] ?? 0) + 1;
  },
  error(event, fields) {
    logEvents[event] = (logEvents[event] ?? 0) + 1;
    logErrors.push(`${event} ${JSON.stringify(fields ?? {})}`);
  },
};

/** The dispatchers' recorded answers by outcome (requeued ones by reason), over the whole file. */
const recorded: Record<string, number> = {};

/** Which account claim_queued_calls gave each call (its latest claim: the one that sent it). */
const claimedAccount = new Map<string, string>();

/** Diagnostics of the rate's slack: each call's send slot (claim), when createCall was called, and when the simulator saw it. */
const slotOf = new Map<string, number>();
const sentAt = new Map<string, number>();
/** Every call a claim took, when the claim was issued and answered (invariant 3 against the pauses). */
const claims: ClaimInterval[] = [];
const arrivedAt = new Map<string, number>();
const delays = { lateness: [] as number[], transit: [] as number[] };

/** The real provider, noting when each create request leaves (diagnostics only: the assertions use the simulator's clock). */
function observedProvider(inner: TelephonyProvider): TelephonyProvider {
  return {
    name: inner.name,
    createCall: (req) => {
      sentAt.set(req.callId, Date.now());
      return inner.createCall(req);
    },
  };
}

function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The functions' pool as the tick gets it, recording what every claim answered. */
function observedPool(inner: SqlPool): SqlPool {
  return {
    query: async (text, values) => {
      const res = await inner.query(text, values);
      if (text.includes('public.record_dispatch_results(') && typeof values?.[1] === 'string') {
        // What the answers were: accepted, or calls claimed and put back unsent (why), for the summary.
        for (const r of JSON.parse(values[1]) as Array<{ outcome: string; reason?: string }>) {
          const key = r.outcome === 'retryable' ? `requeued: ${r.reason}` : r.outcome;
          recorded[key] = (recorded[key] ?? 0) + 1;
        }
      }
      if (text.includes('public.claim_queued_calls(')) {
        const returned = Date.now();
        for (
          const row of res.rows as Array<
            {
              call_id: string;
              campaign_id: string;
              provider_account: string;
              release_reason: string | null;
              send_at: number | null;
            }
          >
        ) {
          if (row.release_reason === null) {
            claims.push({ call: row.call_id, campaign: row.campaign_id, issued: (values?.[2] as Date).getTime(), returned });
            claimedAccount.set(row.call_id, row.provider_account);
            if (row.send_at !== null) slotOf.set(row.call_id, row.send_at);
          }
        }
      }
      return res;
    },
    connect: () => inner.connect(),
  };
}

interface World {
  s: Scenario;
  campaigns: string[];
  accounts: string[];
  /** Each account's kind. */
  kinds: Map<string, Kind>;
  /** Each campaign's account (moves stay between accounts of one kind). */
  accountOf: Map<string, string>;
  rates: Map<string, RateChange[]>;
  pauses: Period[];
  ticks: Array<{ started: number; finished: Promise<TickResult> }>;
  trail: string[];
}

let db: pg.Pool;
let pollDb: pg.Client;
let functionsPool: (SqlPool & { end(): Promise<void> }) | undefined;
let sim: SimProcess;
let gw: Gateway | undefined;
let poller: CapPoller;
let deps: TickDeps;

const totals = {
  scenarios: 0,
  steps: 0,
  ticks: 0,
  requests: 0,
  handedOver: 0,
  refillReserved: 0,
  tightestMs: null as number | null,
  /** Levels whose cap was reached (a sample at the cap): the caps were exercised, not just far away. */
  capsReached: {} as Record<string, number>,
  fullestVsRate: [] as string[],
  /** Create requests by the kind of account that sent them (as the simulator saw them). */
  requestsByKind: {} as Record<string, number>,
  /** Campaigns moved to another account (of their kind), and move steps with no such account. */
  moves: 0,
  movesWithoutTarget: 0,
};

beforeAll(async () => {
  db = newPool(6);
  await disableCronJobs(db);
  await resetData(db);
  pollDb = await connect();
  poller = new CapPoller(pollDb);
  sim = await startSimProcess([
    ...['--seed', String(SEED % 100_000), '--time-scale', String(SIM_TIME_SCALE)],
    ...['--vapi-key', VAPI_KEY, '--vapi-server-secret', VAPI_SECRET, '--retell-key', RETELL_KEY],
  ]);
  // call-status checks each platform's events with these (the simulator signs SignalWire's
  // callbacks, like Twilio's, with its auth token: the signing key of its LaML API).
  gw = await startGateway(
    functionsEnv(sim, {
      VAPI_API_KEY: VAPI_KEY,
      VAPI_API_BASE_URL: sim.url,
      VAPI_SERVER_SECRET: VAPI_SECRET,
      RETELL_API_KEY: RETELL_KEY,
      RETELL_API_BASE_URL: sim.url,
      SIGNALWIRE_SIGNING_KEY: sim.authToken,
    }),
  );
  // Where each platform's assistant / agent would send its events.
  await simPost('/__sim/vapi/event-url', { url: `${gw.url}/call-status/vapi` });
  await simPost('/__sim/retell/event-url', { url: `${gw.url}/call-status/retell` });
  functionsPool = createPool(functionsDbUrl(), 24);
  const functionsUrl = gw.url;
  const twilio = (baseUrl: string) => new TwilioProvider({ accountSid: sim.accountSid, authToken: sim.authToken, baseUrl });
  // The real adapters of every kind, each noting when it sends (the tick picks one per call by its kind).
  const providers: ProviderSet = {
    signalwire: observedProvider(new SignalWireProvider(twilio(signalWireBaseUrl(sim.url)))),
    vapi: observedProvider(new VapiProvider({ apiKey: VAPI_KEY, baseUrl: sim.url })),
    retell: observedProvider(new RetellProvider({ apiKey: RETELL_KEY, baseUrl: sim.url })),
  };
  deps = {
    pool: observedPool(functionsPool),
    provider: observedProvider(twilio(sim.url)),
    providers,
    log: logger,
    statusCallbackUrl: (callId: string) => `${functionsUrl}/call-status?call_id=${encodeURIComponent(callId)}`,
    // Claiming ahead at every rate: by default only at 100 answers a second or more, which these
    // scenarios (a few calls a second) never reach.
    claimAheadMinAnswersPerS: 0,
  };
}, 120_000);

afterAll(async () => {
  await poller?.stop();
  await functionsPool?.end();
  await gw?.stop('SIGKILL');
  sim?.child.kill('SIGKILL');
  await pollDb?.end().catch(() => undefined);
  if (db) await resetData(db).catch(() => undefined);
  await db?.end();
});

async function setUp(s: Scenario): Promise<World> {
  await resetData(db);
  await simReset();
  claimedAccount.clear();
  claims.length = 0;
  slotOf.clear();
  sentAt.clear();
  arrivedAt.clear();
  poller.reset();
  await updateSettings(db, {
    global_max_concurrent_calls: s.globalCap,
    provider_calls_per_second: s.globalCps,
    tick_budget_ms: s.budgetMs,
    background_dispatch_ms: s.backgroundMs,
    refill_interval_ms: 100,
    rate_margin_ms: RATE_MARGIN_MS,
    dispatch_concurrency: s.concurrency,
    dispatch_batch_size: s.batchSize,
    provider_request_timeout_ms: 2000,
    queued_call_ttl: '1 day',
  });
  if (s.sharedNumbers) await db.query('update public.scheduler_settings set max_calls_per_number_per_day = 1');
  const since = Date.now();
  const first = firstAccount(s.account.provider);
  await db.query(
    `insert into public.provider_accounts (id, provider, calls_per_second, max_concurrent_calls) values ($1, $2, $3, $4)
     on conflict (id) do update set calls_per_second = excluded.calls_per_second, max_concurrent_calls = excluded.max_concurrent_calls`,
    [first, s.account.provider, s.account.cps, s.account.cap],
  );
  const rates = new Map([[first, [{ from: since, committed: Date.now(), cps: s.account.cps ?? s.globalCps }]]]);
  const kinds = new Map<string, Kind>([[first, s.account.provider]]);
  if (s.second) {
    const kind = s.second.provider ?? s.account.provider;
    await db.query(
      `insert into public.provider_accounts (id, provider, calls_per_second, max_concurrent_calls) values ($1, $2, $3, $4)`,
      [SECOND, kind, s.second.cps, s.second.cap],
    );
    rates.set(SECOND, [{ from: Date.now(), committed: Date.now(), cps: s.second.cps }]);
    kinds.set(SECOND, kind);
  }
  const campaigns: string[] = [];
  // Shared numbers: one pool, each campaign's contacts a rotation of it (distinct inside a campaign).
  const pool = freshPhones(Math.max(...s.campaigns.map((c) => c.contacts)));
  for (const [i, spec] of s.campaigns.entries()) {
    const id = await createCampaign(db, { name: `continuous ${i}`, cap: spec.cap, maxAttempts: 3, retryDelay: '1 hour' });
    if (s.sharedNumbers) {
      await addContacts(db, id, Array.from({ length: spec.contacts }, (_, k) => pool[(k + i * 7) % pool.length]!));
    } else {
      await addContacts(db, id, spec.contacts);
    }
    campaigns.push(id);
  }
  // With a second account, the first campaigns (at least one) dial through it.
  const onSecond = s.second ? 1 + (s.second.campaigns % campaigns.length) : 0;
  const accountOf = new Map<string, string>();
  for (const [i, id] of campaigns.entries()) {
    const account = i < onSecond ? SECOND : first;
    accountOf.set(id, account);
    // The database sets the campaign's provider from its account's kind.
    await db.query(
      'update public.campaigns set provider_account = $2, provider_settings = coalesce($3::jsonb, provider_settings) where id = $1',
      [id, account, settingsOf(kinds.get(account)!)],
    );
  }
  const { rows: mismatched } = await db.query<{ id: string; provider: string; set_up_problem: string | null }>(
    `select c.id::text, c.provider, c.set_up_problem from public.campaigns c join public.provider_accounts a on a.id = c.provider_account
      where c.provider is distinct from a.provider or c.set_up_problem is not null`,
  );
  if (mismatched.length > 0) throw new Error(`campaigns not set up for their accounts: ${JSON.stringify(mismatched)}`);
  return {
    s,
    campaigns,
    accounts: s.second ? [first, SECOND] : [first],
    kinds,
    accountOf,
    rates,
    pauses: [],
    ticks: [],
    trail: [],
  };
}

/**
 * A change of caps or of which account a campaign dials through: under the reservation's lock (so no
 * reservation runs with the old limits after it), and the active
 * calls it leaves per account, handed to the poller (they may only shrink while over a cap).
 */
async function changeLimits(sql: string, params: unknown[]): Promise<void> {
  poller.begin();
  try {
    await underReservationLock(async (client) => {
      await client.query(sql, params);
      const { rows } = await client.query<{ id: string; cap: number | null; n: number }>(
        `select pa.id, pa.max_concurrent_calls as cap,
                (select count(*) from public.calls cl join public.campaigns c on c.id = cl.campaign_id
                  where cl.status in ${ACTIVE} and c.provider_account = pa.id)::int as n
           from public.provider_accounts pa`,
      );
      // Before the commit: a sample that sees the new state finds its allowance already there.
      for (const r of rows) poller.allow(`account ${r.id}`, r.cap, r.n);
    });
  } finally {
    poller.end();
  }
}

/**
 * `work` in one transaction holding the reservation's advisory lock, so that it is ordered with every
 * reservation: a change of limits (changeLimits), a pause or a resume. A reservation's instant (the
 * database's clock, read once it holds the lock) is then on the same side of a pause or a resume as
 * what its snapshot saw. Without the lock a reservation could read its clock before a resume
 * committed and take its snapshot after: calls stamped a moment before the resume, of a campaign it
 * saw running (the checker could not tell them from a real violation). The product's own pause and
 * resume (admin_campaign_action()) take the same lock (docs/ARCHITECTURE.md, "Why it is safe under
 * races").
 */
async function underReservationLock<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(public._lock_key('launch_due_calls'))`);
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

async function setRate(w: World, account: string, cps: number): Promise<void> {
  const from = Date.now();
  await db.query('update public.provider_accounts set calls_per_second = $2 where id = $1', [account, cps]);
  const history = w.rates.get(account) ?? [];
  history.push({ from, committed: Date.now(), cps });
  w.rates.set(account, history);
}

async function runStep(w: World, step: Step): Promise<void> {
  switch (step.kind) {
    case 'tick': {
      for (let i = 0; i < step.ticks; i++) {
        const started = Date.now();
        // startTick resolves with the answer (after the tick's own budget); the background part goes on.
        const finished = startTick(deps, { trigger: 'local', details: { test: 'continuous-dispatch' } }).then((t) => t.finished);
        w.ticks.push({ started, finished });
        totals.ticks++;
      }
      return;
    }
    case 'wait':
      await sleep(step.ms);
      return;
    case 'expire':
      await db.query(
        // as if its holder had stalled past its TTL (renewed_at < expires_at, as the table requires)
        `update public.scheduler_leases
            set acquired_at = least(acquired_at, now() - interval '3 seconds'),
                renewed_at = least(renewed_at, now() - interval '2 seconds'),
                expires_at = now() - interval '1 second'
          where name = 'dispatch' and released_at is null`,
      );
      return;
    case 'pause': {
      const id = w.campaigns[step.campaign % w.campaigns.length]!;
      const rowCount = await underReservationLock(async (client) =>
        (await client.query(
          `update public.campaigns set status = 'PAUSED' where id = $1 and status in ('QUEUED', 'RUNNING')`,
          [id],
        )).rowCount ?? 0
      );
      // From when the pause had committed: no claim issued after that may dial the campaign. The
      // next whole millisecond: Date.now() drops the fraction, and a claim or a reservation made
      // just before the commit, in the same millisecond, carries a time at or above the truncated one.
      if (rowCount) w.pauses.push({ id, from: new Date(Date.now() + 1), until: null });
      return;
    }
    case 'resume': {
      const open = w.pauses.filter((p) => p.until === null);
      if (open.length === 0) return;
      const p = open[step.campaign % open.length]!;
      await underReservationLock(async (client) => {
        // Once the lock is held: every reservation since reads its clock after the resume commits.
        p.until = new Date();
        await client.query(`update public.campaigns set status = 'RUNNING' where id = $1 and status = 'PAUSED'`, [p.id]);
      });
      return;
    }
    case 'rate': {
      const account = w.accounts[step.account % w.accounts.length]!;
      await setRate(w, account, step.cps);
      return;
    }
    case 'cap': {
      const account = w.accounts[step.account % w.accounts.length]!;
      await changeLimits('update public.provider_accounts set max_concurrent_calls = $2 where id = $1', [account, step.cap]);
      return;
    }
    case 'account': {
      if (w.accounts.includes(SECOND)) return;
      const from = Date.now();
      const kind = step.provider ?? w.s.account.provider;
      await db.query(
        `insert into public.provider_accounts (id, provider, calls_per_second, max_concurrent_calls) values ($1, $2, $3, $4)`,
        [SECOND, kind, step.cps, step.cap],
      );
      w.accounts.push(SECOND);
      w.kinds.set(SECOND, kind);
      w.rates.set(SECOND, [{ from, committed: Date.now(), cps: step.cps }]);
      return;
    }
    case 'move': {
      // Only to another account of the same kind: a campaign's queued calls were reserved for its
      // platform (calls carry the provider), and its provider_settings are that platform's.
      const id = w.campaigns[step.campaign % w.campaigns.length]!;
      const from = w.accountOf.get(id)!;
      const to = w.accounts.find((a) => a !== from && w.kinds.get(a) === w.kinds.get(from));
      if (to === undefined) {
        totals.movesWithoutTarget++;
        return;
      }
      await changeLimits('update public.campaigns set provider_account = $2 where id = $1', [id, to]);
      w.accountOf.set(id, to);
      totals.moves++;
      return;
    }
  }
}

/** Every check that holds at any moment, with ticks running. */
async function violationsNow(w: World, graceMs: number): Promise<{ violations: string[]; rate: RateReport }> {
  const v: string[] = [...poller.violations];
  v.push(...(await invariantViolations(db, { allowRunning: true, pauses: w.pauses, claims })));
  // Stats first: every request counted there has created its call by the time calls are read.
  const stats = await simStats();
  const calls = await simCalls();
  // Every create request created a call (no faults, valid numbers): the arrival times are all the requests.
  if (Object.keys(stats.rejected).length > 0 || stats.createRequests > calls.length) {
    v.push(
      `simulator: ${stats.createRequests} create requests, ${calls.length} calls, refused ${JSON.stringify(stats.rejected)}`,
    );
  }
  for (const [id, n] of createdPerCall(calls)) if (n > 1) v.push(`at most once: call ${id} created ${n} times at the provider`);
  for (const d of dialledTwice({ stats: () => stats })) v.push(`at most once: number dialled twice: ${d}`);
  const arrivals = new Map<string, Timed[]>();
  const slots = new Map<string, Timed[]>();
  for (const c of calls) {
    const id = c.callId;
    const account = id === null ? undefined : claimedAccount.get(id);
    if (id === null || account === undefined) {
      v.push(`simulator: a create request for call ${id} that no claim of ours gave out`);
      continue;
    }
    arrivedAt.set(id, c.createdAt);
    // Each call went to its account's platform (the adapter is picked by the call's kind).
    const kind = w.kinds.get(account);
    if (c.kind !== kind) v.push(`provider: call ${id} of ${kind} account ${account} reached the simulator as a ${c.kind} call`);
    arrivals.set(account, [...(arrivals.get(account) ?? []), { t: c.createdAt, id }]);
    // The dispatcher's own part, exact (no loopback in it): never before the slot, at most the claim's
    // shift and margin / 2 after it (the shifted slots' spacing shows at the simulator, below).
    const slot = slotOf.get(id);
    const sent = sentAt.get(id);
    if (slot === undefined || sent === undefined) {
      v.push(`dispatcher: call ${id} reached the simulator without a recorded slot / send`);
      continue;
    }
    slots.set(account, [...(slots.get(account) ?? []), { t: slot, id }]);
    // 2 ms: timers may fire a millisecond early, and slots are rounded to the millisecond here
    if (sent < slot - 2) v.push(`dispatcher: call ${id} sent ${slot - sent} ms before its slot`);
    if (sent - slot > CLAIM_SHIFT_MAX_MS + RATE_MARGIN_MS / 2 + 2) {
      v.push(
        `dispatcher: call ${id} sent ${sent - slot} ms after its slot (gives it up beyond ${
          CLAIM_SHIFT_MAX_MS + RATE_MARGIN_MS / 2
        })`,
      );
    }
  }
  // The bucket's spacing itself: any 1000 + margin ms of slots hold at most the rate.
  v.push(...checkRate('slots', slots, w.rates, graceMs, 1000 + RATE_MARGIN_MS - 2).violations);
  // As the provider sees it.
  const rate = checkRate('simulator', arrivals, w.rates, graceMs);
  v.push(...rate.violations);
  return { violations: v, rate };
}

/** The end of a scenario: every tick finished, every call ended at the simulator and its callbacks applied. */
async function drain(w: World, graceMs: number): Promise<string[]> {
  const v: string[] = [];
  const results = await Promise.all(w.ticks.map((t) => t.finished));
  // settle: the simulator's calls end and their callbacks reach call-status
  const until = Date.now() + 30_000;
  let stats = await simStats();
  while (stats.pending > 0 && Date.now() < until) {
    await sleep(50);
    stats = await simStats();
  }
  if (stats.pending > 0) v.push(`simulator: ${stats.pending} callbacks / events still pending after 30 s`);
  if (stats.failed > 0) v.push(`call-status refused or failed ${stats.failed} callbacks / events`);
  await poller.sampleOnce();

  for (const [i, r] of results.entries()) {
    totals.handedOver += r.handedOver ? 1 : 0;
    if (r.status !== 'ok') v.push(`tick ${i + 1} (run ${r.runId}) ended ${r.status}: ${JSON.stringify(r.errors.slice(0, 5))}`);
  }
  const now = await violationsNow(w, graceMs);
  v.push(...now.violations);
  v.push(...(await invariantViolations(db, { allowRunning: false, pauses: w.pauses, claims })));
  // Numbers called more often than their contacts were dialled (with shared numbers, the number's contacts together).
  if (!w.s.sharedNumbers) v.push(...(await overDialledNumbers(db, stats.createdPerNumber)));
  // Every call the simulator created is ours, was dialled once, and its final callback was applied.
  const calls = await simCalls();
  const { rows } = await db.query<{ id: string; status: string; provider_call_id: string | null; to_phone: string }>(
    `select id::text, status::text, provider_call_id, to_phone from public.calls where dialed_at is not null`,
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const c of calls) {
    const row = byId.get(c.callId ?? '');
    if (!row) v.push(`simulator ${c.part} call ${c.sid} (call ${c.callId}) is not a dialled call of ours`);
    else if (row.to_phone !== c.to) v.push(`call ${row.id} is to ${row.to_phone}, the simulator dialled ${c.to}`);
    else if (row.provider_call_id !== c.sid) v.push(`call ${row.id}: provider id ${row.provider_call_id}, simulator ${c.sid}`);
    else if (['queued', 'dialing', 'unknown', 'ringing', 'in_progress'].includes(row.status)) {
      v.push(`call ${row.id} is still ${row.status} after the simulator ended it (${c.status}) and its callbacks were delivered`);
    }
  }
  const { rows: reserved } = await db.query<{ n: number }>(
    `select coalesce(sum(calls_reserved), 0)::int as n from public.scheduler_runs`,
  );
  totals.refillReserved += reserved[0]!.n;
  totals.requests += calls.length;
  for (const c of calls) totals.requestsByKind[c.kind] = (totals.requestsByKind[c.kind] ?? 0) + 1;
  for (const c of calls) {
    const id = c.callId ?? '';
    const slot = slotOf.get(id);
    const sent = sentAt.get(id);
    if (slot !== undefined && sent !== undefined) delays.lateness.push(sent - slot);
    if (sent !== undefined) delays.transit.push(c.createdAt - sent);
  }
  if (VERBOSE) {
    const { rows: runs } = await db.query<{ r: number; l: number; q: number; x: number; e: number }>(
      `select coalesce(sum(calls_reserved), 0)::int as r, coalesce(sum(calls_launched), 0)::int as l,
              coalesce(sum(calls_requeued), 0)::int as q, coalesce(sum(calls_released), 0)::int as x,
              coalesce(sum(jsonb_array_length(errors)), 0)::int as e from public.scheduler_runs`,
    );
    console.log(
      `[scenario] ${w.ticks.length} ticks, ${calls.length} requests, runs ${JSON.stringify(runs[0])}, ` +
        `max ${JSON.stringify(Object.fromEntries(poller.max))}\n  ${JSON.stringify({ ...w.s, steps: undefined })}\n  ${
          w.trail.join('\n  ')
        }`,
    );
  }
  for (const [key, m] of poller.max) {
    const level = key.split(' ')[0]!;
    if (m.cap !== null && m.n >= m.cap && level !== 'contact' && level !== 'number') {
      totals.capsReached[level] = (totals.capsReached[level] ?? 0) + 1;
    }
  }
  for (const [account, a] of Object.entries(now.rate.perAccount)) {
    if (a.tightestMs !== null) {
      totals.tightestMs = totals.tightestMs === null ? a.tightestMs : Math.min(totals.tightestMs, a.tightestMs);
    }
    const rates = (w.rates.get(account) ?? []).map((h) => h.cps).join('/');
    totals.fullestVsRate.push(`${account}: ${a.fullest} in 1 s at ${rates} CPS (${a.requests} requests)`);
  }
  return v;
}

function describeStep(step: Step): string {
  return JSON.stringify(step);
}

describe('continuous dispatch under random steps in real time (ticks, background dispatchers, handovers, accounts)', () => {
  it(
    "keeps caps at every level, one call per contact and per number, at most one create per call, and each account's rate at the simulator",
    async () => {
      const started = Date.now();
      poller.start();
      try {
        await fc.assert(
          fc.asyncProperty(scenarioArb, async (s) => {
            const w = await setUp(s);
            const graceMs = rateChangeGraceMs(s.globalCps);
            const t0 = Date.now();
            try {
              for (const [i, step] of [{ kind: 'tick' as const, ticks: s.firstTicks }, ...s.steps].entries()) {
                await runStep(w, step);
                totals.steps++;
                w.trail.push(`${i + 1}. +${Date.now() - t0} ms ${describeStep(step)}`);
                const { violations } = await violationsNow(w, graceMs);
                if (violations.length > 0) {
                  throw new Error(`after step ${i + 1}:\n  ${violations.join('\n  ')}\nsteps:\n  ${w.trail.join('\n  ')}`);
                }
              }
            } finally {
              // whatever happened, no tick of this scenario may outlive it
              await Promise.allSettled(w.ticks.map((t) => t.finished));
            }
            const drained = await drain(w, graceMs);
            if (drained.length > 0) {
              throw new Error(`after the drain:\n  ${drained.join('\n  ')}\nsteps:\n  ${w.trail.join('\n  ')}`);
            }
            totals.scenarios++;
          }),
          {
            seed: SEED,
            numRuns: RUNS,
            ...(PATH ? { path: PATH } : {}),
            // Shrinking replays real-time scenarios: bounded.
            interruptAfterTimeLimit: Number(process.env.FC_TIME_LIMIT_MS ?? 6 * 60_000),
            markInterruptAsFailure: true,
          },
        );
      } finally {
        await poller.stop();
      }
      console.log(
        `[continuous dispatch] ${totals.scenarios} scenarios, ${totals.steps} steps, ${totals.ticks} ticks in ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s (seed ${SEED}): ${totals.requests} create requests at the ` +
          `simulator (by kind ${JSON.stringify(totals.requestsByKind)}), ${totals.refillReserved} calls reserved, ` +
          `${totals.moves} campaigns moved (${totals.movesWithoutTarget} move steps without an account of the kind), ${totals.handedOver} background dispatchers handed over, ` +
          `${poller.samples} cap samples, caps reached ${
            JSON.stringify(totals.capsReached)
          }; tightest window: ${totals.tightestMs} ms for cps+1 requests ` +
          `(>= 1000 keeps the rate; ${1000 + RATE_MARGIN_MS} without delays); send after its slot p50/p99/max ` +
          `${percentile(delays.lateness, 50)}/${percentile(delays.lateness, 99)}/${percentile(delays.lateness, 100)} ms, ` +
          `simulator arrival after the send p50/p99/max ${percentile(delays.transit, 50)}/${percentile(delays.transit, 99)}/` +
          `${percentile(delays.transit, 100)} ms; fullest windows: ${totals.fullestVsRate.join('; ')}; ` +
          `answers recorded ${JSON.stringify(recorded)}; events ${JSON.stringify(logEvents)}`,
      );
      expect(logErrors).toEqual([]);
      expect(totals.scenarios).toBe(PATH ? 1 : RUNS);
      // The scenarios did dispatch (an empty run would check nothing).
      expect(totals.requests).toBeGreaterThan(0);
    },
    10 * 60_000,
  );

  it(
    'two dispatchers at once at 5 CPS for ~4 s: never over 5 requests in any second at the simulator, together ~the rate',
    async () => {
      await resetData(db);
      await simReset();
      claimedAccount.clear();
      claims.length = 0;
      slotOf.clear();
      sentAt.clear();
      arrivedAt.clear();
      await updateSettings(db, {
        global_max_concurrent_calls: 100,
        provider_calls_per_second: 5,
        tick_budget_ms: 5000,
        background_dispatch_ms: 0,
        refill_interval_ms: 100,
        rate_margin_ms: RATE_MARGIN_MS,
        dispatch_concurrency: 10,
        dispatch_batch_size: 10,
        provider_request_timeout_ms: 2000,
        queued_call_ttl: '1 day',
      });
      await db.query(
        `update public.provider_accounts set calls_per_second = 5, max_concurrent_calls = null where id = 'default'`,
      );
      const campaign = await createCampaign(db, { name: 'two dispatchers', cap: 60, retryDelay: '1 hour' });
      await addContacts(db, campaign, 60);

      // Both dispatch inside their budget, side by side, drawing on the same bucket.
      const ticks = await Promise.all([startTick(deps, { trigger: 'local' }), startTick(deps, { trigger: 'local' })]);
      const results = await Promise.all(ticks.map((t) => t.finished));

      const calls = await simCalls();
      const times = calls.map((c) => c.createdAt).sort((a, b) => a - b);
      for (const c of calls) arrivedAt.set(c.callId ?? '', c.createdAt);
      const report = checkRate(
        'simulator',
        new Map([['default', calls.map((c) => ({ t: c.createdAt, id: c.callId ?? '?' }))]]),
        new Map([['default', [{ from: 0, committed: 0, cps: 5 }]]]),
        0,
      );
      const spanMs = times.length > 1 ? times.at(-1)! - times[0]! : 0;
      console.log(
        `[continuous dispatch] two dispatchers at 5 CPS: ${times.length} requests in ${spanMs} ms ` +
          `(${spanMs > 0 ? (((times.length - 1) / spanMs) * 1000).toFixed(2) : '-'} per second; the bucket's ceiling with a ` +
          `${RATE_MARGIN_MS} ms margin is ${(5000 / (1000 + RATE_MARGIN_MS)).toFixed(2)}); fullest 1-s window ` +
          `${report.perAccount.default?.fullest}, tightest span of 6 requests ${report.perAccount.default?.tightestMs} ms; ` +
          `launched ${results.map((r) => r.launched).join(' + ')}, handed over ${results.map((r) => r.handedOver).join('/')}`,
      );
      expect(report.violations).toEqual([]);
      expect(report.perAccount.default?.fullest).toBeLessThanOrEqual(5);
      // ~3.75 s at 5 CPS: at least 10 (the ceiling is ~17), whatever the machine's load.
      expect(times.length).toBeGreaterThanOrEqual(10);
      expect(results.reduce((n, r) => n + r.launched, 0)).toBe(times.length);
      expect(results.map((r) => r.status)).toEqual(['ok', 'ok']);
      // (Which of the two sends is not fixed: the one whose claim comes first after a slot frees wins it.)
      expect(createdPerCallMax(calls)).toBe(1);
      expect(await invariantViolations(db, { allowRunning: false })).toEqual([]);
    },
    60_000,
  );
});

function createdPerCallMax(calls: SimCall[]): number {
  return Math.max(0, ...createdPerCall(calls).values());
}
