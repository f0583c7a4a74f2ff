// The campaign benchmark's arithmetic (scripts/bench/campaign.ts): the ideal bound, the
// zero-latency dispatcher it is also compared with, and the scaled settings. Pure functions, no
// database, no clock: the bench itself runs with `npm run bench -- --only campaign`.

import { describe, expect, it } from 'vitest';
import { idealBound, scaledTiming, tightestSpan, zeroLatencyMakespan } from '../scripts/bench/campaign.ts';

const calls = (campaign: string, ...ms: number[]) => ms.map((m) => ({ campaign, ms: m }));

describe('campaign bench: the ideal bound', () => {
  it('a cap binds: a campaign needs sum(hold) / cap of time', () => {
    const b = idealBound(calls('a', 1000, 1000, 1000, 1000), { a: 2 }, 1000, 100);
    expect(b).toMatchObject({ boundMs: 2000, binding: 'cap a', longestMs: 1000, meanHoldMs: 1000 });
  });

  it('the rate binds: the k-th request leaves at floor(k / R) s at the earliest, longest calls first', () => {
    // R = 1: requests at 0, 1, 2, 3 s; the best order puts the 5 s call first: max(0 + 5, 1 + 1, 2 + 1, 3 + 1) s.
    expect(idealBound(calls('a', 1000, 5000, 1000, 1000), { a: 100 }, 1000, 1)).toMatchObject({
      boundMs: 5000,
      binding: 'longest call',
      rateMs: 5000,
    });
    expect(idealBound(calls('a', 1000, 1000, 1000, 1000), { a: 100 }, 1000, 1)).toMatchObject({
      boundMs: 4000,
      binding: 'rate',
    });
    // R = 2: two requests in the first second, two in the next.
    expect(idealBound(calls('a', 100, 100, 100, 100), { a: 100 }, 1000, 2).rateMs).toBe(1100);
  });

  it('the largest campaign bound wins, per campaign; the global cap counts every call', () => {
    const b = idealBound([...calls('a', 3000, 3000), ...calls('b', 1000, 1000, 1000, 1000)], { a: 1, b: 4 }, 1000, 1000);
    expect(b.capMs).toEqual({ a: 6000, b: 1000 });
    expect(b).toMatchObject({ boundMs: 6000, binding: 'cap a' });
    expect(idealBound(calls('a', 1000, 1000, 1000, 1000), { a: 10 }, 1, 1000)).toMatchObject({
      boundMs: 4000,
      binding: 'global cap',
    });
  });
});

describe('campaign bench: a zero-latency dispatcher dealt the same calls', () => {
  const one = (cap: number, contacts: number) => [{ name: 'a', cap, contacts }];

  it('refills a freed slot at the instant it frees', () => {
    expect(zeroLatencyMakespan([1000, 1000, 1000, 1000], one(1, 4), 1000)).toBe(4000);
    // Cap 2 at 10 calls/s: 0 and 100 ms, then the slots free at 1000 and 1100 ms.
    expect(zeroLatencyMakespan([1000, 1000, 1000, 1000], one(2, 4), 10)).toBe(2100);
  });

  it('never sends faster than the rate: calls 1000 / R ms apart', () => {
    expect(zeroLatencyMakespan([10, 10, 10, 10], one(100, 4), 1)).toBe(3010);
    expect(zeroLatencyMakespan([10, 10, 10, 10], one(100, 4), 2)).toBe(1510);
  });

  it('deals the lengths in order, to the campaign with the most contacts left per slot', () => {
    const two = [{ name: 'a', cap: 1, contacts: 1 }, { name: 'b', cap: 1, contacts: 2 }];
    // b (2 left per slot) gets the 5 s call, a the next one; b's second call waits for its slot.
    expect(zeroLatencyMakespan([5000, 1000, 1000], two, 1000)).toBe(6000);
  });

  it("stops at the campaigns' contacts", () => {
    expect(zeroLatencyMakespan([1000, 1000, 9000], one(5, 2), 1000)).toBe(1001);
  });
});

describe('campaign bench: scaled settings', () => {
  it('scales the claim window of a tick, not the fixed margins of the dispatcher', () => {
    const t = scaledTiming(10);
    expect(t).toMatchObject({ tickEveryMs: 6000, requestTimeoutMs: 8000, claimWindowMs: 875, backgroundDispatchMs: 9000 });
    // The window plus min(timeout, 1 s) + 250 ms to finish.
    expect(t.tickBudgetMs).toBe(875 + 1000 + 250);
    expect(t.refillIntervalMs).toBe(100);
    expect(scaledTiming(1)).toMatchObject({ tickEveryMs: 60_000, tickBudgetMs: 10_000, requestTimeoutMs: 8000 });
  });
});

describe('campaign bench: the tightest span of R + 1 creates', () => {
  it('is the shortest time from a request to the R-th after it: >= 1000 ms keeps a rate of R', () => {
    // R = 2: spans 0 -> 2 (1030), 515 -> 3 (1010): the second pair is tighter.
    expect(tightestSpan([0, 515, 1030, 1525], 2)).toBe(1010);
    // Three requests in 990 ms would be three in one second at R = 2.
    expect(tightestSpan([0, 500, 990], 2)).toBe(990);
    expect(tightestSpan([0, 500], 2)).toBe(Infinity);
  });
});
