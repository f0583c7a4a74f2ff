// The breaker gates: what each provider account's circuit breaker lets the dispatcher do. The
// claim already skips the calls of an account whose breaker is open or probing
// (_account_dispatch_blocked); for the calls it hands out, the gate of their account asks the
// database for a permit the first time (closed: send; probe: this one call, whose answer decides;
// open: nothing) and follows the breaker state the recorded answers report, so an account's calls
// stop as soon as its breaker opens while the other accounts go on. The transitions themselves live
// in the database (acquire_dispatch_permit, record_dispatch_results).

import type { DispatchPermit } from '../queries.ts';

export type Admission = { send: true; probe: boolean } | { send: false; reason: string };

interface AccountGate {
  /** What the last permit said (null: not asked yet in this dispatch). */
  mode: DispatchPermit | null;
  /** The breaker's state as last seen (closed, open, half_open). */
  state: string | null;
  probeInFlight: boolean;
}

const RANK: Record<string, number> = { open: 0, half_open: 1, closed: 2 };

export class BreakerGates {
  private readonly gates = new Map<string, AccountGate>();
  /** The accounts whose opening was reported (once each: answers recorded in parallel batches may report open, closed, open). */
  private readonly reported = new Set<string>();

  constructor(
    private readonly acquire: (account: string) => Promise<DispatchPermit>,
    /** Called once per account when an answer opens its breaker. */
    private readonly onOpen: (account: string, reason: string | null) => void,
  ) {}

  private gate(account: string): AccountGate {
    let g = this.gates.get(account);
    if (!g) {
      g = { mode: null, state: null, probeInFlight: false };
      this.gates.set(account, g);
    }
    return g;
  }

  /** May a claimed call of `account` go out now? */
  async admit(account: string): Promise<Admission> {
    const g = this.gate(account);
    if (g.state === 'open') return { send: false, reason: 'not sent: circuit breaker opened' };
    if (g.mode === null) {
      g.mode = await this.acquire(account);
      g.state ??= g.mode === 'probe' ? 'half_open' : g.mode;
    }
    if (g.mode === 'closed') return { send: true, probe: false };
    if (g.mode === 'probe' && !g.probeInFlight) {
      g.probeInFlight = true;
      return { send: true, probe: true };
    }
    return {
      send: false,
      reason: g.mode === 'probe' ? 'not sent: a circuit breaker probe is in flight' : 'not sent: circuit breaker open',
    };
  }

  /** Follows the state a recorded answer of `account` reports. */
  note(account: string, state: string | null, reason: string | null): void {
    const g = this.gate(account);
    if (state === 'open' && g.state !== 'open' && !this.reported.has(account)) {
      this.reported.add(account);
      this.onOpen(account, reason);
    }
    g.state = state;
    g.probeInFlight = false;
    // After a probe: closed means go on; open means this account sends nothing more.
    if (state === 'closed') g.mode = 'closed';
    if (state === 'open') g.mode = 'open';
  }

  /** True once an answer reported the account's breaker open: its calls claimed meanwhile are put back. */
  opened(account: string): boolean {
    return this.gates.get(account)?.state === 'open';
  }

  /** True while a probe's answer is awaited (it is recorded at once). */
  get probing(): boolean {
    for (const g of this.gates.values()) if (g.probeInFlight) return true;
    return false;
  }

  /** The worst breaker state seen over the accounts (for the run row), or null. */
  get state(): string | null {
    let worst: string | null = null;
    for (const g of this.gates.values()) {
      if (g.state !== null && (worst === null || (RANK[g.state] ?? 3) < (RANK[worst] ?? 3))) worst = g.state;
    }
    return worst;
  }
}
