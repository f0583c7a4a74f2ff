// The reservation's clock. The tick reserves with reserve_due_calls(); had it passed a time it read
// before its statement ran, the statement could wait (for a connection from a busy pool, behind the
// housekeeping) while a paused campaign was resumed, then see the campaign running and stamp its
// calls queued at an instant the campaign was still paused. The continuous-dispatch property suite
// found one such call, reserved 62 ms after a pause and stamped 47 ms before the resume it had
// waited for. By default the tick now lets the database stamp the reservation with its own clock,
// read as the reservation takes its snapshot; a clock given to the tick (tests) is still the
// reservation's. Real parts: runTick() under Node with the Edge Functions' pool through the pooler,
// the Twilio adapter and the simulator on loopback, the real database.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { SqlPool } from '../../supabase/functions/_shared/db.ts';
import type { Logger } from '../../supabase/functions/_shared/log.ts';
import { createPool } from '../../supabase/functions/_shared/pool.ts';
import { MAX_CLOCK_WAIT_MS, runTick, type TickDeps, waitForDatabaseClock } from '../../supabase/functions/_shared/tick.ts';
import { TwilioProvider } from '../../supabase/functions/_shared/twilio.ts';
import { addContacts, createCampaign } from '../support/builders.ts';
import { minutesAfterNoon, sleep } from '../support/clock.ts';
import { FAST_SETTINGS, functionsDbUrl, newPool, resetData, updateSettings } from '../support/db.ts';
import { startSim, type TwilioSimulator } from '../support/functions.ts';
import { invariantViolations } from '../support/invariants.ts';
import { launchDueCalls } from '../support/rows.ts';

const silent: Logger = { log: () => {}, info: () => {}, warn: () => {}, error: () => {} };

let admin: pg.Pool;
let sim: TwilioSimulator;

beforeAll(async () => {
  admin = newPool(3);
  sim = await startSim({ callbacks: false });
});

afterAll(async () => {
  await sim?.close();
  await admin?.end();
});

beforeEach(async () => {
  sim.reset();
  await resetData(admin);
  await updateSettings(admin, { ...FAST_SETTINGS, background_dispatch_ms: 0 });
});

/**
 * The Edge Functions' pool, whose reservation statement is held back until `release()` (as if it
 * waited for a connection); `issued` resolves when the tick has sent it.
 */
function heldReservationPool(pool: SqlPool) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let issued!: () => void;
  const issuedP = new Promise<void>((resolve) => (issued = resolve));
  const held: SqlPool = {
    query: async (text: string, values?: unknown[]) => {
      if (text.includes('reserve_due_calls(')) {
        issued();
        await gate;
      }
      return await pool.query(text, values);
    },
    connect: () => pool.connect(),
  };
  return { pool: held, issued: issuedP, release };
}

function deps(pool: SqlPool, over: Partial<TickDeps> = {}): TickDeps {
  return {
    pool,
    provider: new TwilioProvider({ accountSid: sim.accountSid, authToken: sim.authToken, baseUrl: sim.url }),
    log: silent,
    statusCallbackUrl: (id) => `http://127.0.0.1:9/functions/v1/call-status?call_id=${id}`,
    ...over,
  };
}

async function queuedAt(campaign: string): Promise<Date[]> {
  const { rows } = await admin.query<{ queued_at: Date }>(
    'select queued_at from public.calls where campaign_id = $1 order by id',
    [campaign],
  );
  return rows.map((r) => r.queued_at);
}

describe('waitForDatabaseClock: a tick claims only once its clock has passed the database clock', () => {
  /** A manual clock whose timers wake `early` ms before they should (at least 0.5 ms after). */
  function clock(early = 0) {
    let t = 1_000_000;
    const slept: number[] = [];
    return {
      now: () => t,
      sleep: async (ms: number) => {
        slept.push(ms);
        t += Math.max(0.5, ms - early);
      },
      slept,
    };
  }

  it('sleeps until its clock has passed the database clock, again when a timer wakes early', async () => {
    const c = clock(1.5);
    expect(await waitForDatabaseClock(1_000_250.3, c.now, c.sleep)).toBeGreaterThanOrEqual(251);
    expect(c.now()).toBeGreaterThanOrEqual(1_000_250.3);
    expect(c.slept.length).toBeGreaterThan(1);
  });

  it('does not sleep when its clock is ahead already', async () => {
    const c = clock();
    expect(await waitForDatabaseClock(999_990, c.now, c.sleep)).toBe(0);
    expect(c.slept).toEqual([]);
  });

  it(`sleeps ${MAX_CLOCK_WAIT_MS} ms at most, and three times at most when a sleep does not move the clock`, async () => {
    const c = clock();
    expect(await waitForDatabaseClock(1_005_000, c.now, c.sleep)).toBe(MAX_CLOCK_WAIT_MS);
    const frozen = { now: () => 1_000_000, slept: [] as number[] };
    const waited = await waitForDatabaseClock(1_000_010, frozen.now, async (ms) => {
      frozen.slept.push(ms);
    });
    expect(frozen.slept).toEqual([10, 10, 10]);
    expect(waited).toBe(30);
  });
});

describe("the reservation's clock", () => {
  it('a campaign resumed while the reservation waited: its calls are stamped after the resume, none while it was paused', async () => {
    const campaign = await createCampaign(admin, { cap: 3 });
    await addContacts(admin, campaign, 3);
    await admin.query(`update public.campaigns set status = 'PAUSED' where id = $1`, [campaign]);
    const pausedFrom = new Date();
    const pool = createPool(functionsDbUrl(), 4);
    try {
      const held = heldReservationPool(pool);
      const tick = runTick(deps(held.pool), { trigger: 'local', budgetMs: 10_000 });
      await held.issued;
      await sleep(30);
      // Resumed while the tick's reservation has not reached the database yet.
      const resumedAt = new Date();
      await admin.query(`update public.campaigns set status = 'RUNNING' where id = $1`, [campaign]);
      held.release();
      const result = await tick;

      expect(result.status, JSON.stringify(result)).toBe('ok');
      expect(result.reserved).toBe(3);
      expect(result.launched).toBe(3);
      const stamps = await queuedAt(campaign);
      expect(stamps).toHaveLength(3);
      for (const t of stamps) expect(t.getTime()).toBeGreaterThanOrEqual(resumedAt.getTime());
      expect(
        await invariantViolations(admin, { pauses: [{ id: campaign, from: pausedFrom, until: resumedAt }] }),
      ).toEqual([]);
    } finally {
      await pool.end();
    }
  });

  it('on the database clock, busy while another reservation holds the lock (housekeeping done), and reserving once it is free', async () => {
    const campaign = await createCampaign(admin, { cap: 2 });
    await addContacts(admin, campaign, 2);
    // One call queued two hours ago that nobody sent: housekeeping releases it (queued_call_ttl).
    await updateSettings(admin, { queued_call_ttl: '1 hour' });
    const stale = await launchDueCalls(admin, new Date(Date.now() - 2 * 3600_000));
    expect(stale.reduce((n, row) => n + row.reserved, 0)).toBe(2);
    const holder = await admin.connect();
    try {
      await holder.query('begin');
      await holder.query(`select pg_advisory_xact_lock(public._lock_key('launch_due_calls'))`);
      const { rows: busy } = await admin.query<{ outcome: string; calls_reserved: number; calls_released: number }>(
        'select outcome, calls_reserved, calls_released from public.reserve_due_calls(null, null)',
      );
      expect(busy).toEqual([{ outcome: 'busy', calls_reserved: 0, calls_released: 2 }]);
      await holder.query('commit');
    } finally {
      holder.release();
    }
    const before = new Date();
    const { rows } = await admin.query<{ outcome: string; calls_reserved: number }>(
      'select outcome, calls_reserved from public.reserve_due_calls(null, null)',
    );
    expect(rows).toEqual([{ outcome: 'reserved', calls_reserved: 2 }]);
    const stamps = await queuedAt(campaign);
    expect(stamps).toHaveLength(4);
    for (const t of stamps.slice(2)) expect(t.getTime()).toBeGreaterThanOrEqual(before.getTime());
  });

  it("a clock given to the tick is the reservation's clock", async () => {
    const campaign = await createCampaign(admin, { cap: 2 });
    await addContacts(admin, campaign, 2);
    const at = minutesAfterNoon(7);
    const pool = createPool(functionsDbUrl(), 4);
    try {
      // Sends wait for slots by this clock: it moves with the wall clock, from `at`.
      const offset = at.getTime() - Date.now();
      const result = await runTick(deps(pool, { now: () => Date.now() + offset }), { trigger: 'local', budgetMs: 10_000 });
      expect(result.reserved).toBe(2);
      const stamps = await queuedAt(campaign);
      expect(stamps).toHaveLength(2);
      // Taken when the reservation was asked for: a few milliseconds after `at`, not the wall clock.
      for (const t of stamps) expect(Math.abs(t.getTime() - at.getTime())).toBeLessThan(60_000);
    } finally {
      await pool.end();
    }
  });
});

describe("an operator's pause or resume and a reservation in flight", () => {
  it('a resume waits for the reservation that holds the lock: the reservation, its clock read, still sees the campaign paused', async () => {
    const campaign = await createCampaign(admin, { cap: 3 });
    await addContacts(admin, campaign, 3);
    await admin.query(`select public.admin_campaign_action($1, 'pause', 'test')`, [campaign]);
    const reserving = await admin.connect();
    try {
      // A reservation on the database's clock, as reserve_due_calls(p_now null) makes it: the lock,
      // then the clock, then (below) the snapshot.
      await reserving.query('begin');
      await reserving.query(`select pg_advisory_xact_lock(public._lock_key('launch_due_calls'))`);
      const { rows: clock } = await reserving.query<{ at: Date }>('select clock_timestamp() as at');
      const resume = admin.query(`select public.admin_campaign_action($1, 'resume', 'test')`, [campaign]);
      // The resume waits on the reservation's lock (polled, not timed).
      let waiting = false;
      for (let i = 0; i < 300 && !waiting; i++) {
        const { rows } = await admin.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
            where query like '%admin_campaign_action(%resume%' and wait_event_type = 'Lock' and wait_event = 'advisory'`,
        );
        waiting = rows[0]!.n > 0;
        if (!waiting) await sleep(10);
      }
      expect(waiting).toBe(true);
      const launched = await launchDueCalls(reserving, clock[0]!.at);
      expect(launched.filter((row) => row.campaign_id === campaign)).toEqual([]);
      await reserving.query('commit');
      await resume;
    } finally {
      reserving.release();
    }
    // Resumed after the reservation: nothing was stamped queued while the campaign was paused.
    expect(await queuedAt(campaign)).toEqual([]);
    const { rows } = await admin.query<{ status: string }>('select status from public.campaigns where id = $1', [campaign]);
    expect(rows[0]!.status).toBe('QUEUED');
  });
});

describe('the invariant checker: claims against pauses (test/support/invariants.ts)', () => {
  it('flags a claim issued after a pause committed and answered before the resume, not one that straddles either end', async () => {
    const from = new Date('2026-06-03T12:00:00Z');
    const until = new Date(from.getTime() + 100);
    const at = (ms: number) => from.getTime() + ms;
    const violations = await invariantViolations(admin, {
      pauses: [{ id: '7', from, until }],
      claims: [
        { call: '1', campaign: '7', issued: at(10), returned: at(20) }, // wholly inside: a violation
        { call: '2', campaign: '7', issued: at(-5), returned: at(20) }, // issued before the pause committed
        { call: '3', campaign: '7', issued: at(90), returned: at(130) }, // answered after the resume began
        { call: '4', campaign: '8', issued: at(10), returned: at(20) }, // another campaign
      ],
    });
    expect(violations).toHaveLength(1);
    expect(violations[0]).toContain('call 1 of campaign 7 was claimed for dialling');
  });
});
