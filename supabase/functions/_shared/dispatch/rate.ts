// The provider's rate, as the dispatcher sees it. The bucket itself is in the database
// (provider_accounts.next_send_at, handed out by claim_queued_calls as each call's send slot), shared
// by every dispatcher; this module keeps only what one dispatcher learns on its own: a provider's 429
// (Retry-After) holds it back at once, before the answer is recorded (which also holds the bucket
// back for everyone), and the claim horizon.

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
