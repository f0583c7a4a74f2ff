// `npm run bench` reservation part: launch_due_calls() against the naive per-campaign loop of the
// user story (docs/REQUIREMENTS.md; the baseline) and a bare INSERT ... SELECT of the same rows (the floor), cold (all
// capacity free) and in steady state (about 10% of the slots freed since the previous tick).
//
// Every measured run starts from the same state: a restore point is taken, each contender runs,
// its result is checked against an independently computed expectation and the invariants, and
// the run is undone (VACUUM included) before the next contender; the last contender of a round is
// kept as the state for the next round. The order of the contenders rotates from round to round.

import { performance } from 'node:perf_hooks';
import pg from 'pg';
import {
  ACTIVE,
  addFinishedHistory,
  BENCH_EPOCH,
  checkInvariants,
  computeExpected,
  diffFromExpected,
  freeSlots,
  markServed,
  type Scale,
  scaleLabel,
  seedScale,
  snapshot,
  undo,
} from './data.ts';
import { summarize, type Summary } from './report.ts';

/**
 * ours: launch_due_calls() as migrated. proposed: a candidate replacement (bench --propose FILE),
 * installed beside it as bench_proposed_launch_due_calls() and measured in the same rounds.
 */
export type Contender = 'ours' | 'proposed' | 'baseline' | 'floor';

/** The name a proposed launch_due_calls() is installed under (see bench --propose). */
export const PROPOSED_FUNCTION = 'public.bench_proposed_launch_due_calls';

export interface ReserveRow {
  scale: string;
  scaleKey: string;
  campaigns: number;
  contactsPerCampaign: number;
  cap: number;
  state: 'cold' | 'steady' | 'steady + history';
  finishedCalls: number;
  /** Calls reserved per run (the same for every contender, checked). */
  reserved: number;
  ms: Partial<Record<Contender, Summary>>;
  runsMs: Partial<Record<Contender, number[]>>;
  /** Calls reserved per second by launch_due_calls() at the median. */
  oursCallsPerSecond: number;
  baselineOverOurs: number;
  oursOverFloor: number;
  /** When a proposal was measured: its calls/s and ratios, like ours. */
  proposedCallsPerSecond?: number;
  baselineOverProposed?: number;
  proposedOverFloor?: number;
}

export interface ReserveOptions {
  runs: number;
  /** Rounds in which the baseline runs too (it is slow at scale); the others run every round. */
  baselineRuns: number;
  contenders: Contender[];
  log: (s: string) => void;
  /** Called after every measured run; a failure makes the bench exit non-zero. */
  onInvariantFailure: (where: string, failures: string[]) => void;
  /** If set, an EXPLAIN (ANALYZE, BUFFERS) of every statement of one extra run is written here. */
  explain?: (label: string, text: string) => void;
}

const tickSql = (fn: string) =>
  `select count(*)::integer as campaigns, coalesce(sum(reserved), 0)::integer as reserved
                    from ${fn}($1::timestamptz, null, null)`;
const OURS_SQL = tickSql('public.launch_due_calls');
const PROPOSED_SQL = tickSql(PROPOSED_FUNCTION);

/** The floor: the same rows, inserted and their contacts updated by one bare statement. */
export const FLOOR_SQL = `with ins as (
    insert into public.calls (campaign_id, contact_id, attempt, status, provider, to_phone,
                              dispatch_after, queued_at, updated_at)
    select e.campaign_id, e.contact_id, e.attempt, 'queued', 'twilio', e.phone, $1, $1, $1
      from pg_temp.bench_expected e
    returning contact_id
  )
  update public.contacts ct set status = 'in_progress', updated_at = $1
    from ins where ct.id = ins.contact_id`;

/**
 * The user story's processCampaign(), as a developer would write it with pg: list the active
 * campaigns; per campaign count its active calls, select room pending contacts, then one INSERT
 * and one UPDATE per contact (autocommit, as pool.query does). Same filters as ours on the bench
 * data (due, attempts left; windows are open and listed numbers are not pending).
 */
export async function baselineTick(pool: pg.Pool, now: Date): Promise<number> {
  const { rows: campaigns } = await pool.query<{ id: string; cap: number; max_attempts: number; provider: string }>(
    `select id, max_concurrent_calls as cap, max_attempts, provider from public.campaigns
      where status in ('QUEUED', 'RUNNING') order by last_served_at nulls first, priority desc, id`,
  );
  let launched = 0;
  for (const campaign of campaigns) {
    const { rows: active } = await pool.query<{ n: number }>(
      `select count(*)::integer as n from public.calls where campaign_id = $1 and status in ${ACTIVE}`,
      [campaign.id],
    );
    const room = campaign.cap - (active[0]?.n ?? 0);
    if (room <= 0) continue;
    const { rows: contacts } = await pool.query<{ id: string; phone: string; attempts: number }>(
      `select id, phone, attempts from public.contacts
        where campaign_id = $1 and status = 'pending' and next_attempt_at <= $2 and attempts < $3
        order by next_attempt_at, id limit $4`,
      [campaign.id, now, campaign.max_attempts, room],
    );
    for (const contact of contacts) {
      await pool.query(
        `insert into public.calls (campaign_id, contact_id, attempt, status, provider, to_phone, dispatch_after, queued_at, updated_at)
         values ($1, $2, $3, 'queued', $4, $5, $6, $6, $6)`,
        [campaign.id, contact.id, contact.attempts + 1, campaign.provider, contact.phone, now],
      );
      await pool.query(`update public.contacts set status = 'in_progress', updated_at = $2 where id = $1`, [contact.id, now]);
      launched++;
    }
  }
  return launched;
}

interface Ctx {
  admin: pg.Client;
  measure: pg.Client;
  pool: pg.Pool;
  opts: ReserveOptions;
}

async function runOnce(ctx: Ctx, who: Contender, now: Date): Promise<{ ms: number; reserved: number }> {
  const t0 = performance.now();
  let reserved: number;
  if (who === 'ours' || who === 'proposed') {
    const { rows } = await ctx.measure.query<{ reserved: number }>(who === 'ours' ? OURS_SQL : PROPOSED_SQL, [now]);
    reserved = rows[0]?.reserved ?? 0;
  } else if (who === 'baseline') {
    reserved = await baselineTick(ctx.pool, now);
  } else {
    const r = await ctx.admin.query(FLOOR_SQL, [now]);
    reserved = r.rowCount ?? 0;
  }
  return { ms: performance.now() - t0, reserved };
}

/**
 * One round: every contender from the same state, each checked and undone, the last one kept.
 * Returns each contender's time.
 */
async function round(
  ctx: Ctx,
  where: string,
  now: Date,
  order: Contender[],
  keepLast: boolean,
): Promise<{ times: Partial<Record<Contender, number>>; reserved: number }> {
  const expected = await computeExpected(ctx.admin, now);
  const watermark = await snapshot(ctx.admin);
  const times: Partial<Record<Contender, number>> = {};
  for (let i = 0; i < order.length; i++) {
    const who = order[i]!;
    const { ms, reserved } = await runOnce(ctx, who, now);
    times[who] = ms;
    const diff = await diffFromExpected(ctx.admin, watermark);
    const inv = await checkInvariants(ctx.admin, now);
    const failures = [...inv.failures];
    if (reserved !== expected || diff.missing || diff.unexpected) {
      failures.push(`${who} reserved ${reserved}, expected ${expected} (missing ${diff.missing}, unexpected ${diff.unexpected})`);
    }
    if (failures.length) ctx.opts.onInvariantFailure(`${where}, ${who}`, failures);
    const last = i === order.length - 1;
    if (last && keepLast) {
      if (who === 'baseline' || who === 'floor') await markServed(ctx.admin, watermark, now);
    } else {
      await undo(ctx.admin, watermark, true);
    }
  }
  return { times, reserved: expected };
}

function rotate<T>(xs: readonly T[], k: number): T[] {
  const n = xs.length;
  return xs.map((_, i) => xs[(i + k) % n]!);
}

async function explainOnce(ctx: Ctx, label: string, now: Date): Promise<void> {
  if (!ctx.opts.explain) return;
  await explainWith(ctx, label, now, OURS_SQL);
  if (ctx.opts.contenders.includes('proposed')) await explainWith(ctx, `${label}, proposed`, now, PROPOSED_SQL);
}

async function explainWith(ctx: Ctx, label: string, now: Date, sql: string): Promise<void> {
  if (!ctx.opts.explain) return;
  const notices: string[] = [];
  const onNotice = (n: { message?: string }) => notices.push(n.message ?? '');
  ctx.measure.on('notice', onNotice);
  const watermark = await snapshot(ctx.admin);
  try {
    await ctx.measure.query(`load 'auto_explain'`);
    await ctx.measure.query(
      `set auto_explain.log_min_duration = 1; set auto_explain.log_analyze = on; set auto_explain.log_buffers = on;
       set auto_explain.log_timing = on; set auto_explain.log_triggers = on; set auto_explain.log_nested_statements = on;
       set auto_explain.log_level = notice`,
    );
    const t0 = performance.now();
    await ctx.measure.query(sql, [now]);
    const ms = performance.now() - t0;
    // Keep the statements of launch_due_calls() itself (not the per-row helper functions).
    const plans = notices.filter((n) =>
      /Query Text: (with |select greatest|select \*|select count\(\*\)::integer as campaigns)/.test(
        n.replace(/^duration: [\d.]+ ms\s+plan:\s*/, ''),
      )
    );
    ctx.opts.explain(
      label,
      `-- ${label}: one extra run under auto_explain (instrumented: ${ms.toFixed(0)} ms)\n\n${plans.join('\n\n')}\n`,
    );
  } catch (err) {
    ctx.opts.log(`explain skipped: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    ctx.measure.removeListener('notice', onNotice);
    await ctx.measure.query('set auto_explain.log_min_duration = -1').catch(() => undefined);
    await undo(ctx.admin, watermark, true);
  }
}

function toRow(
  s: Scale,
  state: ReserveRow['state'],
  finishedCalls: number,
  reserved: number[],
  runs: Partial<Record<Contender, number[]>>,
): ReserveRow {
  const ms: Partial<Record<Contender, Summary>> = {};
  for (const [k, v] of Object.entries(runs) as [Contender, number[]][]) if (v.length) ms[k] = summarize(v);
  const med = (k: Contender) => ms[k]?.median ?? Number.NaN;
  const reservedMedian = summarize(reserved).median;
  return {
    scale: scaleLabel(s),
    scaleKey: s.key,
    campaigns: s.campaigns,
    contactsPerCampaign: s.contactsPerCampaign,
    cap: s.cap,
    state,
    finishedCalls,
    reserved: reservedMedian,
    ms,
    runsMs: runs,
    oursCallsPerSecond: reservedMedian / (med('ours') / 1000),
    baselineOverOurs: med('baseline') / med('ours'),
    oursOverFloor: med('ours') / med('floor'),
    ...(ms.proposed
      ? {
        proposedCallsPerSecond: reservedMedian / (med('proposed') / 1000),
        baselineOverProposed: med('baseline') / med('proposed'),
        proposedOverFloor: med('proposed') / med('floor'),
      }
      : {}),
  };
}

async function finishedCallCount(c: pg.Client): Promise<number> {
  const { rows } = await c.query<{ n: string }>(`select count(*) as n from public.calls where status not in ${ACTIVE}`);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Seeds a scale and measures cold and steady ticks (and, with `historyCalls`, steady ticks again
 * after that many finished calls were added). Returns one row per state.
 */
export async function benchScale(
  url: string,
  s: Scale,
  opts: ReserveOptions & { historyCalls?: number },
): Promise<ReserveRow[]> {
  const admin = new pg.Client({ connectionString: url, application_name: 'bench-admin' });
  const measure = new pg.Client({ connectionString: url, application_name: 'bench-measure' });
  const pool = new pg.Pool({ connectionString: url, max: 4, application_name: 'bench-baseline' });
  await admin.connect();
  await measure.connect();
  const ctx: Ctx = { admin, measure, pool, opts };
  const rows: ReserveRow[] = [];
  try {
    const label = scaleLabel(s);
    const t0 = performance.now();
    await seedScale(admin, s);
    opts.log(`${label}: seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const all = opts.contenders;
    const runsFor = (r: number) => all.filter((c) => c !== 'baseline' || r < opts.baselineRuns);

    // Cold: every round starts with all capacity free; the last round's result is kept.
    {
      const runs: Partial<Record<Contender, number[]>> = {};
      const reserved: number[] = [];
      for (let r = 0; r < opts.runs; r++) {
        const order = rotate(runsFor(r), r);
        const res = await round(ctx, `${label} cold round ${r + 1}`, BENCH_EPOCH, order, r === opts.runs - 1);
        for (const [k, v] of Object.entries(res.times) as [Contender, number][]) (runs[k] ??= []).push(v);
        reserved.push(res.reserved);
        opts.log(`${label} cold ${r + 1}/${opts.runs}: ${fmtTimes(res.times)} (${res.reserved} reserved)`);
      }
      rows.push(toRow(s, 'cold', 0, reserved, runs));
    }

    const steady = async (state: ReserveRow['state'], offsetMinutes: number, explainLabel: string, withBaseline: boolean) => {
      const runs: Partial<Record<Contender, number[]>> = {};
      const reserved: number[] = [];
      for (let r = 0; r < opts.runs; r++) {
        const now = new Date(BENCH_EPOCH.getTime() + (offsetMinutes + r + 1) * 60_000);
        const freed = await freeSlots(admin, now, offsetMinutes + r + 1);
        if (r === 0) await explainOnce(ctx, explainLabel, now);
        const order = rotate(runsFor(r).filter((c) => withBaseline || c !== 'baseline'), r);
        const res = await round(ctx, `${label} ${state} round ${r + 1}`, now, order, true);
        for (const [k, v] of Object.entries(res.times) as [Contender, number][]) (runs[k] ??= []).push(v);
        reserved.push(res.reserved);
        opts.log(`${label} ${state} ${r + 1}/${opts.runs}: freed ${freed}, ${fmtTimes(res.times)} (${res.reserved} reserved)`);
      }
      rows.push(toRow(s, state, await finishedCallCount(admin), reserved, runs));
    };

    await steady('steady', 0, `${label}, steady`, true);

    if (opts.historyCalls) {
      const t1 = performance.now();
      const added = await addFinishedHistory(admin, opts.historyCalls, BENCH_EPOCH);
      await admin.query('vacuum analyze public.calls');
      opts.log(`${label}: added ${added} finished calls in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
      await steady('steady + history', 100, `${label}, steady with ${added} finished calls`, false);
    }
  } finally {
    await pool.end();
    await measure.end();
    await admin.end();
  }
  return rows;
}

/** An extra cold run of ours at a scale, under auto_explain (for the profile in the docs). */
export async function explainCold(url: string, s: Scale, opts: ReserveOptions): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  const measure = new pg.Client({ connectionString: url });
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  await admin.connect();
  await measure.connect();
  try {
    await seedScale(admin, s);
    await explainOnce({ admin, measure, pool, opts }, `${scaleLabel(s)}, cold`, BENCH_EPOCH);
  } finally {
    await pool.end();
    await measure.end();
    await admin.end();
  }
}

function fmtTimes(t: Partial<Record<Contender, number>>): string {
  return (Object.entries(t) as [Contender, number][]).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ');
}
