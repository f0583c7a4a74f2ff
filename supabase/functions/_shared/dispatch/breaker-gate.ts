// The breaker gate: what the provider's circuit breaker lets the dispatcher do. It asks the
// database for a permit (closed: send; probe: one call, then ask again; open: nothing), and follows
// the breaker state the recorded answers report, so dispatch stops as soon as the breaker opens.
// The transitions themselves live in the database (acquire_dispatch_permit, record_dispatch_results).

import type { DispatchPermit } from '../queries.ts';

export class BreakerGate {
  /** What the last permit said. */
  mode: DispatchPermit = 'open';
  /** The breaker's state as last seen (closed, open, half_open), for the run row. */
  state: string | null = null;
  /** True once an answer reported the breaker open: stop sending. */
  opened = false;
  private asked = false;

  constructor(
    private readonly acquire: () => Promise<DispatchPermit>,
    /** Called once when an answer opens the breaker. */
    private readonly onOpen: (reason: string | null) => void,
  ) {}

  /** Asks for a permit. The first one also sets the state (a probe means half open). */
  async permit(): Promise<DispatchPermit> {
    this.mode = await this.acquire();
    if (!this.asked) this.state = this.mode === 'probe' ? 'half_open' : this.mode;
    this.asked = true;
    return this.mode;
  }

  get probing(): boolean {
    return this.mode === 'probe';
  }

  /** Requests allowed out at once: one while probing. */
  concurrency(limit: number): number {
    return this.probing ? 1 : limit;
  }

  /** Follows the state a recorded answer reports. */
  note(state: string | null, reason: string | null): void {
    if (state === 'open' && this.state !== 'open') this.onOpen(reason);
    this.state = state;
    if (state === 'open') this.opened = true;
  }
}
