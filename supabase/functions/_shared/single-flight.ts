// Single-flight for the tick: at most one dispatcher at a time. The 'dispatch' lease
// (public.scheduler_leases, see lease.ts): a row with an owner, an expiry and a fencing token,
// taken, renewed (heartbeat) and released in short transactions of their own, so it holds through
// a transaction-mode pooler (Supabase's port 6543, PgBouncer). A crashed holder's lease expires.

import type { SqlPool } from './db.ts';
import type { Logger } from './log.ts';
import { DISPATCH_LEASE, dispatchLeaseTtlMs, holdLease, INSTANCE_ID } from './lease.ts';

export interface SingleFlight {
  /** The lease's fencing token: claim_queued_calls(..., p_lease_token) refuses (SL001) once it is lost. */
  token: string;
  /** Gives the turn back (never throws: an unreleased lease expires after its TTL). */
  release(): Promise<void>;
}

/**
 * Takes the dispatcher's turn for a tick of budgetMs; null when another tick holds it (its holder
 * is logged). Throws when the database cannot answer.
 */
export async function acquireSingleFlight(
  pool: SqlPool,
  opts: { runId: string; budgetMs: number; now: () => number; log: Logger },
): Promise<SingleFlight | null> {
  const taken = await holdLease(pool, {
    name: DISPATCH_LEASE,
    holder: `run ${opts.runId} (${INSTANCE_ID})`,
    ttlMs: dispatchLeaseTtlMs(opts.budgetMs),
    now: opts.now,
    log: opts.log,
    context: { run_id: opts.runId },
  });
  if (taken.held === null) {
    opts.log.info('dispatch_lease_held', { run_id: opts.runId, lease_holder: taken.state.holder });
    return null;
  }
  const lease = taken.held;
  return { token: lease.token, release: () => lease.release() };
}
