// `npm run bench` data: synthetic campaigns / contacts / calls seeded set-based, the state changes
// between measured runs (undo a run, free slots, add finished history), and the invariant checks
// run after every measured run.

import type pg from 'pg';

/** One benchmark scale: `campaigns` active campaigns of `contactsPerCampaign` contacts each. */
export interface Scale {
  key: string;
  campaigns: number;
  contactsPerCampaign: number;
  cap: number;
}

export function scaleLabel(s: Scale): string {
  return `(${s.key}) ${s.campaigns.toLocaleString('en-US')} x ${s.contactsPerCampaign.toLocaleString('en-US')}, cap ${s.cap}`;
}

/** Monday 2026-06-01 12:00 UTC: every campaign's window (00:00-23:59:59, all days) is open. */
export const BENCH_EPOCH = new Date('2026-06-01T12:00:00Z');

/** What the provider does when a bench call is answered (never fetched: the simulator is local). */
export const BENCH_TWIML_URL = 'http://127.0.0.1:9/twiml';

export const ACTIVE = `('queued', 'dialing', 'unknown', 'ringing', 'in_progress')`;

/** Paused campaigns seeded beside the active ones (1 per 100, at least 1): they must get nothing. */
export function pausedCampaigns(s: Scale): number {
  return Math.max(1, Math.floor(s.campaigns / 100));
}

/**
 * Refuses to wipe a database that holds anything but bench data (DATABASE_URL pointing at a real
 * project), unless `wipe` is set.
 */
export async function assertWipeable(c: pg.Client, wipe: boolean): Promise<void> {
  if (wipe) return;
  const { rows } = await c.query<{ n: string }>(
    `select (select count(*) from public.campaigns where name not like 'bench %')
          + (select count(*) from public.scheduler_runs where trigger <> 'local')
            as n`,
  );
  if (Number(rows[0]?.n ?? 0) > 0) {
    throw new Error(
      'the database holds campaigns or runs that the bench did not create; the bench truncates ' +
        'campaigns, contacts, calls, do_not_call_numbers and scheduler_runs. Use a throwaway database ' +
        '(unset DATABASE_URL) or pass --wipe.',
    );
  }
}

/** Stops pg_cron's scheduler jobs for the bench; returns a function that restores them. */
export async function pauseCronJobs(c: pg.Client): Promise<() => Promise<void>> {
  const exists = await c.query<{ ok: boolean }>(`select to_regclass('cron.job') is not null as ok`);
  if (!exists.rows[0]?.ok) return async () => {};
  const { rows } = await c.query<{ jobid: string }>('update cron.job set active = false where active returning jobid');
  const ids = rows.map((r) => r.jobid);
  return async () => {
    if (ids.length) await c.query('update cron.job set active = true where jobid = any($1::bigint[])', [ids]);
  };
}

export async function truncateAll(c: pg.Client): Promise<void> {
  await c.query(
    `truncate public.calls, public.contacts, public.campaigns, public.do_not_call_numbers,
              public.scheduler_runs restart identity cascade`,
  );
}

/**
 * Seeds one scale, set-based: `campaigns` QUEUED campaigns plus 1% PAUSED ones, each with
 * `contactsPerCampaign` contacts (phones '+44' || lpad(n, 10, '0'), unique: British numbers, whose
 * prefix +44 has four zones, all in step with London, where the calling-hours rules allow calls at
 * BENCH_EPOCH); every 20th contact has its own time zone (America/New_York: none of the number's
 * zones, so the rules must allow the call in both), every 50th has used all its attempts, every
 * 97th number is on the do-not-call list. Windows are open around the clock. Then ANALYZE.
 */
export async function seedScale(c: pg.Client, s: Scale, opts: { settings?: Record<string, number> } = {}): Promise<void> {
  await truncateAll(c);
  const settings = { global_max_concurrent_calls: 1_000_000, campaigns_per_tick: 100_000, ...opts.settings };
  const sets = Object.keys(settings).map((k, i) => `${k} = $${i + 1}`);
  await c.query(`update public.scheduler_settings set ${sets.join(', ')}`, Object.values(settings));
  const total = s.campaigns + pausedCampaigns(s);
  await c.query(
    `insert into public.campaigns (name, status, max_concurrent_calls, priority, caller_id, provider_settings,
                                   time_zone, window_start, window_end, window_days, max_attempts, retry_no_answer_delay)
     select 'bench ' || g,
            case when g > $1 then 'PAUSED' else 'QUEUED' end::public.campaign_status,
            $3, g % 3, '+15550100000', jsonb_build_object('url', $4::text), 'UTC', '00:00', '23:59:59',
            '{1,2,3,4,5,6,7}', 5, interval '1 hour'
       from generate_series(1, $2::integer) g`,
    [s.campaigns, total, s.cap, BENCH_TWIML_URL],
  );
  const contacts = total * s.contactsPerCampaign;
  await c.query(
    `insert into public.do_not_call_numbers (phone, reason)
     select '+44' || lpad((g * 97)::text, 10, '0'), 'bench'
       from generate_series(1, $1::integer / 97) g`,
    [contacts],
  );
  // Campaign by campaign (cross join lateral keeps each campaign's contacts together on disk, as
  // an import would). attempts 2 of max 5, next_attempt_at spread over the morning: all due.
  await c.query(
    `insert into public.contacts (campaign_id, phone, time_zone, attempts, next_attempt_at)
     select g, '+44' || lpad(((g - 1) * $2 + k)::text, 10, '0'),
            case when k % 20 = 0 then 'America/New_York' end,
            case when k % 50 = 0 then 5 else 2 end,
            $3::timestamptz - interval '12 hours' + make_interval(secs => k)
       from generate_series(1, $1::integer) g
      cross join lateral generate_series(1, $2::integer) k`,
    [total, s.contactsPerCampaign, BENCH_EPOCH],
  );
  await c.query('analyze public.campaigns, public.contacts, public.calls, public.do_not_call_numbers');
}

/**
 * What one tick at `now` should reserve, computed independently of launch_due_calls(): per active
 * campaign, its free room's worth of due contacts, by next_attempt_at then id. Held in a temp
 * table of this benchmark (the floor inserts these rows; every run is compared with them).
 */
export async function computeExpected(c: pg.Client, now: Date): Promise<number> {
  await c.query('drop table if exists pg_temp.bench_expected');
  const r = await c.query(
    `create temp table bench_expected as
     with active as (
       select cl.campaign_id, count(*)::integer as n from public.calls cl
        where cl.status in ${ACTIVE} group by cl.campaign_id
     )
     select x.campaign_id, x.id as contact_id, x.phone, x.attempts + 1 as attempt
       from (select ct.id, ct.campaign_id, ct.phone, ct.attempts,
                    c.max_concurrent_calls - coalesce(a.n, 0) as room,
                    row_number() over (partition by ct.campaign_id order by ct.next_attempt_at, ct.id) as rn
               from public.contacts ct
               join public.campaigns c on c.id = ct.campaign_id
               left join active a on a.campaign_id = c.id
              where c.status in ('QUEUED', 'RUNNING')
                and ct.status = 'pending'
                and ct.next_attempt_at <= $1
                and ct.attempts < c.max_attempts
                and not exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)) x
      where x.rn <= x.room`,
    [now],
  );
  await c.query('analyze pg_temp.bench_expected');
  return r.rowCount ?? 0;
}

/** A restore point: the highest call id and the campaigns' serving columns. */
export async function snapshot(c: pg.Client): Promise<number> {
  await c.query('drop table if exists pg_temp.bench_campaigns');
  await c.query(
    `create temp table bench_campaigns as
     select id, status, last_served_at, started_at, completed_at, updated_at from public.campaigns`,
  );
  const { rows } = await c.query<{ w: string }>('select coalesce(max(id), 0) as w from public.calls');
  return Number(rows[0]?.w ?? 0);
}

/**
 * Runs `fill` (a statement writing rows into pg_temp.<name>, created from `columns`), then ANALYZE
 * it: the next statement joins it with a true row count. (A data-modifying CTE chained straight
 * into the next write is estimated from the table's last statistics, which can be "no calls" when
 * there are 50,000: the planner then loops over the CTE once per contact.)
 */
async function stage(c: pg.Client, name: string, columns: string, fill: string, params: unknown[]): Promise<number> {
  await c.query(`drop table if exists pg_temp.${name}`);
  await c.query(`create temp table ${name} (${columns})`);
  const r = await c.query(fill, params);
  await c.query(`analyze pg_temp.${name}`);
  return r.rowCount ?? 0;
}

/** Undoes a reservation run: deletes the calls it created, puts their contacts and campaigns back. */
export async function undo(c: pg.Client, watermark: number, vacuum: boolean): Promise<void> {
  await stage(
    c,
    'bench_gone',
    'contact_id bigint',
    `with gone as (delete from public.calls where id > $1 returning contact_id)
     insert into pg_temp.bench_gone select contact_id from gone`,
    [watermark],
  );
  await c.query(
    `update public.contacts ct set status = 'pending'
       from pg_temp.bench_gone g where ct.id = g.contact_id and ct.status = 'in_progress'`,
  );
  await c.query(
    `update public.campaigns c
        set status = s.status, last_served_at = s.last_served_at, started_at = s.started_at,
            completed_at = s.completed_at, updated_at = s.updated_at
       from pg_temp.bench_campaigns s
      where c.id = s.id
        and (c.status, c.last_served_at, c.started_at) is distinct from (s.status, s.last_served_at, s.started_at)`,
  );
  if (vacuum) await c.query('vacuum public.calls, public.contacts, public.campaigns');
}

/**
 * After a baseline or floor run is kept as the state for the next round: give the campaigns it
 * served what launch_due_calls() would have recorded (last_served_at, RUNNING, started_at).
 */
export async function markServed(c: pg.Client, watermark: number, now: Date): Promise<void> {
  await c.query(
    `update public.campaigns c
        set last_served_at = $2, status = case when c.status = 'QUEUED' then 'RUNNING'::public.campaign_status else c.status end,
            started_at = coalesce(c.started_at, $2), updated_at = $2
      where c.id in (select distinct campaign_id from public.calls where id > $1)`,
    [watermark, now],
  );
}

/**
 * Frees about 10% of the active calls (a hash of the call id picks them), set-based: half end
 * completed (contact done), half no_answer (contact pending again, next attempt in an hour); each
 * counts its attempt. Then ANALYZE once. Returns how many slots were freed.
 */
export async function freeSlots(c: pg.Client, now: Date, round: number): Promise<number> {
  await stage(
    c,
    'bench_freed',
    'id bigint, contact_id bigint, answered boolean',
    `insert into pg_temp.bench_freed
     select id, contact_id, (id % 2 = 0) from public.calls
      where status in ${ACTIVE} and abs(hashint8(id * 1000 + $1)) % 10 = 0`,
    [round],
  );
  const r = await c.query<{ n: string }>(
    `with ended as (
       update public.calls cl
          set status = case when f.answered then 'completed' else 'no_answer' end::public.call_status,
              dialed_at = $1::timestamptz - interval '3 minutes',
              provider_accepted_at = $1::timestamptz - interval '3 minutes',
              ended_at = $1::timestamptz - interval '30 seconds',
              duration_seconds = case when f.answered then 95 else 0 end,
              updated_at = $1::timestamptz - interval '30 seconds'
         from pg_temp.bench_freed f
        where cl.id = f.id
       returning f.contact_id, f.answered
     ),
     settled as (
       update public.contacts ct
          set status = case when e.answered then 'done' else 'pending' end::public.contact_status,
              attempts = ct.attempts + 1,
              next_attempt_at = case when e.answered then ct.next_attempt_at else $1::timestamptz + interval '1 hour' end,
              last_call_status = case when e.answered then 'completed' else 'no_answer' end::public.call_status,
              updated_at = $1::timestamptz - interval '30 seconds'
         from ended e
        where ct.id = e.contact_id
       returning 1
     )
     select count(*)::text as n from settled`,
    [now],
  );
  await c.query('analyze public.calls, public.contacts, public.campaigns');
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * Adds `n` finished calls (history), set-based: attempts 1 and 2 of the active campaigns' contacts
 * (whose attempts counter starts at 2), ended with a realistic mix of outcomes, then ANALYZE.
 */
export async function addFinishedHistory(c: pg.Client, n: number, now: Date): Promise<number> {
  const r = await c.query(
    `insert into public.calls (campaign_id, contact_id, attempt, status, provider, provider_call_id, to_phone,
                               dispatch_after, queued_at, dialed_at, provider_accepted_at, ended_at,
                               duration_seconds, updated_at)
     select ct.campaign_id, ct.id, a.attempt,
            (array['completed', 'no_answer', 'busy', 'failed', 'no_answer'])[1 + (ct.id + a.attempt) % 5]::public.call_status,
            'twilio', 'CAhist' || ct.id || '_' || a.attempt, ct.phone,
            t.at, t.at, t.at, t.at, t.at + interval '40 seconds', 30, t.at + interval '40 seconds'
       from (select id, campaign_id, phone from public.contacts order by id limit $1::integer / 2) ct
      cross join (values (1), (2)) a(attempt)
      cross join lateral (select $2::timestamptz - make_interval(days => 3 - a.attempt, secs => (ct.id % 36000)::integer) as at) t`,
    [n, now],
  );
  await c.query('analyze public.calls');
  return r.rowCount ?? 0;
}

export interface InvariantReport {
  ok: boolean;
  failures: string[];
}

/**
 * The invariants (docs/ARCHITECTURE.md) on the data, after a run: the one SQL checker every suite uses
 * (tests.invariant_violations(), supabase/tests/_fixtures/tests_schema.psql, installed on the
 * benchmark's cluster) with `reservedAt` as the reservation time (the calls still queued from it
 * must be inside their calling window and hours then) and no run left 'running' (every part checks
 * once its ticks have ended), plus what holds only here (the benchmark never pauses a campaign nor
 * lists a number): no active call for a campaign that is not QUEUED/RUNNING, nor to a do-not-call
 * number.
 */
export async function checkInvariants(c: pg.Client, reservedAt: Date): Promise<InvariantReport> {
  const { rows } = await c.query<{ invariant: string; n: string }>(
    `select invariant, count(*) as n from tests.invariant_violations($1, false) group by invariant order by invariant`,
    [reservedAt],
  );
  const failures = rows.map((r) => `${r.invariant}: ${r.n}`);
  const benchOnly: [string, string][] = [
    [
      'active call of a paused, cancelled or completed campaign (invariant 3)',
      `select count(*) from public.calls cl join public.campaigns c on c.id = cl.campaign_id
        where cl.status in ${ACTIVE} and c.status not in ('QUEUED', 'RUNNING')`,
    ],
    [
      'active call to a do-not-call number (invariant 3)',
      `select count(*) from public.calls cl join public.do_not_call_numbers d on d.phone = cl.to_phone
        where cl.status in ${ACTIVE}`,
    ],
  ];
  for (const [name, sql] of benchOnly) {
    const { rows: counted } = await c.query<{ count: string }>(sql);
    const n = Number(counted[0]?.count ?? 0);
    if (n > 0) failures.push(`${name}: ${n}`);
  }
  return { ok: failures.length === 0, failures };
}

/**
 * Compares the calls a run created (id > watermark) with bench_expected: returns how many expected
 * contacts were not reserved plus how many reserved contacts were not expected.
 */
export async function diffFromExpected(c: pg.Client, watermark: number): Promise<{ missing: number; unexpected: number }> {
  const { rows } = await c.query<{ missing: string; unexpected: string }>(
    `select (select count(*) from pg_temp.bench_expected e
              where not exists (select 1 from public.calls cl where cl.id > $1 and cl.contact_id = e.contact_id)) as missing,
            (select count(*) from public.calls cl
              where cl.id > $1 and not exists (select 1 from pg_temp.bench_expected e where e.contact_id = cl.contact_id)) as unexpected`,
    [watermark],
  );
  return { missing: Number(rows[0]?.missing ?? 0), unexpected: Number(rows[0]?.unexpected ?? 0) };
}
