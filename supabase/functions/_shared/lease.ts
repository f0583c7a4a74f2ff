// Leases (public.scheduler_leases): leadership that survives a transaction-mode pooler. A lease
// is a row with an owner, an expiry and a fencing token, taken, renewed and released in short
// transactions of their own (one statement each), so nothing depends on which server connection
// the pooler hands out. A holder that crashes simply lets its lease expire; a holder that lost its
// lease (expired while it still worked) is refused by the writes its token guards
// (claim_queued_calls' p_lease_token raises SL001).

import type { SqlClient } from './db.ts';
import { acquireLease, type LeaseState, releaseLease, renewLease } from './queries.ts';
import type { Logger } from './log.ts';

export { acquireLease, type LeaseState, releaseLease, renewLease };

/** The background dispatcher's lease: the newest tick takes it over when its own part is done. */
export const DISPATCH_LEASE = 'dispatch';
/** SQLSTATE raised by a write guarded by a lease token that no longer holds the lease. */
export const LEASE_LOST_SQLSTATE = 'SL001';
/** How long a lease outlives the tick budget (a crashed holder blocks dispatch at most this long after its budget). */
export const LEASE_GRACE_MS = 5000;

/** A lease outlives the tick budget: it is renewed while dispatch runs, and a crash costs at most one TTL. */
export function dispatchLeaseTtlMs(tickBudgetMs: number): number {
  return tickBudgetMs + LEASE_GRACE_MS;
}

/** Heartbeats come three times per TTL, so one late heartbeat does not lose the lease. */
export function heartbeatMs(ttlMs: number): number {
  return Math.max(50, Math.floor(ttlMs / 3));
}

/** One identifier per isolate (process), part of every holder name: who holds a lease, in Studio. */
export const INSTANCE_ID: string = crypto.randomUUID().slice(0, 8);

/** True for the error a lease-guarded write raises once its token no longer holds the lease. */
export function isLeaseLost(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === LEASE_LOST_SQLSTATE;
}

export interface HeldLease {
  readonly name: string;
  readonly token: string;
  /** Set once a heartbeat found the lease gone; the guarded writes refuse from then on anyway. */
  readonly lost: boolean;
  /** Stops the heartbeat and releases the lease (unless lost). Never throws. */
  release(): Promise<void>;
}

export interface HoldLeaseOptions {
  name: string;
  holder: string;
  ttlMs: number;
  /** Take it even from a live holder (whose next guarded write is then refused). */
  takeOver?: boolean;
  now: () => number;
  log: Logger;
  /** Logged with every lease event. */
  context?: Record<string, unknown>;
}

/**
 * Takes a lease and keeps it renewed (a heartbeat every ttl/3) until release(). Resolves with the
 * held lease, or with the current holder's state when someone else holds it.
 */
export async function holdLease(
  db: SqlClient,
  opts: HoldLeaseOptions,
): Promise<{ held: HeldLease } | { held: null; state: LeaseState }> {
  const state = await acquireLease(db, opts.name, opts.holder, opts.ttlMs, new Date(opts.now()), opts.takeOver ?? false);
  if (!state.acquired || state.token === null) return { held: null, state };
  const token = state.token;
  let lost = false;
  let stopped = false;
  let beating: Promise<void> = Promise.resolve();

  const beat = async (): Promise<void> => {
    try {
      if (!(await renewLease(db, opts.name, token, opts.ttlMs, new Date(opts.now())))) {
        lost = true;
        opts.log.warn('lease_lost', { ...opts.context, lease: opts.name, token, holder: opts.holder });
      }
    } catch (err) {
      // A dropped connection: the next heartbeat tries again; the lease lasts a whole TTL.
      opts.log.warn('lease_renew_failed', {
        ...opts.context,
        lease: opts.name,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  };
  const timer = setInterval(() => {
    if (stopped || lost) return;
    beating = beating.then(beat);
  }, heartbeatMs(opts.ttlMs));

  const held: HeldLease = {
    name: opts.name,
    token,
    get lost() {
      return lost;
    },
    release: async () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await beating;
      if (lost) return;
      try {
        await releaseLease(db, opts.name, token);
      } catch (err) {
        // Not released: it expires after its TTL.
        opts.log.warn('lease_release_failed', {
          ...opts.context,
          lease: opts.name,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    },
  };
  return { held };
}
