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
 * How far ahead a claim takes send slots: at least a second, and at least two slots at the
 * default rate, so a claim made right after a send still finds the next slot.
 */
export function claimHorizonMs(callsPerSecond: number, rateMarginMs: number): number {
  return Math.max(1000, Math.ceil(2 * slotIntervalMs(callsPerSecond, rateMarginMs)));
}

/** Nothing goes out before `until` (the provider rate-limited us). */
export class RateHold {
  until = 0;

  holdUntil(until: number): void {
    this.until = Math.max(this.until, until);
  }
}
