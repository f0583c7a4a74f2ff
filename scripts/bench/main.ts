// `npm run bench [-- --quick] [-- --only reserve|dispatch|import]`: seeds synthetic data on a throwaway
// PostgreSQL cluster (or DATABASE_URL) and measures the reservation tick (launch_due_calls())
// against the user story's naive loop and a bare INSERT ... SELECT floor, and the dispatcher
// (runTick: claim, Twilio adapter, simulator on loopback, result recorded) against a bare HTTP
// loop. Prints a table, writes the same figures to bench-results/bench.json and the tick latency
// chart to docs/bench-tick-latency.svg, and checks the invariants after every run. Its last line
// says whether every part it was asked for ran and how many times an invariant broke; it exits
// non-zero when a part did not run or an invariant broke, and never because of a timing (the
// targets are reported, not judged). Not part of `npm test`; CI runs `--quick` after it (.ci/run).
// See docs/performance.md.
//
// Options:
//   --quick               one run of everything, smaller scales: a smoke run of every part (a few
//                         minutes), for its invariants, not its figures; CI runs it after npm test
//   --only reserve|dispatch|import|campaign|webhooks|lead   (webhooks: 10,000 outcome events to a loopback
//                         receiver failing 30 % of requests and down for a minute, the retry schedule
//                         scaled down; nothing lost, lag p50 / p95; see webhooks.ts; lead: speed to lead, p50 / p95 from a
//                         lead's POST to its create-call request, with no backlog and a backlog of 10,000 due
//                         contacts (--quick: 1,000, 10 leads; invariants only); see lead.ts; import: a 100,000-row CSV contacts import, rows/s and
//                         memory; campaign: whole campaigns, time-scaled, through the real Edge
//                         Functions and the simulator: makespan against the ideal bound, baseline
//                         (minute tick only) and continuous dispatch, CPS 1 and 10; see campaign.ts)
//   --scale N             campaign: time scale (default 10: a tick every 6 s, calls 10x shorter, rates x10)
//   --cps 1,10            campaign: provider calls per second before scaling (default 1,10)
//   --contacts-per-slot N campaign: contacts per unit of cap (default: CPS 1 -> 2, CPS 10 -> 6)
//   --modes a,b           campaign: baseline and/or continuous (default both; long runs: continuous)
//   --runs N              runs per figure (default 5; --quick 1; campaign: 2, --quick 1)
//   --baseline-runs N     rounds in which the (slow) baseline runs too (default 3)
//   --apply FILE.sql      run FILE after the migrations (try a proposed SQL change; recorded in
//                         the output, never written to supabase/)
//   --propose FILE.sql    FILE redefines public.launch_due_calls(): it is installed beside the
//                         migrated one (as bench_proposed_launch_due_calls) and both are measured
//                         in the same rounds, from the same states (an A/B on a busy machine)
//   --propose-tick FILE.ts  FILE exports runTick (a changed copy of _shared/tick.ts): dispatch
//                         measures it beside ours, run for run
//   --scales a,b,c        only these reservation scales (default: all three)
//   --latency 0,150 / --concurrency 10,50,200 / --pool 20
//                         dispatch: simulated latencies, concurrency levels, the dispatcher's pool
//   --direct              dispatch: the dispatcher connects to the throwaway cluster directly, not
//                         through PgBouncer in transaction mode (the default, as deployed: Supabase's
//                         6543); a DATABASE_URL is always used as given
//   --explain             also write EXPLAIN (ANALYZE, BUFFERS) of launch_due_calls()' statements
//                         at the largest scale to bench-results/explain-*.txt
//   --wipe                allow truncating a DATABASE_URL database that holds non-bench data
//   --out DIR             where bench.json goes (default bench-results/)

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { bootstrapSupabaseShape, type LocalDb, pushMigrations, REPO_ROOT, startLocalDb } from '../stack/localdb.ts';
import { type PgBouncer, startPgBouncer } from '../stack/pgbouncer.ts';
import { ensurePrerequisites } from '../stack/prereqs.ts';
import { installTestsSchema } from '../tests-schema.ts';
import { assertWipeable, pauseCronJobs, type Scale } from './data.ts';
import { benchImport, type ImportRow, importTable } from './import.ts';
import {
  fmtInt,
  fmtMs,
  fmtRatio,
  fmtSummary,
  latencyChartSvg,
  machineHeader,
  type MachineInfo,
  machineInfo,
  renderTable,
} from './report.ts';
import { benchScale, type Contender, explainCold, PROPOSED_FUNCTION, type ReserveRow } from './reserve.ts';
import { benchDispatch, DISPATCH_CONCURRENCIES, DISPATCH_LATENCIES, type DispatchRow, type RunTick } from './dispatch.ts';
import { benchMixedProviders, mixedPlans, mixedTable } from './campaign-mixed.ts';
import { benchCampaign, type CampaignPlan, type CampaignRow, campaignTable, type DispatchMode } from './campaign.ts';
import { CPU_ROLES, workCpu } from './cpu-use.ts';
import { benchWebhooks, type WebhooksRow, webhooksTable } from './webhooks.ts';
import { benchLead, type LeadRow, leadTable } from './lead.ts';

interface Args {
  quick: boolean;
  only: 'reserve' | 'dispatch' | 'import' | 'campaign' | 'webhooks' | 'lead' | null;
  runs: number;
  runsGiven: boolean;
  scale: number;
  cps: number[] | null;
  contactsPerSlot: number | null;
  modes: DispatchMode[];
  /** campaign: the mixed-provider run too (yes), not (no), or only it (only). */
  mixed: 'yes' | 'no' | 'only';
  baselineRuns: number | null;
  apply: string[];
  propose: string | null;
  proposeTick: string | null;
  scales: string[] | null;
  latencies: number[] | null;
  concurrencies: number[] | null;
  poolSize: number | null;
  direct: boolean;
  explain: boolean;
  wipe: boolean;
  out: string;
}

function numbers(v: string): number[] {
  const out = v.split(',').map((x) => Number(x.trim()));
  if (out.some((n) => !Number.isFinite(n) || n < 0)) throw new Error(`expected numbers like 0,150, got ${v}`);
  return out;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    quick: false,
    only: null,
    runs: 0,
    runsGiven: false,
    scale: 10,
    cps: null,
    contactsPerSlot: null,
    modes: ['baseline', 'continuous'],
    mixed: 'yes',
    baselineRuns: null,
    apply: [],
    propose: null,
    proposeTick: null,
    scales: null,
    latencies: null,
    concurrencies: null,
    poolSize: null,
    direct: false,
    explain: false,
    wipe: false,
    out: '',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--quick') a.quick = true;
    else if (arg === '--only') {
      const v = value();
      if (v !== 'reserve' && v !== 'dispatch' && v !== 'import' && v !== 'campaign' && v !== 'webhooks' && v !== 'lead') {
        throw new Error(`--only takes reserve, dispatch, import, campaign, webhooks or lead, got ${v}`);
      }
      a.only = v;
    } else if (arg === '--runs') {
      a.runs = Number(value());
      a.runsGiven = true;
    } else if (arg === '--scale') a.scale = Number(value());
    else if (arg === '--cps') a.cps = numbers(value());
    else if (arg === '--contacts-per-slot') a.contactsPerSlot = Number(value());
    else if (arg === '--modes') {
      const v = value().split(',').map((x) => x.trim());
      if (v.length === 0 || v.some((m) => m !== 'baseline' && m !== 'continuous')) {
        throw new Error(`--modes takes baseline and/or continuous, got ${v.join(',')}`);
      }
      a.modes = v as DispatchMode[];
    } else if (arg === '--baseline-runs') a.baselineRuns = Number(value());
    else if (arg === '--apply') a.apply.push(path.resolve(value()));
    else if (arg === '--propose') a.propose = path.resolve(value());
    else if (arg === '--propose-tick') a.proposeTick = path.resolve(value());
    else if (arg === '--latency') a.latencies = numbers(value());
    else if (arg === '--concurrency') a.concurrencies = numbers(value());
    else if (arg === '--pool') a.poolSize = Number(value());
    else if (arg === '--scales') a.scales = value().split(',').map((x) => x.trim().toLowerCase()).filter(Boolean);
    else if (arg === '--direct') a.direct = true;
    else if (arg === '--mixed') {
      const v = value();
      if (v !== 'yes' && v !== 'no' && v !== 'only') throw new Error(`--mixed takes yes, no or only, got ${v}`);
      a.mixed = v;
    } else if (arg === '--explain') a.explain = true;
    else if (arg === '--wipe') a.wipe = true;
    else if (arg === '--out') a.out = path.resolve(value());
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown option ${arg} (see --help)`);
  }
  if (!a.runs) a.runs = a.quick ? 1 : 5;
  if (!Number.isInteger(a.runs) || a.runs < 1) throw new Error('--runs must be a positive integer');
  if (!a.out) a.out = path.join(REPO_ROOT, 'bench-results');
  if (!(a.scale >= 1 && a.scale <= 10)) {
    throw new Error('--scale must be between 1 and 10 (tick_budget_ms = 10 s / scale is at least 1 s)');
  }
  if (a.cps && a.cps.some((c) => c <= 0)) throw new Error('--cps takes positive numbers');
  if (a.contactsPerSlot !== null && !(Number.isInteger(a.contactsPerSlot) && a.contactsPerSlot >= 1)) {
    throw new Error('--contacts-per-slot must be a positive integer');
  }
  return a;
}

const USAGE = `usage: npm run bench [-- options]
  --quick               one run of each figure, smaller scales: a smoke run of every part (a few minutes)
  --only reserve|dispatch|import|campaign|webhooks
  --scale N             campaign: time scale (default 10: ticks every 6 s, calls 10x shorter, rates x10)
  --cps 1,10            campaign: provider calls per second before scaling (default 1,10)
  --contacts-per-slot N campaign: contacts per unit of cap (default: CPS 1 -> 2, CPS 10 -> 6)
  --modes a,b           campaign: baseline and/or continuous (default both; long runs: continuous)
  --runs N              runs per figure (default 5; --quick 1; campaign: 2, --quick 1)
  --mixed yes|no|only   campaign: also one mixed-provider run (a Twilio, a Vapi, a Retell and a SignalWire
                        account, each with its own rate and cap; see campaign-mixed.ts), or not, or only it
  --baseline-runs N     rounds in which the (slow) baseline runs too (default 3)
  --apply FILE.sql      run FILE after the migrations (try a proposed SQL change)
  --propose FILE.sql    FILE holds a 'create or replace function public.launch_due_calls(...)':
                        install it beside ours and measure both in the same rounds (A/B)
  --propose-tick FILE.ts  FILE exports a runTick (a changed copy of supabase/functions/_shared/tick.ts):
                        dispatch measures it beside ours in the same runs
  --scales a,b,c        only these reservation scales (default all)
  --latency 0,150       dispatch: simulated provider latencies, ms (default 0,150)
  --concurrency 10,50,200  dispatch: dispatch_concurrency levels (default 10,50,200)
  --pool N              dispatch: the dispatcher's pg pool size (default 20, DB_POOL_SIZE's default)
  --direct              dispatch: connect directly, not through PgBouncer (transaction mode, the default)
  --explain             write EXPLAIN ANALYZE of launch_due_calls() at the largest scale
  --wipe                allow truncating a DATABASE_URL database holding non-bench data
  --out DIR             where bench.json goes (default bench-results/)
`;

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

interface ScalePlan {
  scale: Scale;
  historyCalls?: number;
}

function scales(quick: boolean): ScalePlan[] {
  return quick
    ? [
      { scale: { key: 'a', campaigns: 100, contactsPerCampaign: 100, cap: 10 } },
      { scale: { key: 'b', campaigns: 200, contactsPerCampaign: 200, cap: 10 }, historyCalls: 80_000 },
      { scale: { key: 'c', campaigns: 1_000, contactsPerCampaign: 50, cap: 5 } },
    ]
    : [
      { scale: { key: 'a', campaigns: 100, contactsPerCampaign: 1_000, cap: 10 } },
      { scale: { key: 'b', campaigns: 1_000, contactsPerCampaign: 1_000, cap: 10 }, historyCalls: 2_000_000 },
      { scale: { key: 'c', campaigns: 10_000, contactsPerCampaign: 100, cap: 5 } },
    ];
}

interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}

/**
 * Every target is a ratio to a reference measured in the same run (absolute times differ 2x
 * between two of these machines): the floor (a bare INSERT ... SELECT of the same rows), the
 * baseline (the user story's per-campaign loop), the same tick without history, the bare HTTP loop
 * against the same simulator. The thresholds, and the runs they come from, are in
 * docs/performance.md ("Targets").
 */
function reserveTargets(rows: ReserveRow[], who: 'ours' | 'proposed'): Target[] {
  const find = (key: string, state: ReserveRow['state']) => rows.find((r) => r.scaleKey === key && r.state === state);
  const med = (r: ReserveRow | undefined, c: Contender) => r?.ms[c]?.median ?? Number.NaN;
  const tag = who === 'ours' ? '' : ' [proposed]';
  const out: Target[] = [];
  const overFloor = (key: string, state: ReserveRow['state'], want: number, what: string) => {
    const r = find(key, state);
    if (!r?.ms[who] || !r.ms.floor) return;
    const ratio = med(r, who) / med(r, 'floor');
    out.push({
      target: `(${key}) ${state}: ${what} within ${want}x of the floor${tag}`,
      measured: `${fmtRatio(ratio)} (${fmtMs(med(r, who))} vs ${fmtMs(med(r, 'floor'))} ms)`,
      met: ratio <= want,
    });
  };
  overFloor('c', 'steady', 2.25, 'tick');
  const cCold = find('c', 'cold');
  overFloor('c', 'cold', 1.2, `${fmtInt(cCold?.reserved ?? Number.NaN)} reservations`);
  for (const [key, want] of [['a', 10], ['c', 15]] as const) {
    for (const state of ['cold', 'steady'] as const) {
      const r = find(key, state);
      if (r?.ms[who] && r.ms.baseline) {
        const ratio = med(r, 'baseline') / med(r, who);
        out.push({
          target: `(${key}) ${state}: >= ${want}x faster than the baseline${tag}`,
          measured: fmtRatio(ratio),
          met: ratio >= want,
        });
      }
    }
  }
  const b = find('b', 'steady');
  const bh = find('b', 'steady + history');
  if (b?.ms[who] && bh?.ms[who]) {
    const ratio = med(bh, who) / med(b, who);
    out.push({
      target: `(b) steady does not degrade with ${fmtInt(bh.finishedCalls)} finished calls (<= 1.25x)${tag}`,
      measured: `${fmtMs(med(bh, who))} vs ${fmtMs(med(b, who))} ms (${fmtRatio(ratio)})`,
      met: ratio <= 1.25,
    });
  }
  return out;
}

function dispatchTargets(rows: DispatchRow[], who: 'ours' | 'proposed'): Target[] {
  const out: Target[] = [];
  const tag = who === 'ours' ? '' : ' [proposed]';
  const rate = (r: DispatchRow) => (who === 'ours' ? r.oursCallsPerSecond : r.proposedCallsPerSecond)?.median ?? Number.NaN;
  const slower = (r: DispatchRow) => r.bareCallsPerSecond.median / rate(r);
  const zero = rows.filter((r) => r.latencyMs === 0 && Number.isFinite(rate(r)));
  if (zero.length) {
    const best = zero.reduce((a, b) => (rate(b) > rate(a) ? b : a));
    out.push({
      target: `dispatch at zero latency, best concurrency: within 1.25x of the bare HTTP loop${tag}`,
      measured: `${fmtRatio(slower(best))} (c${best.concurrency}: ${fmtInt(rate(best))} vs ${
        fmtInt(best.bareCallsPerSecond.median)
      } calls/s)`,
      met: slower(best) <= 1.25,
    });
    for (const r of zero) {
      out.push({
        target: `dispatch at zero latency, concurrency ${r.concurrency}: within 2x of the bare HTTP loop${tag}`,
        measured: `${fmtRatio(slower(r))} (${fmtInt(rate(r))} vs ${fmtInt(r.bareCallsPerSecond.median)} calls/s)`,
        met: slower(r) <= 2,
      });
    }
  }
  for (const r of rows.filter((x) => x.latencyMs > 0 && Number.isFinite(rate(x)))) {
    const bound = r.concurrency / (r.latencyMs / 1000);
    out.push({
      target: `${r.latencyMs} ms latency, concurrency ${r.concurrency}: concurrency-bound, at least 90% of c / latency${tag}`,
      measured: `${pct(rate(r) / bound)} (${fmtInt(rate(r))} of ${fmtInt(bound)} calls/s; the bare HTTP loop ${
        pct(r.bareCallsPerSecond.median / bound)
      }, ${fmtRatio(slower(r))} ours)`,
      met: rate(r) / bound >= 0.9,
    });
  }
  return out;
}

const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
/** One decimal: a target at 95% must not read "95%" at 94.7%. */
const pct1 = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * Three campaigns with caps 10, 20 and 40 (70 slots; with the outcome mix's mean call of ~50 s
 * they can place ~1.4 calls a second: at CPS 1 the rate binds, at CPS 10 the caps do), each with
 * contacts in proportion to its cap so that all three would end together.
 */
function campaignPlans(_cps: number, perSlot: number, quick: boolean): CampaignPlan[] {
  // --quick (a smoke run): half the caps, so half the contacts; the minute-tick baseline at CPS 1
  // dials ~9 a tick, and 70 contacts took 90 s of the quick run's ~6 minutes on a loaded machine.
  return (quick ? [5, 10, 20] : [10, 20, 40]).map((cap) => ({ name: `cap${cap}`, cap, contacts: cap * perSlot }));
}

/**
 * Sized for ~12 minutes for the whole `--only campaign` (2 runs of 4 configurations) on this 2-core
 * box: the baseline at CPS 1 (about 9 calls per 6-second tick) takes 2 minutes for 140 contacts.
 */
function defaultContactsPerSlot(cps: number, quick: boolean): number {
  if (quick) return cps >= 10 ? 3 : 1;
  return cps >= 10 ? 6 : 2;
}

/** The issue's targets for continuous dispatch (12): >= 95% of the ideal; at CPS 1, >= 57 calls a minute. */
function campaignTargets(rows: CampaignRow[]): Target[] {
  const out: Target[] = [];
  for (const r of rows) {
    if (r.mode === 'continuous') {
      out.push({
        target: `campaign CPS ${r.cps}, continuous: >= 95% of the ideal bound (contacts x call time / cap, or / rate)`,
        measured: `${pct1(r.idealRatio.median)} (bound ${r.idealS.median.toFixed(1)} s / makespan ${
          r.makespanS.median.toFixed(1)
        } s)`,
        met: r.idealRatio.median >= 0.95,
      });
      out.push({
        target: `campaign CPS ${r.cps}, continuous: >= 95% of a zero-latency dispatcher with the same calls`,
        measured: `${pct1(r.zeroLatencyRatio.median)} (${r.zeroLatencyS.median.toFixed(1)} s / ${
          r.makespanS.median.toFixed(1)
        } s)`,
        met: r.zeroLatencyRatio.median >= 0.95,
      });
      if (r.cps === 1) {
        out.push({
          target: 'campaign CPS 1, continuous: >= 57 calls per minute while dialling (steady: 10th-90th percentile creates)',
          measured: `${r.dialRatePerMinute.median.toFixed(1)} (${r.callsPerMinute.median.toFixed(1)} over the whole makespan)`,
          met: r.dialRatePerMinute.median >= 57,
        });
      }
    }
    out.push({
      target:
        `campaign CPS ${r.cps}, ${r.mode}: never more than ${r.rate} create requests in any 1 s (as the simulator saw them)`,
      measured: `${r.maxRequestsPerSecond} (tightest span of ${Math.floor(r.rate) + 1} creates: ${
        Number.isFinite(r.tightestSpanMs) ? `${r.tightestSpanMs.toFixed(1)} ms` : 'n/a'
      })`,
      met: r.maxRequestsPerSecond <= r.rate,
    });
  }
  return out;
}

function reserveTable(rows: ReserveRow[]): string {
  const proposed = rows.some((r) => r.ms.proposed);
  const header = [
    'scale',
    'state',
    'reserved',
    'ours ms median (min..max)',
    'calls/s',
    ...(proposed ? ['proposed ms median (min..max)', 'calls/s'] : []),
    'baseline ms median (min..max)',
    'baseline/ours',
    'floor ms median (min..max)',
    'ours/floor',
    ...(proposed ? ['baseline/proposed', 'proposed/floor'] : []),
  ];
  const body = rows.map((r) => [
    r.scale,
    r.state === 'steady + history' ? `steady, ${fmtInt(r.finishedCalls)} finished` : r.state,
    fmtInt(r.reserved),
    fmtSummary(r.ms.ours),
    fmtInt(r.oursCallsPerSecond),
    ...(proposed ? [fmtSummary(r.ms.proposed), fmtInt(r.proposedCallsPerSecond ?? Number.NaN)] : []),
    fmtSummary(r.ms.baseline),
    fmtRatio(r.baselineOverOurs),
    fmtSummary(r.ms.floor),
    fmtRatio(r.oursOverFloor),
    ...(proposed ? [fmtRatio(r.baselineOverProposed ?? Number.NaN), fmtRatio(r.proposedOverFloor ?? Number.NaN)] : []),
  ]);
  return renderTable(header, body);
}

function dispatchTable(rows: DispatchRow[]): string {
  const proposed = rows.some((r) => r.proposedCallsPerSecond);
  const header = [
    'latency',
    'concurrency',
    'calls',
    'ours calls/s median (min..max)',
    ...(proposed ? ['proposed calls/s median (min..max)'] : []),
    'bare HTTP calls/s median (min..max)',
    'bare/ours',
    ...(proposed ? ['bare/proposed'] : []),
    'bound (c / latency)',
    'ours put back (median)',
    'CPU ms / 1,000 calls, ours: dispatcher + db + pooler + sim',
    'bare: client + sim',
    'CPU ours/bare',
  ];
  const cpu = (c: Record<string, number>, roles: readonly string[]) => {
    const parts = roles.map((role) => Math.round(c[role] ?? 0));
    return `${parts.join(' + ')} = ${fmtInt(parts.reduce((a, b) => a + b, 0))}`;
  };
  const rate = (s: { median: number; min: number; max: number } | undefined) =>
    s ? `${fmtInt(s.median)} (${fmtInt(s.min)}..${fmtInt(s.max)})` : '-';
  const body = rows.map((r) => [
    `${r.latencyMs} ms`,
    String(r.concurrency),
    fmtInt(r.calls),
    rate(r.oursCallsPerSecond),
    ...(proposed ? [rate(r.proposedCallsPerSecond)] : []),
    rate(r.bareCallsPerSecond),
    fmtRatio(r.bareOverOurs),
    ...(proposed ? [fmtRatio(r.bareOverProposed ?? Number.NaN)] : []),
    r.latencyMs > 0 ? fmtInt(r.concurrency / (r.latencyMs / 1000)) : '-',
    r.oursRequeued ? fmtInt(r.oursRequeued.median) : '-',
    cpu(r.oursCpuPerKilo, CPU_ROLES),
    cpu(r.bareCpuPerKilo, ['dispatcher', 'simulator']),
    fmtRatio(workCpu(r.oursCpuPerKilo) / workCpu(r.bareCpuPerKilo)),
  ]);
  return renderTable(header, body);
}

function targetsTable(targets: Target[]): string {
  return renderTable(
    ['target', 'measured', 'result'],
    targets.map((t) => [t.target, t.measured, t.met === null ? '-' : t.met ? 'met' : 'MISSED']),
  );
}

function chart(rows: ReserveRow[], m: MachineInfo): string {
  const pick = (state: ReserveRow['state'], who: Contender) =>
    rows
      .filter((r) => r.state === state && r.ms[who])
      .map((r) => ({ x: r.campaigns, y: r.ms[who]!.median, label: r.scale }));
  return latencyChartSvg({
    title: 'launch_due_calls() tick latency vs campaigns',
    subtitle: `median of ${rows[0]?.ms.ours?.runs ?? '?'} runs; ${m.cpus} cores, ${m.postgres}`,
    series: [
      { name: 'ours, cold', color: '#1f77b4', points: pick('cold', 'ours') },
      { name: 'ours, steady', color: '#2ca02c', points: pick('steady', 'ours') },
      { name: 'floor, cold', color: '#7f7f7f', dashed: true, points: pick('cold', 'floor') },
      { name: 'baseline, cold', color: '#d62728', dashed: true, points: pick('cold', 'baseline') },
      { name: 'baseline, steady', color: '#ff7f0e', dashed: true, points: pick('steady', 'baseline') },
      ...(rows.some((r) => r.ms.proposed)
        ? [
          { name: 'proposed, cold', color: '#9467bd', points: pick('cold', 'proposed') },
          { name: 'proposed, steady', color: '#8c564b', points: pick('steady', 'proposed') },
        ]
        : []),
    ],
  });
}

/**
 * The throwaway cluster is tuned like a Supabase instance with 4 GB of RAM (the memory settings
 * Supabase applies at that size), not PostgreSQL's 128 MB default: at scale (c) the contacts
 * table and its indexes (260 MB freshly seeded, more with the row versions every tick leaves)
 * would not fit, and a tick would mostly measure buffer evictions (at 128 MB the same tick read
 * and wrote back ~12,000 pages). A DATABASE_URL database is measured with its own settings.
 */
const BENCH_CLUSTER_SETTINGS = [
  "shared_buffers = '1GB'",
  "effective_cache_size = '3GB'",
  "maintenance_work_mem = '256MB'",
  'random_page_cost = 1.1',
];

type PartName = 'reserve' | 'import' | 'dispatch' | 'campaign' | 'webhooks' | 'lead';
/** The parts, in the order they run. */
const PARTS: PartName[] = ['reserve', 'import', 'dispatch', 'campaign', 'webhooks', 'lead'];

interface PartOutcome {
  part: PartName;
  /** It ran to its end and produced every result row it should have. */
  ran: boolean;
  /** Why not: its error, or which results are missing. */
  problem: string | null;
  seconds: number;
}

/**
 * The bench's verdict: it passes when every selected part ran and no run broke an invariant. The
 * targets (timings, ratios) are reported, never judged here: a slow or busy machine misses them.
 */
function closingLine(selected: PartName[], parts: PartOutcome[], invariantFailures: number): { ok: boolean; line: string } {
  const ran = selected.filter((name) => parts.some((p) => p.part === name && p.ran));
  const notRun = selected.filter((name) => !ran.includes(name));
  const ok = notRun.length === 0 && invariantFailures === 0;
  return {
    ok,
    line: `bench: ${ok ? 'PASSED' : 'FAILED'}: parts run ${ran.length} of ${selected.length} (${ran.join(', ') || 'none'})` +
      `${notRun.length ? `, NOT RUN: ${notRun.join(', ')}` : ''}; invariant failures: ${invariantFailures}`,
  };
}

async function main(): Promise<{ ok: boolean; line: string }> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const startedAt = new Date();
  let db: LocalDb | null = null;
  let restoreCron: (() => Promise<void>) | null = null;
  const invariantFailures: { where: string; failures: string[] }[] = [];
  const parts: PartOutcome[] = [];
  const reserveRows: ReserveRow[] = [];
  let dispatchRows: DispatchRow[] = [];
  let campaignRows: CampaignRow[] = [];
  let campaignRuns = 0;
  const webhooksRows: WebhooksRow[] = [];
  let leadRows: LeadRow[] = [];
  const importRows: ImportRow[] = [];
  let machine: MachineInfo | null = null;
  const applied: { file: string; sql: string }[] = [];
  let proposal: { file: string; sql: string } | null = null;
  let tickProposal: string | null = null;
  let admin: pg.Client | null = null;
  let pooler: PgBouncer | null = null;
  try {
    await ensurePrerequisites('bench', { log, external: Boolean(process.env.DATABASE_URL) });
    db = await startLocalDb({ persistent: false, log, settings: BENCH_CLUSTER_SETTINGS });
    await bootstrapSupabaseShape(db.url);
    await pushMigrations(db.url, { log });
    admin = new pg.Client({ connectionString: db.url, application_name: 'bench' });
    await admin.connect();
    // A throwaway cluster holds nothing of anyone's; DATABASE_URL might.
    if (db.external) await assertWipeable(admin, args.wipe);
    // The invariant checker (tests.invariant_violations()) every suite shares.
    await installTestsSchema(db.url);
    for (const file of args.apply) {
      const sql = await readFile(file, 'utf8');
      await admin.query(sql);
      applied.push({ file: path.relative(REPO_ROOT, file), sql });
      log(`applied ${path.relative(REPO_ROOT, file)} (not a migration: bench database only)`);
    }
    if (args.propose) {
      const sql = await readFile(args.propose, 'utf8');
      if (!/create\s+or\s+replace\s+function\s+public\.launch_due_calls\s*\(/i.test(sql)) {
        throw new Error(`${args.propose} must contain 'create or replace function public.launch_due_calls('`);
      }
      await admin.query(sql.replace(/public\.launch_due_calls\s*\(/g, `${PROPOSED_FUNCTION}(`));
      proposal = { file: path.relative(REPO_ROOT, args.propose), sql };
      log(`installed ${proposal.file} as ${PROPOSED_FUNCTION}() (bench database only)`);
    }
    restoreCron = await pauseCronJobs(admin);
    machine = await machineInfo(admin, db.external);
    process.stdout.write(`${machineHeader(machine)}\n`);
    if (applied.length) {
      process.stdout.write(`applied:  ${applied.map((a) => a.file).join(', ')} (on top of supabase/migrations)\n`);
    }
    if (proposal) {
      process.stdout.write(`proposed: ${proposal.file}, measured as 'proposed' beside the migrated launch_due_calls()\n`);
    }
    process.stdout.write('\n');

    const onInvariantFailure = (where: string, failures: string[]) => {
      invariantFailures.push({ where, failures });
      log(`INVARIANT BROKEN at ${where}: ${failures.join('; ')}`);
    };
    const dbUrl = db.url;
    const external = db.external;
    /**
     * Runs one part (when selected: all, or --only's): it ran when it returned without throwing and
     * its check of its own results (null: every row it should have produced is there) passed. A part
     * that fails does not stop the next ones.
     */
    const runPart = async (part: PartName, fn: () => Promise<string | null>): Promise<void> => {
      if (args.only !== null && args.only !== part) return;
      const t0 = performance.now();
      let problem: string | null;
      try {
        problem = await fn();
      } catch (err) {
        problem = err instanceof Error ? (err.stack ?? err.message) : String(err);
      }
      const seconds = Math.round((performance.now() - t0) / 1000);
      parts.push({ part, ran: problem === null, problem, seconds });
      log(problem === null ? `${part}: done in ${seconds} s` : `PART FAILED: ${part} (after ${seconds} s): ${problem}`);
    };

    const plans = scales(args.quick).filter((p) => !args.scales || args.scales.includes(p.scale.key));
    if (plans.length === 0 && (args.only === null || args.only === 'reserve')) {
      throw new Error(`--scales: no scale named ${args.scales?.join(', ')} (a, b, c)`);
    }
    await runPart('reserve', async () => {
      for (const plan of plans) {
        const rows = await benchScale(dbUrl, plan.scale, {
          runs: args.runs,
          baselineRuns: args.baselineRuns ?? Math.min(args.runs, 3),
          contenders: proposal ? ['ours', 'proposed', 'baseline', 'floor'] : ['ours', 'baseline', 'floor'],
          log,
          onInvariantFailure,
          ...(plan.historyCalls ? { historyCalls: plan.historyCalls } : {}),
          ...(args.explain && plan === plans[plans.length - 1]
            ? { explain: (label: string, text: string) => void writeExplain(args.out, label, text) }
            : {}),
        });
        reserveRows.push(...rows);
      }
      if (args.explain) {
        const last = plans[plans.length - 1]!.scale;
        await explainCold(dbUrl, last, {
          runs: 1,
          baselineRuns: 0,
          contenders: proposal ? ['ours', 'proposed'] : ['ours'],
          log,
          onInvariantFailure,
          explain: (label, text) => void writeExplain(args.out, label, text),
        });
      }
      process.stdout.write(
        `Reservation tick: launch_due_calls(), ms per tick, median of ${args.runs} runs (min..max); baseline: ${
          args.baselineRuns ?? Math.min(args.runs, 3)
        } runs\n`,
      );
      process.stdout.write(`${reserveTable(reserveRows)}\n\n`);
      // Each scale gives a cold and a steady row, and one more with history.
      const want = plans.reduce((n, p) => n + (p.historyCalls ? 3 : 2), 0);
      return reserveRows.length === want ? null : `${reserveRows.length} of ${want} result rows`;
    });

    let proposedTick: RunTick | null = null;
    if (args.proposeTick && (args.only === null || args.only === 'dispatch')) {
      const mod = (await import(pathToFileURL(args.proposeTick).href)) as { runTick?: RunTick };
      if (typeof mod.runTick !== 'function') throw new Error(`${args.proposeTick} does not export runTick`);
      proposedTick = mod.runTick;
      tickProposal = path.relative(REPO_ROOT, args.proposeTick);
      process.stdout.write(`proposed tick: ${tickProposal}, measured as 'proposed' beside runTick\n\n`);
    }
    await runPart('import', async () => {
      if (!args.direct && !external && !pooler) {
        pooler = await startPgBouncer({ databaseUrl: dbUrl, poolSize: args.poolSize ?? 20, log });
      }
      importRows.push(
        await benchImport(dbUrl, {
          rows: args.quick ? 20_000 : 100_000,
          batchSize: 1000,
          log,
          onInvariantFailure,
          ...(pooler ? { poolerUrl: pooler.url } : {}),
        }),
      );
      process.stdout.write(
        `CSV import: importContactsCsv (scheduler-admin's import) in-process, batches into import_contacts() ${
          pooler ? 'through PgBouncer' : 'direct'
        }\n${importTable(importRows)}\n\n`,
      );
      return null;
    });
    await runPart('dispatch', async () => {
      // The deployed functions reach Postgres through Supabase's transaction pooler (port 6543):
      // so does the dispatcher here, through PgBouncer in transaction mode, in front of the
      // throwaway cluster (a DATABASE_URL is used as given).
      if (!args.direct && !external && !pooler) {
        pooler = await startPgBouncer({ databaseUrl: dbUrl, poolSize: args.poolSize ?? 20, log });
      }
      dispatchRows = await benchDispatch(dbUrl, {
        runs: args.runs,
        quick: args.quick,
        log,
        onInvariantFailure,
        ...(args.latencies ? { latencies: args.latencies } : {}),
        ...(args.concurrencies ? { concurrencies: args.concurrencies } : {}),
        ...(args.poolSize ? { poolSize: args.poolSize } : {}),
        ...(pooler ? { poolerUrl: pooler.url } : {}),
        ...(proposedTick ? { proposedTick } : {}),
      });
      process.stdout.write(
        `Dispatch: runTick() end to end against the Twilio simulator on loopback, database ${
          pooler ? 'through PgBouncer (transaction mode)' : 'direct'
        }, ` +
          `median of ${args.runs} runs (min..max)\n`,
      );
      process.stdout.write(`${dispatchTable(dispatchRows)}\n\n`);
      const want = (args.latencies ?? DISPATCH_LATENCIES).length * (args.concurrencies ?? DISPATCH_CONCURRENCIES).length;
      return dispatchRows.length === want ? null : `${dispatchRows.length} of ${want} result rows`;
    });

    await runPart('campaign', async () => {
      if (!args.direct && !external && !pooler) {
        pooler = await startPgBouncer({ databaseUrl: dbUrl, poolSize: args.poolSize ?? 20, log });
      }
      campaignRuns = args.runsGiven ? args.runs : args.quick ? 1 : 2;
      const cpsList = args.cps ?? [1, 10];
      let mixedProblem: string | null = null;
      if (args.mixed !== 'no') {
        const mixed = await benchMixedProviders(dbUrl, {
          scale: args.scale,
          plans: mixedPlans(args.quick),
          log,
          onInvariantFailure,
          ...(pooler ? { poolerUrl: pooler.url } : {}),
        });
        process.stdout.write(
          `Campaign makespan, mixed providers: one campaign per account (Twilio, Vapi, Retell, SignalWire through the ` +
            `simulator; Vapi, Retell and SignalWire with their own credentials), each account with its own calls per second and cap, ` +
            `continuous dispatch, x${args.scale} time-scaled, one run. Bound per account: idealBound() of its calls on its cap and ` +
            `at its rate; the set's: the largest account bound (accounts share no cap or rate). See docs/performance.md.\n`,
        );
        process.stdout.write(`${mixedTable(mixed)}\n\n`);
        if (mixed.failures.length > 0) mixedProblem = `mixed providers: ${mixed.failures.length} failures`;
        if (args.mixed === 'only') return mixedProblem;
      }
      campaignRows = await benchCampaign(dbUrl, {
        runs: campaignRuns,
        scale: args.scale,
        cpsList,
        modes: args.modes,
        campaigns: (cps) => campaignPlans(cps, args.contactsPerSlot ?? defaultContactsPerSlot(cps, args.quick), args.quick),
        log,
        onInvariantFailure,
        ...(pooler ? { poolerUrl: pooler.url } : {}),
      });
      process.stdout.write(
        `Campaign makespan: ${args.scale}x time-scaled campaigns through the real scheduler-tick and call-status functions ` +
          `(Deno gateway, database ${
            pooler ? 'through PgBouncer' : 'direct'
          }) and the Twilio simulator; median of ${campaignRuns} runs (min..max).\n` +
          `Times in real seconds (x${args.scale} for real life); calls/min (over the makespan) and steady dial rate ` +
          `(create requests between the 10th and the 90th percentile one) per unscaled minute; ` +
          `max creates in 1 s: the most create-call requests the simulator received in any [t, t + 1 s), vs the configured (scaled) rate.\n` +
          `Bound (a lower bound for any dispatcher): max(rate: max_k floor(k/R) s + h_k, the calls' provider hold times h longest first; ` +
          `cap: sum of a campaign's hold times / its cap; the longest call). Zero-latency: a dispatcher that refills every ` +
          `freed slot at once at the full rate, dealt the same calls in the same order (tail included). See docs/performance.md.\n`,
      );
      process.stdout.write(`${campaignTable(campaignRows)}\n\n`);
      const want = cpsList.length * args.modes.length;
      const short = campaignRows.filter((r) => r.runs.length !== campaignRuns).length;
      if (campaignRows.length !== want || short > 0) {
        return `${campaignRows.length} of ${want} configurations, ${short} without their ${campaignRuns} runs`;
      }
      return mixedProblem;
    });

    await runPart('webhooks', async () => {
      if (!args.direct && !external && !pooler) {
        pooler = await startPgBouncer({ databaseUrl: dbUrl, poolSize: args.poolSize ?? 20, log });
      }
      const row = await benchWebhooks(dbUrl, {
        quick: args.quick,
        log,
        onInvariantFailure,
        ...(pooler ? { poolerUrl: pooler.url } : {}),
      });
      webhooksRows.push(row);
      process.stdout.write(
        `Webhooks: ${fmtInt(row.events)} events through the outbox to a loopback receiver failing ${row.failRate * 100} % of ` +
          `requests at random and down for ${row.outageSeconds} s; two deliverers (runWebhookDelivery in-process, database ${
            pooler ? 'through PgBouncer' : 'direct'
          }); retry schedule SCALED DOWN 1/${row.scheduleScale}: ${row.schedule}. ` +
          `lost: events never answered 2xx; dup 2xx: events answered 2xx more than once (receivers dedupe on webhook-id); ` +
          `lag: event written -> first 2xx.\n${webhooksTable(webhooksRows)}\n\n`,
      );
      return null;
    });

    await runPart('lead', async () => {
      if (!args.direct && !external && !pooler) {
        pooler = await startPgBouncer({ databaseUrl: dbUrl, poolSize: args.poolSize ?? 20, log });
      }
      const backlogs = args.quick ? [0, 1_000] : [0, 10_000];
      const leads = args.quick ? 10 : 40;
      leadRows = await benchLead(dbUrl, {
        backlogs,
        leads,
        log,
        onInvariantFailure,
        ...(pooler ? { poolerUrl: pooler.url } : {}),
      });
      process.stdout.write(
        `Speed to lead: a lead POSTed to scheduler-admin (priority 100) while continuous dispatch runs, timed to its ` +
          `create-call request at the simulator (Deno gateway, database ${pooler ? 'through PgBouncer' : 'direct'}; ` +
          `refill_interval_ms 1000, 20 calls/s, cap 50); with no backlog and with a backlog of due contacts being dialled.\n`,
      );
      process.stdout.write(`${leadTable(leadRows)}\n\n`);
      return leadRows.length === backlogs.length && leadRows.every((r) => r.leads === leads)
        ? null
        : `${leadRows.length} of ${backlogs.length} backlogs measured`;
    });

    const targets = [
      ...reserveTargets(reserveRows, 'ours'),
      ...(proposal ? reserveTargets(reserveRows, 'proposed') : []),
      ...dispatchTargets(dispatchRows, 'ours'),
      ...(tickProposal ? dispatchTargets(dispatchRows, 'proposed') : []),
      ...campaignTargets(campaignRows),
    ];
    if (targets.length) process.stdout.write(`Targets\n${targetsTable(targets)}\n\n`);
    const seconds = (performance.now() - started) / 1000;
    const loadAtEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
    process.stdout.write(
      `invariants: ${
        invariantFailures.length === 0 ? 'all held after every run' : `BROKEN ${invariantFailures.length} time(s)`
      }; ` +
        `total ${seconds.toFixed(0)} s; load average at end ${loadAtEnd.join(' / ')}\n`,
    );
    for (const f of invariantFailures) process.stdout.write(`  broken at ${f.where}: ${f.failures.join('; ')}\n`);
    for (const p of parts) if (!p.ran) process.stdout.write(`  part ${p.part} did not run: ${p.problem}\n`);
    const selected = args.only === null ? PARTS : [args.only];

    await mkdir(args.out, { recursive: true });
    const json = {
      startedAt: startedAt.toISOString(),
      durationSeconds: Math.round(seconds),
      options: {
        quick: args.quick,
        only: args.only,
        direct: args.direct,
        runs: args.runs,
        baselineRuns: args.baselineRuns ?? Math.min(args.runs, 3),
      },
      machine: machine ? { ...machine, loadAverageAtEnd: loadAtEnd } : null,
      applied,
      proposal,
      tickProposal,
      reserve: reserveRows,
      dispatch: dispatchRows,
      import: importRows,
      campaign: campaignRows.length ? { runs: campaignRuns, scale: args.scale, rows: campaignRows } : null,
      webhooks: webhooksRows,
      lead: leadRows.length ? { rows: leadRows } : null,
      targets,
      invariantFailures,
      parts,
    };
    await writeFile(path.join(args.out, 'bench.json'), `${JSON.stringify(json, null, 2)}\n`);
    log(`wrote ${path.relative(REPO_ROOT, path.join(args.out, 'bench.json'))}`);
    if (reserveRows.length && machine) {
      // The chart in docs/ comes from full runs of the migrated schema (a --propose candidate is drawn
      // beside it); quick, partial or --apply runs write theirs to out/.
      const svgPath = !args.quick && applied.length === 0 && args.only === null && !args.scales && parts.every((p) => p.ran)
        ? path.join(REPO_ROOT, 'docs', 'bench-tick-latency.svg')
        : path.join(args.out, 'bench-tick-latency.svg');
      await writeFile(svgPath, chart(reserveRows, machine));
      log(`wrote ${path.relative(REPO_ROOT, svgPath)}`);
    }
    return closingLine(selected, parts, invariantFailures.length);
  } finally {
    if (restoreCron) await restoreCron().catch(() => undefined);
    if (admin) await admin.end().catch(() => undefined);
    if (pooler) await pooler.stop().catch(() => undefined);
    if (db) await db.stop();
  }
}

async function writeExplain(dir: string, label: string, text: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const name = `explain-${label.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase()}.txt`;
  await writeFile(path.join(dir, name), text);
  log(`wrote ${path.relative(REPO_ROOT, path.join(dir, name))}`);
}

main().then(
  (closing) => {
    // The last line, after the cluster stopped: whether every part ran, and whether any run broke an invariant.
    process.stdout.write(`${closing.line}\n`);
    process.exitCode = closing.ok ? 0 : 1;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.stdout.write(
      `bench: FAILED before its parts ran or were reported: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
