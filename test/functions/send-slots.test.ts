// Send slots to the microsecond. At high rates an account's slots are a fraction of a millisecond
// apart (0.103 ms at 10,000 calls a second with the default margin). The claim loop waits for each
// call's slot by the tick's clock; with slots truncated to whole milliseconds (a Date) and a clock of
// whole milliseconds (Date.now()), the next slot looked a whole millisecond ahead each time its
// truncated value stepped on, and the loop slept for it (measured: about 500 sleeps of 2-3 ms in a
// run of 8,000 calls at concurrency 200). Real parts: the production claim query against the real
// database, and the tick's default clock.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { claimQueuedCalls } from '../../supabase/functions/_shared/queries.ts';
import { preciseNow, slotIntervalMs } from '../../supabase/functions/_shared/dispatch/rate.ts';
import { addContacts, createCampaign } from '../support/builders.ts';
import { minutesAfterNoon } from '../support/clock.ts';
import { newPool, resetData, updateSettings } from '../support/db.ts';
import { launchDueCalls } from '../support/rows.ts';

let admin: pg.Pool;

beforeAll(() => {
  admin = newPool(2);
});

afterAll(async () => {
  await admin?.end();
});

beforeEach(async () => {
  await resetData(admin);
});

describe('send slots', () => {
  it('a claim hands out slots with their sub-millisecond part, a slot interval apart', async () => {
    await updateSettings(admin, { provider_calls_per_second: 10000, rate_margin_ms: 30, global_max_concurrent_calls: 100 });
    const campaign = await createCampaign(admin, { cap: 20 });
    await addContacts(admin, campaign, 20);
    const at = minutesAfterNoon(1);
    await launchDueCalls(admin, at);

    const claimed = await claimQueuedCalls(admin, {
      limit: 20,
      runId: null,
      now: at,
      leaseToken: null,
      horizonMs: 500,
      shiftMs: 0,
      giveBack: [],
    });

    expect(claimed).toHaveLength(20);
    const slots = claimed.map((c) => c.send_at);
    expect(slots.every((s) => typeof s === 'number')).toBe(true);
    const sorted = (slots as number[]).slice().sort((a, b) => a - b);
    // The first slot is the claim's instant (the bucket was idle); each next one an interval later, to
    // the microsecond (a whole-millisecond value would make the gaps 0 or 1 ms).
    expect(sorted[0]).toBe(at.getTime());
    const interval = slotIntervalMs(10000, 30);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!).toBeCloseTo(interval, 3);
    expect(sorted.some((s) => s % 1 !== 0)).toBe(true);
  });
});

describe('the tick clock', () => {
  it('is the wall clock with a fraction of a millisecond, and never behind it', () => {
    const readings: Array<{ before: number; t: number; after: number }> = [];
    for (let i = 0; i < 2000; i++) {
      const before = Date.now();
      const t = preciseNow();
      const after = Date.now();
      readings.push({ before, t, after });
    }
    for (const r of readings) {
      expect(r.t).toBeGreaterThanOrEqual(r.before);
      expect(r.t).toBeLessThan(r.after + 1);
    }
    expect(readings.some((r) => r.t % 1 !== 0)).toBe(true);
  });
});
