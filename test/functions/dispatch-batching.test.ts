// The tick records the provider's answers in batches (record_dispatch_results: one round trip for
// many answers) instead of one round trip per answer. Real parts only: runTick() under Node with
// the Edge Function's pool and Twilio adapter, the Twilio simulator on loopback, the real database.
// What must hold: every answer is recorded as the provider meant it (the counters, the rows and the
// provider agree), nothing is sent twice, and the round trips are far fewer than the answers.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { SqlPool } from '../../supabase/functions/_shared/db.ts';
import type { Logger } from '../../supabase/functions/_shared/log.ts';
import { createPool } from '../../supabase/functions/_shared/pool.ts';
import { runTick, type TickResult } from '../../supabase/functions/_shared/tick.ts';
import { TwilioProvider } from '../../supabase/functions/_shared/twilio.ts';
import { addContacts, createCampaign } from '../support/builders.ts';
import { FAST_SETTINGS, newPool, resetData, testDbUrl, updateSettings } from '../support/db.ts';
import { startSim, type TwilioSimulator } from '../support/functions.ts';
import { dialledTwice } from '../support/invariants.ts';
import { breakerRow, countWhere, runRow } from '../support/rows.ts';

const silent: Logger = { log: () => {}, info: () => {}, warn: () => {}, error: () => {} };

let admin: pg.Pool;
let sim: TwilioSimulator;

beforeAll(async () => {
  admin = newPool(4);
  sim = await startSim({ callbacks: false });
});

afterAll(async () => {
  await sim?.close();
  await admin?.end();
});

beforeEach(async () => {
  sim.reset();
  await resetData(admin);
});

interface Recorded {
  /** Answers per record_dispatch_results() round trip. */
  batches: number[];
  /** Round trips through the one-answer function (record_dispatch_result). */
  single: number;
}

/** One tick under Node, with a pool that notes how answers reach the database. */
async function tickOnce(): Promise<{ result: TickResult; recorded: Recorded }> {
  const pool = createPool(testDbUrl(), 20);
  const recorded: Recorded = { batches: [], single: 0 };
  const watched: SqlPool = {
    query: (text: string, values?: unknown[]) => {
      if (text.includes('record_dispatch_results(')) recorded.batches.push((JSON.parse(String(values?.[1])) as unknown[]).length);
      else if (text.includes('record_dispatch_result(')) recorded.single++;
      return pool.query(text, values);
    },
    connect: () => pool.connect(),
  };
  try {
    const provider = new TwilioProvider({ accountSid: sim.accountSid, authToken: sim.authToken, baseUrl: sim.url });
    const result = await runTick(
      {
        pool: watched,
        provider,
        log: silent,
        statusCallbackUrl: (id) => `http://127.0.0.1:9/functions/v1/call-status?call_id=${id}`,
      },
      { trigger: 'local', budgetMs: 60_000 },
    );
    return { result, recorded };
  } finally {
    await pool.end();
  }
}

describe('batched recording of provider answers', () => {
  it('400 accepted calls: every answer recorded with its provider call id, in a few dozen round trips', async () => {
    await updateSettings(admin, {
      ...FAST_SETTINGS,
      // The rate out of the way (slots 0.15 ms apart), so answers come back together and fill batches.
      // At FAST_SETTINGS' 1,000 per second the sends are 1.5 ms apart and the 5 ms flush delay holds
      // about 4 answers: ~100 round trips, whatever the batch size.
      provider_calls_per_second: 10000,
      global_max_concurrent_calls: 1000,
      dispatch_concurrency: 40,
      dispatch_batch_size: 20,
    });
    const campaign = await createCampaign(admin, { cap: 400 });
    await addContacts(admin, campaign, 400);

    const { result, recorded } = await tickOnce();

    expect(result).toMatchObject({
      status: 'ok',
      reserved: 400,
      launched: 400,
      failed: 0,
      unknown: 0,
      breaker: 'closed',
    });
    // A claim that comes back later than the lateness a send may have (a stalled machine) puts its
    // calls back unsent (requeued, one round trip) and they go out later in the tick: not sent twice.
    const putBack = result.requeued;
    expect(sim.stats().created).toBe(400);
    expect(dialledTwice(sim)).toEqual([]);
    expect(
      await countWhere(
        admin,
        'public.calls',
        `status = 'dialing' and provider_call_id is not null and provider_accepted_at is not null`,
      ),
    ).toBe(400);
    expect((await runRow(admin, result.runId!)).calls_launched).toBe(400);
    expect(await breakerRow(admin)).toMatchObject({ state: 'closed', consecutive_failures: 0 });

    // Every answer went through a batch, none on its own; a batch never exceeds dispatch_batch_size.
    expect(recorded.single).toBe(0);
    expect(recorded.batches.reduce((a, b) => a + b, 0)).toBe(400 + putBack);
    expect(Math.max(...recorded.batches)).toBeLessThanOrEqual(20);
    expect(recorded.batches.length).toBeLessThan(400 / 4);
  });

  it('a mix of answers (accepted, invalid number, 503, 500): each recorded as the provider meant it, nothing sent twice', async () => {
    await updateSettings(admin, {
      ...FAST_SETTINGS,
      global_max_concurrent_calls: 1000,
      dispatch_concurrency: 30,
      dispatch_batch_size: 25,
      breaker_failure_threshold: 1000, // this test is about recording, not about the breaker
    });
    sim.setFaults({
      rate503: 0.1,
      retryAfterSeconds503: 30,
      rate500: 0.05,
      numbers: [{ match: '*3', field: 'To', reject: { code: 21217, message: 'Phone number is not a valid phone number' } }],
    });
    const campaign = await createCampaign(admin, { cap: 300 });
    await addContacts(admin, campaign, 300);

    const { result, recorded } = await tickOnce();

    // Some of each, and every call accounted for exactly once.
    expect(result.launched).toBeGreaterThan(0);
    expect(result.failed).toBeGreaterThan(0);
    expect(result.unknown).toBeGreaterThan(0);
    expect(result.requeued).toBeGreaterThan(0);
    // 503: back in the queue after the provider's Retry-After, the attempt given back. The other
    // requeued calls were put back unsent by a claim that came back after their slots (a stalled
    // machine) and went out later in the same tick.
    const after503 = await countWhere(
      admin,
      'public.calls',
      `status = 'queued' and dispatch_after > now() + interval '20 seconds' and error_code = '20503'`,
    );
    const putBack = result.requeued - after503;
    expect(putBack).toBeGreaterThanOrEqual(0);
    expect(result.launched + result.failed + result.unknown + after503).toBe(300);
    expect(recorded.batches.reduce((a, b) => a + b, 0)).toBe(300 + putBack);
    expect(recorded.single).toBe(0);

    // The database says what the tick counted.
    expect(await countWhere(admin, 'public.calls', `status = 'dialing' and provider_call_id is not null`)).toBe(result.launched);
    expect(await countWhere(admin, 'public.calls', `status = 'failed' and error_code = '21217'`)).toBe(result.failed);
    expect(await countWhere(admin, 'public.contacts', `status = 'invalid'`)).toBe(result.failed);
    expect(await countWhere(admin, 'public.calls', `status = 'unknown' and provider_call_id is null`)).toBe(result.unknown);
    expect(after503).toBeGreaterThan(0);
    expect(await countWhere(admin, 'public.contacts', `attempts = 0`)).toBe(after503);

    // The provider: a 500 may have created the call (never re-sent), a 503 did not; nobody twice.
    const stats = sim.stats();
    expect(stats.created).toBe(result.launched + result.unknown);
    expect(stats.createRequests).toBe(300);
    expect(dialledTwice(sim)).toEqual([]);
    // Failures (500s, 503s) counted against the breaker, successes reset it: never near 1000.
    expect((await breakerRow(admin))?.state).toBe('closed');
  });
});
