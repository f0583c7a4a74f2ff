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
  return pool as unknown as SqlPool & { end(): Promise<void> };
}
