// The campaign benchmark's mixed-provider run (`npm run bench -- --only campaign`, and in --quick):
// one set of campaigns over a Twilio, a Vapi, a Retell and a SignalWire account at once, each
// account with its own calls per second and concurrency cap, through the real scheduler-tick and
// call-status functions (Deno gateway) and the simulator speaking all four APIs. The Vapi, Retell
// and SignalWire accounts dial with their own credentials (PROVIDER_ACCOUNT_CREDENTIALS: their own
// organisation at the simulator, their own event keys). Time-scaled like campaign.ts (continuous
// dispatch), with the platforms' call timelines.
//
// Reported per account: its makespan (first tick -> its last call's end) against its own ideal
// bound (idealBound(): its calls' hold times on its cap, and at its rate), and the campaign set's
// makespan against the largest of the accounts' bounds (the accounts share no cap or rate, so the
// set can end no sooner than its slowest account). Checked after the run: every contact called
// exactly once at its own platform (and at its own organisation), every contact final, each
// account's cap kept (concurrent calls at the platform, and active calls sampled in the database),
// every tick answered 200, and the database invariants.

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startTwilioSimulator } from '../twilio-sim/server.ts';
import { startGateway } from '../../test/support/functions.ts';
import { ACTIVE, BENCH_TWIML_URL, checkInvariants, truncateAll } from './data.ts';
import { type IdealBound, idealBound, scaledTiming, waitLeaseFree } from './campaign.ts';
import { renderTable } from './report.ts';

export interface MixedAccountPlan {
  /** provider_accounts.id ('default' is the Twilio main account). */
  account: string;
  provider: 'twilio' | 'signalwire' | 'vapi' | 'retell';
  /** Calls per second before scaling. */
  cps: number;
  cap: number;
  contacts: number;
}

/** The default mix: four accounts, each bound differently (three by their cap, SignalWire by its rate). */
export function mixedPlans(quick: boolean): MixedAccountPlan[] {
  const perSlot = quick ? 4 : 8;
  return [
    { account: 'default', provider: 'twilio', cps: 2, cap: 4, contacts: 4 * perSlot },
    { account: 'mix-vapi', provider: 'vapi', cps: 1, cap: 3, contacts: 3 * perSlot },
    { account: 'mix-retell', provider: 'retell', cps: 1, cap: 5, contacts: 5 * perSlot },
    { account: 'mix-signalwire', provider: 'signalwire', cps: 0.1, cap: 4, contacts: quick ? 8 : 16 },
  ];
}

export interface MixedAccountResult {
  plan: MixedAccountPlan;
  /** Scaled calls per second. */
  rate: number;
  makespanMs: number;
  ideal: IdealBound;
  created: number;
  outcomes: Record<string, number>;
  /** Most concurrent calls at the platform, and most active in the database (sampled). */
  maxAtProvider: number;
  maxInDb: number;
  /** Most create requests of the account in any 1 s (at the platform), and the shortest gap between two (ms). */
  maxCreatesPerSecond: number;
  tightestGapMs: number;
}

export interface MixedResult {
  scale: number;
  contacts: number;
  makespanMs: number;
  boundMs: number;
  binding: string;
  accounts: MixedAccountResult[];
  failures: string[];
}

export interface MixedBenchOptions {
  scale: number;
  plans: MixedAccountPlan[];
  log: (s: string) => void;
  onInvariantFailure: (where: string, failures: string[]) => void;
  poolerUrl?: string;
  runTimeoutMs?: number;
}

/** The platforms' outcome mix (the simulator's Vapi and Retell parts; Twilio's the same without machines). */
const OUTCOMES = { completed: 50, 'no-answer': 30, busy: 10, failed: 5, voicemail: 5 } as const;
/** The Twilio part's timeline, as the platforms' (platform.ts ringAndTalk; no answer after 30 s). */
const TIMING = {
  ringMs: [2000, 12000] as [number, number],
  talkMs: [5000, 40000] as [number, number],
  noAnswerMs: [30_000, 30_000] as [number, number],
};
const SAMPLE_EVERY_MS = 100;
const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

function maxConcurrent(intervals: [number, number][]): number {
  const events = intervals.flatMap(([a, b]) => [[a, 1], [b, -1]] as [number, number][]);
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let best = 0;
  for (const [, d] of events) best = Math.max(best, open += d);
  return best;
}

function maxInWindow(times: number[], windowMs: number): number {
  const s = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < s.length; hi++) {
    while (s[hi]! - s[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

function tightestGap(times: number[]): number {
  const s = [...times].sort((a, b) => a - b);
  let best = Infinity;
  for (let k = 1; k < s.length; k++) best = Math.min(best, s[k]! - s[k - 1]!);
  return best;
}

export async function benchMixedProviders(url: string, opts: MixedBenchOptions): Promise<MixedResult> {
  const { scale, plans } = opts;
  const where = 'campaign, mixed providers';
  const admin = new pg.Client({ connectionString: url, application_name: 'bench-campaign-mixed' });
  await admin.connect();
  const { rows: rules } = await admin.query<{ id: string }>(
    'update public.calling_hours_rules set enabled = false where enabled returning id',
  );
  // Each platform account's own keys at the simulator (an organisation of its own).
  const own = () => randomBytes(16).toString('hex');
  const vapiOrg = { apiKey: own(), eventKey: own() };
  const retellOrg = { apiKey: own(), eventKey: own() };
  const sim = await startTwilioSimulator({
    timeScale: 1 / scale,
    seed: 4242,
    outcomes: { completed: OUTCOMES.completed, 'no-answer': OUTCOMES['no-answer'], busy: OUTCOMES.busy, failed: OUTCOMES.failed },
    timing: TIMING,
    vapi: { outcomes: OUTCOMES, organisations: { 'mix-vapi': vapiOrg } },
    retell: { outcomes: OUTCOMES, organisations: { 'mix-retell': retellOrg } },
  });
  const cronSecret = `cron-${own()}`;
  const gw = await startGateway({
    SUPABASE_DB_URL: opts.poolerUrl ?? url,
    CRON_SECRET: cronSecret,
    ADMIN_TOKEN: `admin-${own()}`,
    TWILIO_ACCOUNT_SID: sim.accountSid,
    TWILIO_AUTH_TOKEN: sim.authToken,
    TWILIO_API_BASE_URL: sim.url,
    TICK_JITTER_MS: '0',
    ALLOW_INSECURE_URLS: '1',
    // No kind-level Vapi, Retell or SignalWire credentials: each account its own.
    PROVIDER_ACCOUNT_CREDENTIALS: JSON.stringify({
      'mix-vapi': { provider: 'vapi', apiKey: vapiOrg.apiKey, serverSecret: vapiOrg.eventKey, baseUrl: sim.url },
      'mix-retell': { provider: 'retell', apiKey: retellOrg.apiKey, webhookKey: retellOrg.eventKey, baseUrl: sim.url },
      // The simulator's LaML API is its Twilio part (/api/laml/...), which signs with its auth token.
      'mix-signalwire': {
        provider: 'signalwire',
        projectId: sim.accountSid,
        apiToken: sim.authToken,
        spaceUrl: sim.url,
        signingKey: sim.authToken,
      },
    }),
  });
  sim.vapi.setEventUrl(`${gw.url}/call-status/vapi`);
  sim.retell.setEventUrl(`${gw.url}/call-status/retell`);
  const killGateway = () => void gw.child.kill('SIGKILL');
  process.once('SIGINT', killGateway);
  process.once('SIGTERM', killGateway);
  const failures: string[] = [];
  try {
    // --- seed: the accounts with their rates and caps, one campaign each (its cap above the account's)
    const t = scaledTiming(scale);
    await truncateAll(admin);
    await admin.query('delete from public.provider_circuit_breakers');
    await admin.query('delete from public.scheduler_leases');
    await admin.query(`delete from public.provider_accounts where id like 'mix-%'`);
    await admin.query(
      `update public.scheduler_settings
          set global_max_concurrent_calls = 1000000, provider_calls_per_second = $1, tick_budget_ms = $2,
              provider_request_timeout_ms = $3, background_dispatch_ms = $4, refill_interval_ms = $5`,
      [10 * scale, t.tickBudgetMs, t.requestTimeoutMs, t.backgroundDispatchMs, t.refillIntervalMs],
    );
    const campaignOf = new Map<string, string>();
    for (const [i, p] of plans.entries()) {
      if (p.account === 'default') {
        await admin.query(
          `update public.provider_accounts set calls_per_second = $1, max_concurrent_calls = $2, next_send_at = '-infinity'
            where id = 'default'`,
          [p.cps * scale, p.cap],
        );
      } else {
        await admin.query(
          `insert into public.provider_accounts (id, provider, calls_per_second, max_concurrent_calls) values ($1, $2, $3, $4)`,
          [p.account, p.provider, p.cps * scale, p.cap],
        );
      }
      const settings = p.provider === 'vapi'
        ? { assistant_id: 'asst_bench', phone_number_id: 'pn_bench' }
        : p.provider === 'retell'
        ? { agent_id: 'agent_bench' }
        : { url: BENCH_TWIML_URL };
      const { rows } = await admin.query<{ id: string }>(
        `insert into public.campaigns (name, status, max_concurrent_calls, caller_id, provider_settings, provider_account,
                                       time_zone, window_start, window_end, window_days, max_attempts)
         values ($1, 'QUEUED', $2, '+15550100000', $3::jsonb, $4, 'UTC', '00:00', '23:59:59', '{1,2,3,4,5,6,7}', 1)
         returning id::text`,
        [`mixed ${p.account}`, p.cap * 10, JSON.stringify(settings), p.account],
      );
      campaignOf.set(rows[0]!.id, p.account);
      await admin.query(
        `insert into public.contacts (campaign_id, phone, next_attempt_at)
         select $1, '+1' || lpad(($2::bigint * 1000000 + k)::text, 10, '0'), now() - interval '1 hour'
           from generate_series(1, $3::integer) k`,
        [rows[0]!.id, 70 + i, p.contacts],
      );
    }
    await admin.query('vacuum analyze public.calls, public.contacts, public.campaigns');
    const contacts = plans.reduce((a, p) => a + p.contacts, 0);

    // --- run: a tick every scaled minute until every contact is final ------------------------------
    const dbMax = new Map<string, number>();
    const ticks: Promise<{ status: number; errors: unknown[] }>[] = [];
    const t0 = nowMs();
    const minute0 = Math.floor(Date.now() / 60_000) * 60_000;
    const runTimeout = opts.runTimeoutMs ?? 5 * 60_000;
    let nextTick = 0;
    for (;;) {
      const now = nowMs();
      if (now >= t0 + nextTick * t.tickEveryMs) {
        const u = new URL(`${gw.url}/scheduler-tick`);
        u.searchParams.set('trigger', 'vercel');
        u.searchParams.set('scheduled_for', new Date(minute0 + nextTick * 60_000).toISOString());
        ticks.push(
          fetch(u, { headers: { authorization: `Bearer ${cronSecret}` }, signal: AbortSignal.timeout(120_000) })
            .then(async (r) => ({ status: r.status, errors: ((await r.json()) as { errors?: unknown[] }).errors ?? [] }))
            .catch((e: unknown) => ({ status: 0, errors: [String(e)] })),
        );
        nextTick++;
      }
      const { rows } = await admin.query<{ campaign_id: string; n: number }>(
        `select campaign_id::text, count(*)::integer as n from public.calls where status in ${ACTIVE} group by 1`,
      );
      for (const r of rows) {
        const account = campaignOf.get(r.campaign_id)!;
        dbMax.set(account, Math.max(dbMax.get(account) ?? 0, r.n));
      }
      const open = await admin.query<{ n: number }>(
        `select count(*)::integer as n from public.contacts where status in ('pending', 'in_progress')`,
      );
      if (open.rows[0]!.n === 0 && rows.length === 0) break;
      if (now - t0 > runTimeout) {
        failures.push(`not every contact was final after ${Math.round(runTimeout / 1000)} s`);
        break;
      }
      await sleep(SAMPLE_EVERY_MS);
    }
    const answers = await Promise.all(ticks);
    // The background dispatcher records its run's end when it stops: wait for it (the invariants include it).
    if (!(await waitLeaseFree(admin, t.backgroundDispatchMs + 15_000))) {
      failures.push('the dispatch lease was still held long after the end');
    }
    for (const [i, a] of answers.entries()) {
      if (a.status !== 200) failures.push(`tick ${i} answered ${a.status}`);
      if (a.errors.length > 0) failures.push(`tick ${i} reported errors: ${JSON.stringify(a.errors).slice(0, 300)}`);
    }
    await Promise.all([sim.settled(30_000), sim.vapi.settled(30_000), sim.retell.settled(30_000)]).catch((e: unknown) =>
      failures.push(String(e))
    );

    // --- what each platform saw ---------------------------------------------------------------------
    const { rows: callRows } = await admin.query<
      { pid: string | null; campaign_id: string; provider: string; status: string; ended_ms: number | null }
    >(
      `select provider_call_id as pid, campaign_id::text, provider, status::text,
              (extract(epoch from ended_at) * 1000)::float8 as ended_ms
         from public.calls`,
    );
    const accountOfPid = new Map(
      callRows.filter((r) => r.pid).map((r) => [`${r.provider}:${r.pid}`, campaignOf.get(r.campaign_id)!]),
    );
    const seen = new Map<string, { to: string; from: number; until: number | null; org?: string }[]>(
      plans.map((p) => [p.account, []]),
    );
    for (const c of sim.calls()) {
      const account = accountOfPid.get(`twilio:${c.sid}`) ?? accountOfPid.get(`signalwire:${c.sid}`);
      if (!account) failures.push(`Twilio/SignalWire call ${c.sid} is not one of ours`);
      else seen.get(account)!.push({ to: c.to, from: c.createdAt, until: c.endedAt });
    }
    for (const [kind, part] of [['vapi', sim.vapi], ['retell', sim.retell]] as const) {
      for (const c of part.calls()) {
        const account = accountOfPid.get(`${kind}:${c.id}`);
        if (!account) failures.push(`${kind} call ${c.id} is not one of ours`);
        else seen.get(account)!.push({ to: c.to, from: c.createdAt, until: c.endedAt, org: c.organisation });
      }
    }
    const accounts: MixedAccountResult[] = [];
    for (const p of plans) {
      const calls = seen.get(p.account)!;
      const numbers = new Set(calls.map((c) => c.to));
      if (calls.length !== p.contacts || numbers.size !== calls.length) {
        failures.push(`${p.account}: ${calls.length} calls at the platform for ${p.contacts} contacts, ${numbers.size} numbers`);
      }
      if (calls.some((c) => c.org !== undefined && c.org !== p.account)) {
        failures.push(`${p.account}: a call created with another organisation's key`);
      }
      if (calls.some((c) => c.until === null)) failures.push(`${p.account}: a call never ended at the platform`);
      const intervals = calls.filter((c) => c.until !== null).map((c) => [c.from, c.until!] as [number, number]);
      const maxAtProvider = maxConcurrent(intervals);
      const maxInDb = dbMax.get(p.account) ?? 0;
      if (maxAtProvider > p.cap || maxInDb > p.cap) {
        failures.push(`${p.account}: cap ${p.cap} exceeded (${maxAtProvider} at the platform, ${maxInDb} in the database)`);
      }
      const rows = callRows.filter((r) => campaignOf.get(r.campaign_id) === p.account);
      const outcomes: Record<string, number> = {};
      for (const r of rows) outcomes[r.status] = (outcomes[r.status] ?? 0) + 1;
      const end = Math.max(t0, ...rows.map((r) => r.ended_ms ?? t0));
      const rate = p.cps * scale;
      accounts.push({
        plan: p,
        rate,
        makespanMs: end - t0,
        ideal: idealBound(
          intervals.map(([a, b]) => ({ campaign: p.account, ms: b - a })),
          { [p.account]: p.cap },
          1_000_000,
          rate,
        ),
        created: calls.length,
        outcomes,
        maxAtProvider,
        maxInDb,
        maxCreatesPerSecond: maxInWindow(calls.map((c) => c.from), 1000),
        tightestGapMs: tightestGap(calls.map((c) => c.from)),
      });
    }
    if (callRows.length !== contacts) failures.push(`${callRows.length} calls for ${contacts} contacts`);
    failures.push(...(await checkInvariants(admin, new Date())).failures);
    const slowest = accounts.reduce((a, b) => (b.ideal.boundMs > a.ideal.boundMs ? b : a));
    const result: MixedResult = {
      scale,
      contacts,
      makespanMs: Math.max(...accounts.map((a) => a.makespanMs)),
      boundMs: slowest.ideal.boundMs,
      binding: `${slowest.plan.account}: ${slowest.ideal.binding}`,
      accounts,
      failures,
    };
    opts.log(
      `${where}: ${contacts} contacts over ${plans.length} accounts, makespan ${(result.makespanMs / 1000).toFixed(1)} s ` +
        `(bound ${(result.boundMs / 1000).toFixed(1)} s, ${result.binding}, ${
          ((result.boundMs / result.makespanMs) * 100).toFixed(1)
        }%)`,
    );
    return result;
  } finally {
    process.off('SIGINT', killGateway);
    process.off('SIGTERM', killGateway);
    await gw.stop();
    await sim.close();
    await admin.query(
      `update public.provider_accounts set calls_per_second = null, max_concurrent_calls = null where id = 'default'`,
    )
      .catch(() => undefined);
    if (rules.length) {
      await admin.query('update public.calling_hours_rules set enabled = true where id = any($1::bigint[])', [
        rules.map((r) => r.id),
      ]);
    }
    await admin.end();
    if (failures.length) opts.onInvariantFailure(where, failures);
  }
}

export function mixedTable(r: MixedResult): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const header = [
    'account',
    'kind',
    'CPS (scaled)',
    'cap',
    'contacts',
    'created',
    'makespan s',
    'bound s',
    'binds',
    'bound/makespan',
    'max active vs cap (platform, db)',
    'max creates in 1 s (tightest gap ms)',
    'outcomes',
  ];
  const body = r.accounts.map((a) => [
    a.plan.account,
    a.plan.provider,
    `${a.plan.cps} (${a.rate})`,
    String(a.plan.cap),
    String(a.plan.contacts),
    String(a.created),
    (a.makespanMs / 1000).toFixed(1),
    (a.ideal.boundMs / 1000).toFixed(1),
    a.ideal.binding.replace(/^cap .*/, 'cap'),
    pct(a.ideal.boundMs / a.makespanMs),
    `${a.maxAtProvider}, ${a.maxInDb} / ${a.plan.cap}`,
    `${a.maxCreatesPerSecond} (${Number.isFinite(a.tightestGapMs) ? a.tightestGapMs.toFixed(0) : '-'})`,
    Object.entries(a.outcomes).sort().map(([k, v]) => `${k} ${v}`).join(', '),
  ]);
  body.push([
    'all',
    'mixed',
    '',
    '',
    String(r.contacts),
    String(r.accounts.reduce((s, a) => s + a.created, 0)),
    (r.makespanMs / 1000).toFixed(1),
    (r.boundMs / 1000).toFixed(1),
    r.binding,
    pct(r.boundMs / r.makespanMs),
    '',
    '',
    r.failures.length ? `${r.failures.length} failures` : 'invariants held',
  ]);
  return renderTable(header, body);
}
