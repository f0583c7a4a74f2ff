// A node-postgres pool, the same under Node and Deno (npm:pg).

import pg from 'pg';
import type { SqlPool } from './db.ts';

export function createPool(connectionString: string, max: number): SqlPool & { end(): Promise<void> } {
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 5_000,
    application_name: 'campaign-scheduler',
  });
  // An idle client's error (server restart) must not crash the process.
  pool.on('error', () => undefined);
  // Nor may a checked-out client's: the pool only listens for errors on idle clients, and a client
  // with no 'error' listener throws when its backend goes away (pg_terminate_backend, a restart, a
  // dropped link), which killed the whole functions process with the tick's dispatcher lock client.
  // The query in flight, if any, still rejects; the client is discarded when it is released broken.
  pool.on('connect', (client: { on(event: 'error', listener: (err: Error) => void): unknown }) => {
    client.on('error', () => undefined);
  });
  return pool as unknown as SqlPool & { end(): Promise<void> };
}
