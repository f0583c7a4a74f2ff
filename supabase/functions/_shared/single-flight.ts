// Single-flight for the tick: at most one dispatcher at a time. Today a session advisory lock held
// on one pooled connection for the whole tick; the dispatch lease (scheduler_leases, see
// lease.ts) replaces it here, and only here.

import { coerceError } from './errors.ts';
import type { PooledClient, SqlPool } from './db.ts';
import { advisoryUnlock, tryAdvisoryLock } from './queries.ts';

/** Lock key for the single-flight dispatcher (session-level, released when the connection ends). */
export const DISPATCH_LOCK_KEY = 7345123002;

export interface SingleFlight {
  /** The fencing token writes carry while the turn is held (null: the advisory lock has none). */
  readonly token: string | null;
  /** Gives the turn back (never throws: a failed release drops the connection, and the lock with it). */
  release(): Promise<void>;
}

/** Takes the dispatcher's turn; null when another tick holds it. Throws when the database cannot answer. */
export async function acquireSingleFlight(pool: SqlPool): Promise<SingleFlight | null> {
  const client: PooledClient = await pool.connect();
  let held: boolean;
  try {
    held = await tryAdvisoryLock(client, DISPATCH_LOCK_KEY);
  } catch (err) {
    client.release(coerceError(err));
    throw err;
  }
  if (!held) {
    client.release();
    return null;
  }
  return {
    token: null,
    release: async () => {
      let broken: Error | undefined;
      try {
        await advisoryUnlock(client, DISPATCH_LOCK_KEY);
      } catch (err) {
        broken = coerceError(err); // drop the connection: the lock goes with it
      }
      client.release(broken);
    },
  };
}
