// The parts dispatch is made of, each alone, with an injected clock and fakes for the database and
// the provider: the rate helpers (slot spacing, claim horizon, 429 hold), the result batcher, the breaker gate, what an answer
// means (outcomeEffect / requeueRows) and the claim loop. End-to-end behaviour is covered by
// scheduler-tick.test.ts, dispatch-faults.test.ts and dispatch-batching.test.ts.

import { describe, expect, it } from 'vitest';
import { claimHorizonMs, RateHold, slotIntervalMs } from '../../supabase/functions/_shared/dispatch/rate.ts';
import { ResultBatcher } from '../../supabase/functions/_shared/dispatch/result-batcher.ts';
import { BreakerGates } from '../../supabase/functions/_shared/dispatch/breaker-gate.ts';
import { isConfigurationFailure, outcomeEffect, requeueRows } from '../../supabase/functions/_shared/dispatch/outcome.ts';
import {
  CLAIM_AHEAD_MS,
  CLAIM_GATHER_MS,
  CLAIM_SHIFT_MAX_MS,
  CLAIM_SHIFT_MS,
  type ClaimLoopOptions,
  NO_PLACE_IN_TIME,
  runClaimLoop,
} from '../../supabase/functions/_shared/dispatch/claim-loop.ts';
import type { ClaimedCall, DispatchPermit } from '../../supabase/functions/_shared/queries.ts';

const call = (id: number, release: string | null = null): ClaimedCall => ({
  call_id: String(id),
  campaign_id: '1',
  contact_id: String(id),
  attempt: 1,
  to_phone: '+15550100000',
  caller_id: '+15550199999',
  provider: 'twilio',
  provider_settings: {},
  release_reason: release,
  provider_account: 'default',
  send_at: null,
  contact_name: null,
  account_sid: null,
  bucket_until: null,
});

/** A manual clock: sleep() moves it forward at once. */
function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
    sleep: async (ms: number) => {
      t += Math.max(0, ms);
    },
  };
}

describe('rate helpers (the bucket itself is in the database: claim_queued_calls)', () => {
  it('spaces slots (1000 + margin) / cps apart, so a one-second window keeps the margin', () => {
    expect(slotIntervalMs(1, 30)).toBe(1030);
    expect(slotIntervalMs(10, 0)).toBe(100);
    // r slots span r * interval = 1000 + margin ms: the (r+1)-th never falls in the same second.
    expect(10 * slotIntervalMs(10, 30)).toBeCloseTo(1030, 6);
  });

  it('claims half a second ahead, or one slot and a quarter of a second at slow rates', () => {
    expect(claimHorizonMs(100, 30)).toBe(500);
    expect(claimHorizonMs(1, 30)).toBe(1280);
    expect(claimHorizonMs(0.5, 0)).toBe(2250);
  });

  it('a 429 holds sends back, never moving the hold earlier', () => {
    const h = new RateHold();
    expect(h.until).toBe(0);
    h.holdUntil(5000);
    h.holdUntil(10);
    expect(h.until).toBe(5000);
  });
});

describe('ResultBatcher', () => {
  function fakeTimers() {
    const timers: Array<{ fn: () => void; ms: number; cleared: boolean }> = [];
    return {
      timers,
      setTimer: (fn: () => void, ms: number) => {
        const t = { fn, ms, cleared: false };
        timers.push(t);
        return t;
      },
      clearTimer: (h: unknown) => {
        (h as { cleared: boolean }).cleared = true;
      },
      fire: () => {
        for (const t of timers.splice(0)) if (!t.cleared) t.fn();
      },
    };
  }

  it('writes a full batch in one round trip and applies the answers in order', async () => {
    const writes: number[][] = [];
    const applied: Array<[number, string]> = [];
    const timers = fakeTimers();
    const b = new ResultBatcher<number, string>({
      batchSize: 3,
      flushDelayMs: 5,
      write: async (rows) => {
        writes.push(rows);
        return rows.map((r) => `s${r}`);
      },
      applied: (row, answer) => applied.push([row, answer!]),
      urgent: () => false,
      ...timers,
    });
    await Promise.all([b.add(1), b.add(2), b.add(3)]);
    expect(writes).toEqual([[1, 2, 3]]);
    expect(applied).toEqual([[1, 's1'], [2, 's2'], [3, 's3']]);
    expect(timers.timers.every((t) => t.cleared)).toBe(true);
  });

  it('waits at most flushDelayMs for others, and writes urgent rows at once', async () => {
    const writes: number[][] = [];
    const timers = fakeTimers();
    const b = new ResultBatcher<number, null>({
      batchSize: 10,
      flushDelayMs: 5,
      write: async (rows) => {
        writes.push(rows);
        return rows.map(() => null);
      },
      urgent: (row) => row < 0,
      ...timers,
    });
    const first = b.add(1);
    const second = b.add(2);
    expect(writes).toEqual([]);
    expect(timers.timers.map((t) => t.ms)).toEqual([5]);
    expect(b.size).toBe(2);
    timers.fire();
    await Promise.all([first, second]);
    expect(writes).toEqual([[1, 2]]);
    await b.add(-1);
    expect(writes).toEqual([[1, 2], [-1]]);
  });

  it('rejects every answer of a batch whose write fails, and flush() with nothing waiting does nothing', async () => {
    let calls = 0;
    const b = new ResultBatcher<number, null>({
      batchSize: 2,
      flushDelayMs: 5,
      write: async () => {
        calls++;
        throw new Error('connection lost');
      },
      urgent: () => false,
      ...fakeTimers(),
    });
    const results = await Promise.allSettled([b.add(1), b.add(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    b.flush();
    expect(calls).toBe(1);
  });
});

describe('BreakerGates (one per provider account)', () => {
  it("asks each account once; a probe lets exactly one call out; answers close or open it; the worst state is the run's", async () => {
    const asked: string[] = [];
    const permits: Record<string, DispatchPermit> = { a: 'probe', b: 'closed' };
    const opened: Array<[string, string | null]> = [];
    const gates = new BreakerGates(async (account) => {
      asked.push(account);
      return permits[account]!;
    }, (account, reason) => opened.push([account, reason]));
    expect(await gates.admit('a')).toEqual({ send: true, probe: true });
    expect(gates.probing).toBe(true);
    expect(gates.state).toBe('half_open');
    expect(await gates.admit('a')).toEqual({ send: false, reason: 'not sent: a circuit breaker probe is in flight' });
    expect(await gates.admit('b')).toEqual({ send: true, probe: false });
    expect(await gates.admit('b')).toEqual({ send: true, probe: false });
    expect(asked).toEqual(['a', 'b']); // once per account
    gates.note('a', 'closed', null); // the probe succeeded
    expect(gates.probing).toBe(false);
    expect(await gates.admit('a')).toEqual({ send: true, probe: false });
    expect(gates.state).toBe('closed');
    gates.note('b', 'open', 'HTTP 500');
    gates.note('b', 'open', 'HTTP 500 again');
    expect(gates.opened('b')).toBe(true);
    expect(gates.opened('a')).toBe(false);
    expect(await gates.admit('b')).toEqual({ send: false, reason: 'not sent: circuit breaker opened' });
    expect(await gates.admit('a')).toEqual({ send: true, probe: false }); // the other account goes on
    expect(opened).toEqual([['b', 'HTTP 500']]); // reported once
    expect(gates.state).toBe('open');
  });

  it('an account found open sends nothing', async () => {
    const gates = new BreakerGates(async () => 'open', () => undefined);
    expect(await gates.admit('x')).toEqual({ send: false, reason: 'not sent: circuit breaker open' });
    expect(gates.state).toBe('open');
  });
});

describe('outcomeEffect / requeueRows', () => {
  const at = Date.parse('2026-11-29T12:00:00Z');

  it('accepted: launched, with the provider call id and a breaker success', () => {
    const e = outcomeEffect(call(7), { kind: 'accepted', providerCallId: 'CA1', status: 'queued' }, at, 100);
    expect(e).toEqual({
      row: {
        call_id: '7',
        outcome: 'accepted',
        provider_call_id: 'CA1',
        status: 'queued',
        at: '2026-11-29T12:00:00.000Z',
        breaker_success: true,
        breaker_reason: null,
      },
      count: 'launched',
      rateLimitedForMs: null,
      error: null,
    });
  });

  it('429: requeued after Retry-After, holds the sends back, says nothing about the breaker', () => {
    const e = outcomeEffect(call(7), { kind: 'retryable', reason: 'HTTP 429', httpStatus: 429, retryAfterMs: 3000 }, at, 100);
    expect(e.count).toBe('requeued');
    expect(e.rateLimitedForMs).toBe(3000);
    expect(e.row.retry_at).toBe('2026-11-29T12:00:03.000Z');
    expect(e.row).not.toHaveProperty('breaker_success');
  });

  it('503: requeued after two intervals (at least a second), counted against the breaker', () => {
    const e = outcomeEffect(call(7), { kind: 'retryable', reason: 'HTTP 503', httpStatus: 503 }, at, 100);
    expect(e.rateLimitedForMs).toBeNull();
    expect(e.row.retry_at).toBe('2026-11-29T12:00:01.000Z');
    expect(e.row.breaker_success).toBe(false);
  });

  it('permanent: failed; the provider is healthy unless it refused our credentials or endpoint', () => {
    const bad = outcomeEffect(
      call(7),
      { kind: 'permanent', reason: 'invalid number', code: '21211', httpStatus: 400, invalidNumber: true },
      at,
      100,
    );
    expect(bad.count).toBe('failed');
    expect(bad.row).toMatchObject({ invalid_number: true, error_code: '21211', breaker_success: true });
    expect(bad.error).toEqual({ message: 'invalid number', code: '21211' });
    const creds = outcomeEffect(
      call(7),
      { kind: 'permanent', reason: 'HTTP 401', httpStatus: 401, invalidNumber: false },
      at,
      100,
    );
    expect(creds.row.breaker_success).toBe(false);
    expect([301, 401, 403, 404].map(isConfigurationFailure)).toEqual([true, true, true, true]);
    expect([400, 429, 500, undefined].map(isConfigurationFailure)).toEqual([false, false, false, false]);
  });

  it('unknown: never re-sent, counted against the breaker', () => {
    const e = outcomeEffect(call(7), { kind: 'unknown', reason: 'timeout' }, at, 100);
    expect(e.count).toBe('unknown');
    expect(e.row).toMatchObject({ outcome: 'unknown', reason: 'timeout', breaker_success: false });
  });

  it('requeue rows: retryable, due now, no breaker bookkeeping', () => {
    expect(requeueRows([call(1), call(2)], 'not sent', at)).toEqual([
      {
        call_id: '1',
        outcome: 'retryable',
        reason: 'not sent',
        retry_at: '2026-11-29T12:00:00.000Z',
        at: '2026-11-29T12:00:00.000Z',
      },
      {
        call_id: '2',
        outcome: 'retryable',
        reason: 'not sent',
        retry_at: '2026-11-29T12:00:00.000Z',
        at: '2026-11-29T12:00:00.000Z',
      },
    ]);
  });
});

describe('runClaimLoop', () => {
  function loop(queue: ClaimedCall[], over: Partial<ClaimLoopOptions> & { permits?: DispatchPermit[] } = {}) {
    const c = clock();
    const permits = over.permits ?? ['closed'];
    const gates = new BreakerGates(async () => permits.shift() ?? 'open', () => undefined);
    const claims: number[] = [];
    const sent: string[] = [];
    const unclaimed: Array<{ ids: string[]; reason: string }> = [];
    let released = 0;
    let deadline = false;
    let drained = 0;
    let maxInflight = 0;
    let inflight = 0;
    const opts: ClaimLoopOptions = {
      concurrency: 4,
      batchSize: 10,
      claimStopMs: c.now() + 60_000,
      horizonMs: 1000,
      maxLatenessMs: 15,
      now: c.now,
      sleep: c.sleep,
      hold: new RateHold(),
      gates,
      claim: async (want) => {
        claims.push(want);
        return queue.splice(0, want);
      },
      queuedDue: async () => false,
      idle: async (inFlight, waitForAnswer) => {
        if (inFlight === 0) return false;
        await waitForAnswer();
        return true;
      },
      send: async (x) => {
        inflight++;
        maxInflight = Math.max(maxInflight, inflight);
        sent.push(x.call_id);
        await Promise.resolve();
        c.advance(10);
        inflight--;
      },
      unclaim: async (calls, reason) => {
        unclaimed.push({ ids: calls.map((x) => x.call_id), reason });
      },
      onReleased: (n) => {
        released += n;
      },
      onDeadline: () => {
        deadline = true;
      },
      beforeDrain: () => {
        drained++;
      },
      ...over,
    };
    return {
      run: async () => {
        await runClaimLoop(opts);
      },
      gates,
      c,
      get: () => ({ claims, sent, unclaimed, released, deadline, drained, maxInflight }),
    };
  }

  it('sends every queued call once, never more than the concurrency at a time, and counts released rows', async () => {
    const queue = [call(1), call(2, 'campaign paused'), ...Array.from({ length: 10 }, (_, i) => call(i + 3))];
    const l = loop(queue);
    await l.run();
    const g = l.get();
    expect(g.sent).toEqual(Array.from({ length: 11 }, (_, i) => String(i === 0 ? 1 : i + 2)));
    expect(g.released).toBe(1);
    expect(g.maxInflight).toBeLessThanOrEqual(4);
    expect(g.claims.every((n) => n <= 4)).toBe(true);
    expect(g.deadline).toBe(false);
    expect(g.drained).toBe(1);
  });

  it('while probing sends the probe alone and puts the other calls of its account back', async () => {
    const l = loop(Array.from({ length: 3 }, (_, i) => call(i + 1)), { permits: ['probe'] });
    await l.run();
    expect(l.get().sent).toEqual(['1']);
    expect(l.get().unclaimed).toEqual([{ ids: ['2', '3'], reason: 'not sent: a circuit breaker probe is in flight' }]);
  });

  it('goes on after a probe that closed the breaker', async () => {
    const queue = Array.from({ length: 5 }, (_, i) => call(i + 1));
    const l = loop(queue.splice(0, 1), {
      permits: ['probe'],
      send: async (x) => {
        l.gates.note('default', 'closed', null);
        sentIds.push(x.call_id);
        queue.length > 0 && l.c.advance(1);
      },
      claim: async (want) => (sentIds.length === 0 ? [call(1)] : queue.splice(0, want)),
    });
    const sentIds: string[] = [];
    await l.run();
    expect(sentIds).toEqual(['1', '2', '3', '4', '5']);
  });

  it('puts claimed calls back when the breaker opens before they are sent', async () => {
    const l = loop(Array.from({ length: 4 }, (_, i) => call(i + 1)), {
      send: async () => {
        l.gates.note('default', 'open', 'HTTP 500');
      },
    });
    await l.run();
    expect(l.get().unclaimed).toEqual([{ ids: ['2', '3', '4'], reason: 'not sent: circuit breaker opened' }]);
  });

  it("sends each call at its slot, lets a late one shift the later slots within the claim's shift, and gives up a slot missed by more", async () => {
    const t0 = 1_000_000; // the fake clock's start
    const at = (id: number, ms: number) => ({ ...call(id), send_at: t0 + ms });
    // One claim of five slots 100 ms apart; the claim asks for the most shift (nothing known yet).
    const queue = [at(1, 0), at(2, 100), at(3, 200), at(4, 300), at(5, 400)];
    const sentAt: Array<[string, number]> = [];
    const l2 = loop(queue, {
      concurrency: 5,
      send: async (x) => {
        sentAt.push([x.call_id, l2.c.now() - t0]);
        // Sending call 2 takes 160 ms: call 3 is 60 ms late, within the shift, and it shifts calls 4
        // and 5 by as much. Sending call 4 takes the shift + 60 ms: call 5 is then the shift + 20 ms
        // behind its slot, past the claim's shift by more than the 15 ms a send may be late.
        if (x.call_id === '2') l2.c.advance(160);
        if (x.call_id === '4') l2.c.advance(CLAIM_SHIFT_MS + 60);
      },
    });
    await l2.run();
    expect(sentAt).toEqual([['1', 0], ['2', 100], ['3', 260], ['4', 360]]);
    expect(l2.get().unclaimed).toEqual([{ ids: ['5'], reason: 'not sent: its rate slot was missed' }]);
  });

  it('sleeps again when a timer wakes early: no call goes out a millisecond or more before its slot', async () => {
    const t0 = 1_000_000; // the fake clock's start
    const queue = [0, 100, 200, 300].map((ms, i) => ({ ...call(i + 1), send_at: t0 + ms + 0.4 }));
    const sentAt: number[] = [];
    const wakes: number[] = [];
    const l = loop(queue, {
      concurrency: 4,
      // Every timer wakes 1.7 ms early (at least 0.5 ms after it was set).
      sleep: async (ms) => {
        const slept = Math.max(0.5, ms - 1.7);
        wakes.push(slept);
        l.c.advance(slept);
      },
      send: async (x) => {
        sentAt.push(l.c.now() - x.send_at!);
      },
    });
    await l.run();
    expect(sentAt).toHaveLength(4);
    for (const early of sentAt) expect(early).toBeGreaterThan(-1);
    // The early wakes were followed by more sleep.
    expect(wakes.filter((ms) => ms === 0.5).length).toBeGreaterThan(0);
  });

  it('hands the shift a claim did not use back with the next claim, for each account', async () => {
    const t0 = 1_000_000;
    const slot = (id: number, account: string, ms: number, until: string) => ({
      ...call(id),
      provider_account: account,
      send_at: t0 + ms,
      bucket_until: until,
    });
    const claims: Array<{ shiftMs: number; giveBack: unknown }> = [];
    const batches = [
      [slot(1, 'a', 0, 'A1'), slot(2, 'b', 0, 'B1'), slot(3, 'a', 10, 'A1')],
      [slot(4, 'a', 200, 'A2')],
    ];
    const l = loop([], {
      concurrency: 10,
      permits: ['closed', 'closed'],
      claim: async (_want, _t, _horizon, shiftMs, giveBack) => {
        claims.push({ shiftMs, giveBack });
        const batch = batches.shift() ?? [];
        if (claims.length === 1) l.c.advance(30); // the first answer comes 30 ms after the claim
        return batch;
      },
    });
    await l.run();
    expect(l.get().sent).toEqual(['1', '2', '3', '4']);
    // The answer to the first claim came 30 ms after it and each send takes 10 ms (the
    // fake's), so call 1 went out at 30 ms, call 2 (b) at 40 ms, call 3 (a, slot 10) at 50 ms: each
    // account used 40 ms of the shift, and the second claim hands the rest back.
    expect(claims[0]).toEqual({ shiftMs: CLAIM_SHIFT_MS, giveBack: [] });
    expect(claims[1]!.giveBack).toEqual([
      { account: 'a', until: 'A1', ms: CLAIM_SHIFT_MS - 40 },
      { account: 'b', until: 'B1', ms: CLAIM_SHIFT_MS - 40 },
    ]);
    expect(claims[1]!.shiftMs).toBe(CLAIM_SHIFT_MS);
    // Call 4's slot was in the future: waited for, no shift used, all of it handed back.
    expect(claims[2]!.giveBack).toEqual([{ account: 'a', until: 'A2', ms: CLAIM_SHIFT_MS }]);
  });

  it('asks for twice the shift after a claim that missed a slot, and a tenth less after each that missed none', async () => {
    const t0 = 1_000_000;
    const slot = (id: number, ms: number) => ({ ...call(id), send_at: t0 + ms, bucket_until: `U${id}` });
    const shifts: number[] = [];
    // Claim 1: sending call 1 takes the shift + 60 ms, so call 2 (slot 10 ms) misses its slot by more
    // than the 15 ms a send may be late. Claims 2 and 3 meet their slots (ahead of the clock).
    const batches = [[slot(1, 0), slot(2, 10)], [slot(3, 600)], [slot(4, 900)]];
    const l = loop([], {
      concurrency: 10,
      permits: ['closed', 'closed', 'closed'],
      claim: async (_want, _t, _horizon, shiftMs) => {
        shifts.push(shiftMs);
        return batches.shift() ?? [];
      },
      send: async (x) => {
        if (x.call_id === '1') l.c.advance(CLAIM_SHIFT_MS + 60);
      },
    });
    await l.run();
    expect(l.get().unclaimed).toEqual([{ ids: ['2'], reason: 'not sent: its rate slot was missed' }]);
    expect(shifts.slice(0, 4)).toEqual([
      CLAIM_SHIFT_MS,
      Math.min(CLAIM_SHIFT_MAX_MS, 2 * CLAIM_SHIFT_MS),
      Math.round(Math.min(CLAIM_SHIFT_MAX_MS, 2 * CLAIM_SHIFT_MS) * 0.9),
      Math.max(CLAIM_SHIFT_MS, Math.round(Math.round(Math.min(CLAIM_SHIFT_MAX_MS, 2 * CLAIM_SHIFT_MS) * 0.9) * 0.9)),
    ]);
  });

  it('waits and claims again while due calls are held back by the rate bucket', async () => {
    let claimsMade = 0;
    const l = loop([], {
      claim: async () => (++claimsMade < 3 ? [] : claimsMade === 3 ? [call(7)] : []),
      queuedDue: async () => claimsMade < 3,
    });
    const t0 = l.c.now();
    await l.run();
    expect(l.get().sent).toEqual(['7']);
    expect(l.c.now() - t0).toBeGreaterThanOrEqual(200); // two waits of RATE_RETRY_MS on the fake clock
  });

  it('holds everything back after a 429 until the hold ends', async () => {
    const hold = new RateHold();
    const sent: string[] = [];
    const l = loop([call(1), call(2)], {
      hold,
      concurrency: 1,
      batchSize: 1,
      send: async (x) => {
        sent.push(x.call_id);
        if (x.call_id === '1') hold.holdUntil(l.c.now() + 3000);
      },
    });
    const t0 = l.c.now();
    await l.run();
    expect(sent).toEqual(['1', '2']);
    expect(l.c.now() - t0).toBeGreaterThanOrEqual(3000);
  });

  it('stops claiming at the claim deadline', async () => {
    const l = loop([call(1)], {});
    l.c.advance(60_000);
    await l.run();
    expect(l.get().deadline).toBe(true);
    expect(l.get().claims).toEqual([]);
    expect(l.get().drained).toBe(1);
  });

  it('claims a free place within CLAIM_GATHER_MS when answers come slowly, and gathers a quarter of the concurrency when they come fast', async () => {
    // 8 places: a claim waits for 2 free ones, or for CLAIM_GATHER_MS after the first. Requests
    // usually take a second here, so none in flight is about to be answered (no claiming ahead).
    const queue = Array.from({ length: 30 }, (_, i) => call(i + 1));
    const answer = new Map<string, () => void>();
    let answerAll = false;
    const claimedAt: Array<[number, number]> = [];
    const l = loop(queue, {
      concurrency: 8,
      claim: async (want) => {
        claimedAt.push([want, l.c.now()]);
        return queue.splice(0, want);
      },
      // Each request stays out until the test answers it.
      send: (x) => {
        sentIds.push(x.call_id);
        return answerAll ? Promise.resolve() : new Promise<void>((resolve) => answer.set(x.call_id, resolve));
      },
    });
    const sentIds: string[] = [];
    const run = l.run();
    const settle = () => new Promise((r) => setTimeout(r, 0));
    const answerIds = async (ids: string[]) => {
      for (const id of ids) answer.get(id)!();
      await settle();
    };
    await settle();
    expect(claimedAt).toEqual([[8, 1_000_000]]);
    // All eight answered a second later: a whole free concurrency, claimed at once.
    l.c.advance(1000);
    await answerIds(['1', '2', '3', '4', '5', '6', '7', '8']);
    expect(claimedAt.map(([want]) => want)).toEqual([8, 8]);
    // One answer 100 ms later: one place free, less than a quarter of the concurrency; it is claimed
    // once CLAIM_GATHER_MS have passed (on the fake clock) rather than left idle until another answer.
    l.c.advance(100);
    const answeredAt = l.c.now();
    await answerIds(['9']);
    expect(claimedAt.map(([want]) => want)).toEqual([8, 8, 1]);
    expect(claimedAt[2]![1] - answeredAt).toBe(CLAIM_GATHER_MS);
    // Two answers at once: a quarter of the concurrency, claimed together without waiting.
    await answerIds(['10', '11']);
    expect(claimedAt.map(([want]) => want)).toEqual([8, 8, 1, 2]);
    expect(claimedAt[3]![1]).toBe(claimedAt[2]![1]);
    answerAll = true;
    for (const resolve of answer.values()) resolve();
    await run;
    expect(sentIds).toEqual(Array.from({ length: 30 }, (_, i) => String(i + 1)));
  });

  /** A loop whose requests stay out until the test answers them; notes each claim's size, free places and shift. */
  function heldLoop(queue: ClaimedCall[], concurrency: number) {
    const answer = new Map<string, () => void>();
    const sentIds: string[] = [];
    let inflight = 0;
    let maxInflight = 0;
    const claims: Array<{ want: number; free: number; shiftMs: number }> = [];
    const l = loop(queue, {
      concurrency,
      batchSize: 50,
      claim: async (want, _t, _h, shiftMs) => {
        claims.push({ want, free: concurrency - inflight, shiftMs });
        return queue.splice(0, want);
      },
      send: (x) => {
        sentIds.push(x.call_id);
        inflight++;
        maxInflight = Math.max(maxInflight, inflight);
        return new Promise<void>((resolve) =>
          answer.set(x.call_id, () => {
            inflight--;
            resolve();
          })
        );
      },
    });
    const settle = () => new Promise((r) => setTimeout(r, 0));
    /** Answers the requests out now, or the first n of them. */
    const answerOut = async (n = Infinity) => {
      for (const id of sentIds) {
        if (n <= 0) break;
        const resolve = answer.get(id);
        if (resolve) {
          answer.delete(id);
          resolve();
          n--;
        }
      }
      await settle();
    };
    return { l, claims, sentIds, answerOut, settle, maxInflight: () => maxInflight };
  }

  /**
   * Sends 1-10, answered 80 ms later (the usual duration then; 100 answers a second over the last
   * 100 ms), then 11-20, and 30 ms later answers one of them.
   */
  async function claimAheadOnce(h: ReturnType<typeof heldLoop>) {
    await h.settle();
    h.l.c.advance(80);
    await h.answerOut();
    h.l.c.advance(80 - CLAIM_AHEAD_MS + 10); // 30 ms: the others are due within CLAIM_AHEAD_MS
    await h.answerOut(1);
  }

  it('claims ahead for the places of requests about to be answered, and a call claimed ahead waits for a place', async () => {
    const queue = Array.from({ length: 40 }, (_, i) => call(i + 1));
    const h = heldLoop(queue, 10);
    const run = h.l.run();
    await claimAheadOnce(h);
    // The first claims: the free places only (nothing answered yet; then nothing in flight).
    expect(h.claims.slice(0, 2)).toEqual([
      { want: 10, free: 10, shiftMs: CLAIM_SHIFT_MS },
      { want: 10, free: 10, shiftMs: CLAIM_SHIFT_MS },
    ]);
    // One answer 30 ms after 11-20 went out, with requests usually answered in 80 ms and answers
    // coming at 110 a second: the other nine are due within CLAIM_AHEAD_MS, and the claim takes calls
    // for their places too.
    expect(h.claims[2]).toEqual({ want: 10, free: 1, shiftMs: CLAIM_SHIFT_MS });
    expect(h.sentIds).toHaveLength(21);
    // The next answer: a call claimed ahead goes out at once, without a claim.
    await h.answerOut(1);
    expect(h.sentIds).toHaveLength(22);
    expect(h.claims).toHaveLength(3);
    for (let i = 0; i < 10 && h.sentIds.length < 40; i++) await h.answerOut();
    await h.answerOut();
    await run;
    expect(h.sentIds).toEqual(Array.from({ length: 40 }, (_, i) => String(i + 1)));
    expect(h.maxInflight()).toBeLessThanOrEqual(10);
    expect(h.l.get().unclaimed).toEqual([]);
  });

  it('puts a call claimed ahead back when no place frees before its slot passes, and asks for no more shift for it', async () => {
    const queue = Array.from({ length: 30 }, (_, i) => call(i + 1));
    const h = heldLoop(queue, 10);
    const run = h.l.run();
    await claimAheadOnce(h);
    // 21 went out; 22-30 (claimed ahead) wait for places. The next place frees later than the shift
    // and the lateness a send may have (15 ms here).
    expect(h.sentIds).toHaveLength(21);
    h.l.c.advance(CLAIM_SHIFT_MS + 20);
    await h.answerOut(1);
    for (let i = 0; i < 10; i++) await h.answerOut();
    await run;
    // Call 22 gave its slot up; 23 (its slot taken after that wait) went out in its place.
    expect(h.l.get().unclaimed).toEqual([{ ids: ['22'], reason: NO_PLACE_IN_TIME }]);
    expect(h.sentIds).not.toContain('22');
    expect(h.sentIds).toHaveLength(29);
    // Not a missed slot: the next claims asked for the same shift.
    expect(h.claims.every((c) => c.shiftMs === CLAIM_SHIFT_MS)).toBe(true);
  });

  it('drains the requests in flight even when a claim fails', async () => {
    let n = 0;
    const answered: string[] = [];
    const l = loop(Array.from({ length: 8 }, (_, i) => call(i + 1)), {
      claim: async (want) => {
        if (n++ > 0) throw new Error('connection lost');
        return Array.from({ length: want }, (_, i) => call(i + 1));
      },
      send: async (x) => {
        await new Promise((r) => setTimeout(r, 5));
        answered.push(x.call_id);
      },
    });
    await expect(l.run()).rejects.toThrow('connection lost');
    expect(answered).toEqual(['1', '2', '3', '4']);
    expect(l.get().drained).toBe(1);
  });
});
