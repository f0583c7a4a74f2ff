// Invariants 1-3 under concurrent ticks (docs/ARCHITECTURE.md): launch_due_calls() and claim_queued_calls()
// raced over separate connections against the real database, with dispatchers and provider
// callbacks running at the same time, campaigns paused and numbers listed between rounds. After
// every round the committed state is checked with SQL (see invariantViolations in fixtures.ts).

import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addContacts, createCampaign } from '../support/builders.ts';
import { minutesAfterNoon } from '../support/clock.ts';
import { closeClients, disableCronJobs, openClients, resetData, UNTHROTTLED, updateSettings } from '../support/db.ts';
import { invariantViolations, type Period } from '../support/invariants.ts';
import { pick, randomInt, seededRandom } from '../support/random.ts';
import { claimQueuedCalls, isSkipped, launchDueCalls, type LaunchRow, reservedIn } from '../support/rows.ts';

const LAUNCHERS = 8;
const WORKERS = 3;

let admin: pg.Client;
let launchers: pg.Client[];
let workers: pg.Client[];

beforeAll(async () => {
  admin = (await openClients(1))[0]!;
  await disableCronJobs(admin);
  launchers = await openClients(LAUNCHERS);
  workers = await openClients(WORKERS);
});

afterAll(async () => {
  await closeClients([admin, ...launchers, ...workers]);
});

beforeEach(async () => {
  await resetData(admin);
  await updateSettings(admin, UNTHROTTLED);
});

/** Runs launch_due_calls(now) on every launcher at once, each in autocommit. */
function launchOnAll(now: Date): Promise<LaunchRow[][]> {
  return Promise.all(launchers.map((c) => launchDueCalls(c, now)));
}

/**
 * Runs launch_due_calls(now) on every launcher at once, each inside its own transaction that stays
 * open until all of them have answered: the winner still holds the lock while the others try.
 */
async function launchOnAllInOpenTransactions(now: Date): Promise<LaunchRow[][]> {
  await Promise.all(launchers.map((c) => c.query('begin')));
  try {
    return await Promise.all(launchers.map((c) => launchDueCalls(c, now)));
  } finally {
    await Promise.all(launchers.map((c) => c.query('commit')));
  }
}

/** A dispatcher: claims a few calls and records a random provider answer for each. */
async function dispatchSome(db: pg.Client, random: () => number, now: Date): Promise<void> {
  const claimed = await claimQueuedCalls(db, randomInt(random, 1, 8), now);
  for (const call of claimed.filter((c) => c.release_reason === null)) {
    const r = random();
    if (r < 0.5) {
      await db.query(`select public.record_dispatch_result($1, 'accepted', $2, p_now => $3)`, [
        call.call_id,
        `CA-${call.call_id}`,
        now,
      ]);
    } else if (r < 0.65) {
      await db.query(
        `select public.record_dispatch_result($1, 'retryable', p_reason => '429', p_retry_at => $2, p_now => $3)`,
        [call.call_id, new Date(now.getTime() + 30_000), now],
      );
    } else if (r < 0.8) {
      await db.query(
        `select public.record_dispatch_result($1, 'permanent', p_reason => 'refused', p_invalid_number => $2, p_now => $3)`,
        [
          call.call_id,
          random() < 0.3,
          now,
        ],
      );
    } else if (r < 0.9) {
      await db.query(`select public.record_dispatch_result($1, 'unknown', p_reason => 'timeout', p_now => $2)`, [
        call.call_id,
        now,
      ]);
    } // else: the answer is lost; the call stays dialing until a callback or the reaper
  }
}

/** The provider: status callbacks for calls dialled in earlier rounds. */
async function callBackSome(db: pg.Client, random: () => number, now: Date): Promise<void> {
  const { rows } = await db.query<{ id: string }>(
    `select id::text from public.calls
      where status in ('dialing', 'unknown', 'ringing', 'in_progress') and dialed_at < $1
      order by random() limit $2`,
    [now, randomInt(random, 0, 6)],
  );
  for (const { id } of rows) {
    const status = pick(random, ['ringing', 'in_progress', 'completed', 'completed', 'busy', 'no_answer', 'failed'] as const);
    await db.query(`select public.apply_call_status($1, 'twilio', null, $2, p_now => $3)`, [id, status, now]);
  }
}

describe('launch_due_calls() under concurrent ticks', () => {
  it('never breaks a cap, double-books a contact, exceeds max attempts, or calls a paused campaign or a listed number', async () => {
    const seed = Number(process.env.RACE_SEED ?? 20261202);
    const random = seededRandom(seed);
    const rounds = 30;

    await admin.query('update public.scheduler_settings set global_max_concurrent_calls = 40');
    const campaigns: string[] = [];
    for (let i = 0; i < 15; i++) {
      const id = await createCampaign(admin, {
        name: `campaign ${i}`,
        cap: randomInt(random, 1, 8),
        maxAttempts: randomInt(random, 1, 3),
        priority: randomInt(random, 0, 2),
        retryDelay: '1 minute',
      });
      await addContacts(admin, id, randomInt(random, 10, 40));
      campaigns.push(id);
    }

    const pauses: Period[] = [];
    const listings: Period[] = [];
    let skippedLaunches = 0;
    let reserved = 0;

    for (let round = 1; round <= rounds; round++) {
      const now = minutesAfterNoon(round);

      // Between rounds: pause or resume a campaign, list a number (effective from this round on),
      // run housekeeping, and free some slots the way callbacks do.
      if (random() < 0.3) {
        const id = pick(random, campaigns);
        const open = pauses.find((p) => p.id === id && p.until === null);
        if (open) {
          await admin.query(`update public.campaigns set status = 'RUNNING' where id = $1 and status = 'PAUSED'`, [id]);
          open.until = now;
        } else {
          const { rowCount } = await admin.query(
            `update public.campaigns set status = 'PAUSED' where id = $1 and status in ('QUEUED', 'RUNNING')`,
            [id],
          );
          if (rowCount) pauses.push({ id, from: now, until: null });
        }
      }
      if (random() < 0.4) {
        const { rows } = await admin.query<{ phone: string }>(
          `insert into public.do_not_call_numbers (phone, added_at)
           select phone, $1 from public.contacts order by random() limit 2
           on conflict do nothing returning phone`,
          [now],
        );
        for (const { phone } of rows) listings.push({ id: phone, from: now, until: null });
      }
      await admin.query('select public.release_stale_queued_calls($1), public.expire_stuck_calls($1)', [now]);
      await callBackSome(admin, random, now);

      // The race: 8 launches, alternately in autocommit and in transactions held open until all
      // have answered, while dispatchers claim and the provider calls back on other connections.
      const heldOpen = round % 2 === 0;
      const [results] = await Promise.all([
        heldOpen ? launchOnAllInOpenTransactions(now) : launchOnAll(now),
        ...workers.map((w, i) => (i === 0 ? callBackSome(w, random, now) : dispatchSome(w, random, now))),
      ]);

      expect(await invariantViolations(admin, { pauses, listings }), `round ${round} (seed ${seed})`).toEqual([]);

      const skipped = results.filter(isSkipped).length;
      skippedLaunches += skipped;
      reserved += results.reduce((n, rows) => n + reservedIn(rows), 0);
      if (heldOpen) {
        expect(skipped, `round ${round}: with the lock held to commit, all launches but one are skipped`).toBe(LAUNCHERS - 1);
      }
    }

    // The run did what it is meant to: calls were reserved and many launches met a held lock.
    expect(reserved).toBeGreaterThan(100);
    expect(skippedLaunches).toBeGreaterThanOrEqual((rounds / 2) * (LAUNCHERS - 1));
  });

  it('reserves every contact exactly once when 8 ticks race over 1000 contacts', async () => {
    await admin.query('update public.scheduler_settings set global_max_concurrent_calls = 1000');
    const campaigns = [] as string[];
    for (let i = 0; i < 10; i++) {
      const id = await createCampaign(admin, { cap: 100 });
      await addContacts(admin, id, 100);
      campaigns.push(id);
    }

    const results = await launchOnAll(minutesAfterNoon(1));
    const again = await launchOnAll(minutesAfterNoon(1));

    const total = [...results, ...again].reduce((n, rows) => n + reservedIn(rows), 0);
    expect(total).toBe(1000);
    const { rows } = await admin.query<{ calls: string; contacts: string }>(
      'select count(*) as calls, count(distinct contact_id) as contacts from public.calls',
    );
    expect(rows[0]).toEqual({ calls: '1000', contacts: '1000' });
    expect(await invariantViolations(admin)).toEqual([]);
  });
});

describe('a second launch while one is running', () => {
  it('returns a single skipped row and reserves nothing, without waiting', async () => {
    const campaignId = await createCampaign(admin, { cap: 5 });
    await addContacts(admin, campaignId, 3);
    const [holder] = workers as [pg.Client];

    await holder.query('begin');
    await holder.query(`select pg_advisory_xact_lock(public._lock_key('launch_due_calls'))`);
    try {
      const rows = await launchDueCalls(admin, minutesAfterNoon(0));
      expect(rows).toEqual([
        {
          campaign_id: null,
          outcome: 'busy',
          reserved: 0,
          active_calls: 0,
          max_concurrent_calls: 0,
          campaign_status: null,
          problem: null,
        },
      ]);
      const { rows: calls } = await admin.query('select id from public.calls');
      expect(calls).toEqual([]);
    } finally {
      await holder.query('rollback');
    }

    expect(reservedIn(await launchDueCalls(admin, minutesAfterNoon(0)))).toBe(3);
  });

  it('makes reserve_due_calls() answer busy, reserving nothing', async () => {
    const campaignId = await createCampaign(admin);
    await addContacts(admin, campaignId, 2);
    const [holder] = workers as [pg.Client];

    await holder.query('begin');
    await holder.query(`select pg_advisory_xact_lock(public._lock_key('launch_due_calls'))`);
    try {
      const { rows } = await admin.query('select * from public.reserve_due_calls(null, $1)', [minutesAfterNoon(0)]);
      expect(rows).toEqual([
        {
          outcome: 'busy',
          campaigns_processed: 0,
          calls_reserved: 0,
          campaigns_completed: 0,
          calls_released: 0,
          calls_expired: 0,
          problems: [],
        },
      ]);
    } finally {
      await holder.query('rollback');
    }
    const { rows } = await admin.query('select outcome, calls_reserved from public.reserve_due_calls(null, $1)', [
      minutesAfterNoon(0),
    ]);
    expect(rows).toEqual([{ outcome: 'reserved', calls_reserved: 2 }]);
  });

  it('makes the pg_cron tick record one skipped run row', async () => {
    const campaignId = await createCampaign(admin);
    await addContacts(admin, campaignId, 2);
    const [holder] = workers as [pg.Client];

    await holder.query('begin');
    await holder.query(`select pg_advisory_xact_lock(public._lock_key('launch_due_calls'))`);
    try {
      // now() as p_now: run_cron_tick() stamps its run with the wall clock.
      const { rows } = await admin.query<{ r: { status: string } }>('select public.run_cron_tick(now()) as r');
      expect(rows[0]!.r.status).toBe('skipped');
    } finally {
      await holder.query('rollback');
    }
    const { rows: runs } = await admin.query('select trigger, status, calls_reserved from public.scheduler_runs');
    expect(runs).toEqual([{ trigger: 'pg_cron', status: 'skipped', calls_reserved: 0 }]);
    const { rows: calls } = await admin.query('select id from public.calls');
    expect(calls).toEqual([]);
  });
});

describe('claim_queued_calls() under concurrent dispatchers', () => {
  it('never hands the same call to two dispatchers', async () => {
    await admin.query('update public.scheduler_settings set global_max_concurrent_calls = 1000');
    for (let i = 0; i < 4; i++) {
      const id = await createCampaign(admin, { cap: 60 });
      await addContacts(admin, id, 60);
    }
    expect(reservedIn(await launchDueCalls(admin, minutesAfterNoon(0)))).toBe(240);

    const dispatchers = await openClients(8);
    try {
      const claimedBy = await Promise.all(
        dispatchers.map(async (d) => {
          const mine: string[] = [];
          for (;;) {
            const batch = await claimQueuedCalls(d, 7, minutesAfterNoon(1));
            if (batch.length === 0) {
              // SKIP LOCKED may return nothing while others hold rows: stop only when none are queued.
              const { rows } = await d.query<{ n: string }>(`select count(*) as n from public.calls where status = 'queued'`);
              if (rows[0]!.n === '0') return mine;
              continue;
            }
            mine.push(...batch.map((c) => c.call_id));
          }
        }),
      );

      const all = claimedBy.flat();
      expect(new Set(all).size).toBe(all.length);
      expect(all.length).toBe(240);
      const { rows } = await admin.query<{ dialing: string; max_attempts_used: number }>(
        `select count(*) filter (where cl.status = 'dialing') as dialing, max(ct.attempts) as max_attempts_used
           from public.calls cl join public.contacts ct on ct.id = cl.contact_id`,
      );
      expect(rows[0]).toEqual({ dialing: '240', max_attempts_used: 1 });
    } finally {
      await closeClients(dispatchers);
    }
  });
});
