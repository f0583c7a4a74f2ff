// The pacer: a token bucket that spaces create-call requests to the provider's calls per second.
// Up to 50 ms worth of calls may go out back to back (at least one), so high rates are not
// throttled by timer granularity while a 1 CPS account still gets one call per second.
// Pure: the caller passes the clock's reading.

export class Pacer {
  /** Time between two sends at the steady rate. */
  readonly intervalMs: number;
  /** How far behind the clock the bucket may fall (the burst). */
  private readonly slackMs: number;
  /** The earliest time the next request may go out. */
  nextSendAt: number;

  constructor(callsPerSecond: number, startMs: number) {
    this.intervalMs = 1000 / callsPerSecond;
    const burst = Math.max(1, Math.floor(callsPerSecond / 20));
    this.slackMs = (burst - 1) * this.intervalMs;
    this.nextSendAt = startMs;
  }

  /** The claim window: the dispatcher claims only what can be sent within it, so nothing claimed waits long. */
  get horizonMs(): number {
    return Math.max(200, this.intervalMs);
  }

  /** True when the next send is further away than the claim window (the dispatcher sleeps instead of claiming). */
  isAheadOf(t: number): boolean {
    return this.nextSendAt > t + this.horizonMs;
  }

  /** How long to sleep from t before claiming again, when isAheadOf(t). */
  sleepBeforeClaimMs(t: number): number {
    return this.nextSendAt - t - this.horizonMs / 2;
  }

  /** How many requests can go out between t and the end of the claim window (at least one). */
  sendableAt(t: number): number {
    return Math.max(1, Math.floor((t + this.horizonMs - Math.max(this.nextSendAt, t)) / this.intervalMs));
  }

  /** Milliseconds from t until the next request may go (zero or less: now). */
  waitMs(t: number): number {
    return this.nextSendAt - t;
  }

  /** Takes one token at time t (after waiting waitMs). */
  take(t: number): void {
    this.nextSendAt = Math.max(this.nextSendAt, t - this.slackMs) + this.intervalMs;
  }

  /** Nothing goes out before `until` (the provider rate-limited us). */
  holdUntil(until: number): void {
    this.nextSendAt = Math.max(this.nextSendAt, until);
  }
}
