// The provider's rate, as the dispatcher sees it. The bucket itself is in the database
// (provider_accounts.next_send_at, handed out by claim_queued_calls as each call's send slot), shared
// by every dispatcher; this module keeps only what one dispatcher learns on its own: a provider's 429
// (Retry-After) holds it back at once, before the answer is recorded (which also holds the bucket
// back for everyone), the claim horizon, and the clock that slots are kept by.

/** preciseNow()'s wall clock less the monotonic clock, re-anchored when they part by a millisecond. */
let clockOffset = Date.now() - performance.now();

/**
 * The wall clock in milliseconds with its fraction: a clock for send slots. Date.now() has whole
 * milliseconds, and slots at high rates are a fraction of one apart (0.103 ms at 10,000 calls a
 * second): kept by Date.now(), the next call's slot looked a whole millisecond ahead whenever its
 * truncated value stepped on before the clock did, and the claim loop slept 1 ms (2-3 ms on a busy
 * event loop) about once every ten calls. This clock follows Date.now() (it re-anchors on it when
 * the two part by a millisecond, e.g. after the system clock was set) and adds the monotonic
 * clock's sub-millisecond part.
 */
export function preciseNow(): number {
  const wall = Date.now();
  let t = clockOffset + performance.now();
  if (t < wall || t >= wall + 1) {
    clockOffset = wall - performance.now();
    t = wall;
  }
  return t;
}

/**
 * Sleeps until `now()` is less than `slackMs` before `at` (0: until it has passed `at`). A timer
 * may wake a millisecond or two early (it counts from the event loop's cached clock), so it sleeps
 * again: three sleeps at most (a sleep that does not move the clock cannot hold it for ever), and
 * `maxMs` in all. `wholeMs`: each sleep rounded up to a whole millisecond. Returns the time it slept
 * for, as asked of `sleep`.
 */
export async function sleepUntil(
  at: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
  opts: { slackMs?: number; maxMs?: number; wholeMs?: boolean } = {},
): Promise<number> {
  const slack = opts.slackMs ?? 0;
  const max = opts.maxMs ?? Number.POSITIVE_INFINITY;
  let slept = 0;
  for (let i = 0, left = at - now(); left > 0 && left >= slack && i < 3 && slept < max; i++, left = at - now()) {
    const ms = Math.min(opts.wholeMs ? Math.ceil(left) : left, max - slept);
    await sleep(ms);
    slept += ms;
  }
  return slept;
}

/** Time between two sends of an account at `callsPerSecond`, with the margin every one-second window keeps. */
export function slotIntervalMs(callsPerSecond: number, rateMarginMs: number): number {
  return (1000 + rateMarginMs) / callsPerSecond;
}

/**
 * How far ahead a claim takes send slots: half a second, and at least one slot plus a quarter of a
 * second at the default rate, so a claim made right after a send still finds the next slot (for an
 * account slower than that, claim_queued_calls stretches the horizon to one of its slots). Short,
 * because a claimed call waits for its slot: the dial-time checks (paused campaign, do-not-call,
 * calling hours) were made at the claim.
 */
export function claimHorizonMs(callsPerSecond: number, rateMarginMs: number): number {
  return Math.max(500, Math.ceil(slotIntervalMs(callsPerSecond, rateMarginMs) + 250));
}

/** Nothing goes out before `until` (the provider rate-limited us). */
export class RateHold {
  until = 0;

  holdUntil(until: number): void {
    this.until = Math.max(this.until, until);
  }
}
